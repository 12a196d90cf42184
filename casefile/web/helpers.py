"""Small pieces the HTML views share."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import Response
from flask_wtf import FlaskForm

from casefile.logic.errors import ValidationFailed


def show_errors(form: FlaskForm, error: ValidationFailed) -> None:
    """Put the logic layer's per-field messages next to the form's fields."""
    for name, message in error.fields.items():
        field = getattr(form, name.split(".")[0], None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors), message]
        else:
            form.form_errors.append(f"{name}: {message}")


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
