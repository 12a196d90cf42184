"""Small pieces the HTML views share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from flask import Response
from flask_wtf import FlaskForm
from pydantic import ValidationError

from casefile.logic.errors import ValidationFailed

T = TypeVar("T")


def show_errors(form: FlaskForm, error: ValidationFailed) -> None:
    """Put the logic layer's per-field messages next to the form's fields. A field the form's
    own validators already refused keeps their message only (one problem, said once)."""
    for name, message in error.fields.items():
        field = getattr(form, name.split(".")[0], None)
        if field is not None and hasattr(field, "errors"):
            if not field.errors:
                field.errors = [*list(field.errors), message]
        else:
            form.form_errors.append(f"{name}: {message}")


def has_errors(form: FlaskForm) -> bool:
    return bool(form.form_errors) or any(field.errors for field in form)


def validate_all(form: FlaskForm, parse: Callable[[], T]) -> T | None:
    """Every problem of a submitted form in one round: the form's validators and the logic
    layer's input rules (`parse` builds the logic's input, raising pydantic's ValidationError
    or ValidationFailed), each message on its field. The input if all is well, else None."""
    form.validate()
    try:
        data = parse()
    except ValidationError as error:
        show_errors(form, ValidationFailed.from_pydantic(error))
        return None
    except ValidationFailed as error:
        show_errors(form, error)
        return None
    return None if has_errors(form) else data


def safe_next(target: str | None, default: str) -> str:
    """Only same-site paths, so the login page cannot be used to redirect elsewhere."""
    if not target or any(char == "\\" or ord(char) < 0x20 for char in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def day_bound(value: dt.date | None, *, end: bool = False) -> dt.datetime | None:
    """A date filter as a UTC instant: the start of the day, or of the next day for `end`."""
    if value is None:
        return None
    moment = dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    return moment + dt.timedelta(days=1) if end else moment


def attachment(body: str | bytes, mimetype: str, filename: str) -> Response:
    """A download the browser saves rather than shows."""
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
