"""The search page: one box and filters over the caller's cases, results with their matches
marked, a page at a time (logic/search/)."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from urllib.parse import urlencode

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _

from casefile import request_scope
from casefile.logic import authz
from casefile.logic.authz import CaseAction
from casefile.logic.errors import ValidationFailed
from casefile.logic.pagination import Page
from casefile.logic.search import query
from casefile.logic.search.query import Result
from casefile.model import Case
from casefile.web.forms import SearchForm
from casefile.web.helpers import show_errors
from casefile.web.prg import refused

bp = Blueprint("search", __name__)
PAGE_SIZE = 20


@bp.get("/search")
def search() -> str | tuple[str, int]:
    session, actor = request_scope.db_session(), request_scope.actor()
    form = SearchForm(request.args)
    form.case_id.choices = [("", _("All my cases"))] + [
        (str(case.id), case.title)
        for case in session.scalars(
            authz.visible_cases(actor).order_by(Case.title).with_only_columns(Case)
        )
    ]
    case_id = request.args.get("case_id")
    if case_id:  # another case's id is "not found", whatever else is asked
        with contextlib.suppress(ValueError):  # not an id: refused with the fields below
            authz.authorize_case(session, actor, uuid.UUID(case_id), CaseAction.VIEW)
    if not request.args.get("q"):
        return render_template("search.html", form=form, page=None, asked=False)
    valid = form.validate()
    page: Page[Result] | None = None
    try:
        asked = query.parse_search({name: _text(getattr(form, name).data) for name in FIELDS})
        if valid:
            page = query.search(
                session,
                actor,
                asked.q,
                keyring=request_scope.keyring(),
                case_id=asked.case_id,
                where=asked.filter(),
                limit=PAGE_SIZE,
                cursor=request.args.get("cursor") or None,
            )
    except ValidationFailed as error:
        show_errors(form, error)
        page = None
    if page is None:
        return refused(render_template("search.html", form=form, page=None, asked=True))
    return render_template(
        "search.html", form=form, page=page, asked=True, next_url=_next_url(page.next_cursor)
    )


FIELDS = ("q", *(name for name in query.FILTERS if name != "incident"))


def _text(value: object) -> str | None:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if isinstance(value, str) else None


def _next_url(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    arguments = {name: value for name, value in request.args.items() if name != "cursor"}
    arguments["cursor"] = cursor
    return url_for("web.search.search") + "?" + urlencode(arguments)
