"""Post/Redirect/Get for every HTML form (docs/web-forms.md).

- A successful POST redirects with 303 See Other to a GET page that shows a flashed message
  (`see_other` turns the views' redirects into 303s, so a reload never re-sends the form).
- A refused POST re-renders its page with the errors and the input kept, with status 422
  (`refused`).
- A GET on a URL that only takes POST (a reload after the browser kept the POST's URL, a
  bookmarked button) is sent to the nearest page above it in the path that answers GET,
  the page that holds its form, instead of a bare "405 Method Not Allowed".
"""

from __future__ import annotations

from flask import Flask, current_app, redirect, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wrappers import Response

from casefile import errors

UNPROCESSABLE = 422


def refused(page: str) -> tuple[str, int]:
    """A form page shown again after a refused POST: its errors, the input kept."""
    return page, UNPROCESSABLE


def see_other(response: Response) -> Response:
    if request.method == "POST" and response.status_code == 302:
        response.status_code = 303
    return response


def _answers_get(path: str) -> bool:
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        endpoint, _ = adapter.match(path, method="GET")
    except HTTPException:  # NotFound, MethodNotAllowed, RequestRedirect
        return False
    return str(endpoint).startswith("web.")


def form_page(path: str) -> str | None:
    """The nearest path above `path` (a POST-only page URL) that a browser can GET."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        endpoint, _ = adapter.match(path, method="POST")
    except HTTPException:
        return None
    if not str(endpoint).startswith("web."):
        return None
    parent = path.rstrip("/")
    while parent:
        parent = parent.rsplit("/", 1)[0]
        if _answers_get(parent or "/"):
            return parent or "/"
    return None


def method_not_allowed(error: MethodNotAllowed) -> ResponseReturnValue:
    if request.method in {"GET", "HEAD"}:
        target = form_page(request.path)
        if target is not None:
            return redirect(request.script_root + target, 303)
    return errors.handle_http(error)


def init_app(app: Flask) -> None:
    app.register_error_handler(MethodNotAllowed, method_not_allowed)
