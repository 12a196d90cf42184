"""Casefile: an evidence vault and case-building tool for international justice."""

from __future__ import annotations

from typing import TYPE_CHECKING

# Nothing heavy at import: every `casefile.*` module runs this file first, and a command
# that does not build the app (or not yet: `casefile bundle` starts its layout helpers
# before, casefile/cli.py) should not pay for Flask and the rest.
if TYPE_CHECKING:
    from flask import Flask

    from casefile.db import Database
    from casefile.settings import Settings


def create_app(
    settings: Settings | None = None, *, database: Database | None = None, http: bool = True
) -> Flask:
    """Build the app. Settings are validated here: unsafe ones stop the start. `http=False`:
    without the web pages, the API, uploads, health and error handlers (their imports are
    ~0.2 s of CPU), for a command that serves no request (`casefile bundle`)."""
    from flask import Flask  # noqa: PLC0415
    from werkzeug.middleware.proxy_fix import ProxyFix  # noqa: PLC0415

    from casefile.db import Database  # noqa: PLC0415
    from casefile.logic.custody import checkpoints as custody_checkpoints  # noqa: PLC0415
    from casefile.server import bodies_end_at_content_length  # noqa: PLC0415
    from casefile.settings import load_settings  # noqa: PLC0415
    from casefile.vault import signing_key  # noqa: PLC0415
    from casefile.vault.blobstore import open_store  # noqa: PLC0415
    from casefile.vault.envelope import KeyringSource  # noqa: PLC0415

    settings = settings or load_settings()
    settings.validate()

    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        static_folder="web/static",
        template_folder="web/templates",
    )
    app.config.update(_flask_config(settings))
    app.extensions["casefile.settings"] = settings
    database = database or Database.from_url(
        settings.database_url, lock_timeout_ms=settings.lock_timeout_ms
    )
    app.extensions["casefile.db"] = database
    private_key = signing_key.load(settings.signing_key_path)
    keys = (
        custody_checkpoints.CustodyKeys(settings.custody_origin, private_key)
        if private_key
        else None
    )
    app.extensions["casefile.custody_keys"] = keys
    info: dict[str, object] = {}
    custody_checkpoints.bind(
        info,
        keys,
        custody_checkpoints.CheckpointPolicy(
            settings.checkpoint_every_entries, settings.checkpoint_every_minutes
        ),
    )
    database.sessions.configure(info=info)
    app.extensions["casefile.keyring"] = KeyringSource(
        text=settings.kek_text, path=settings.kek_path
    )
    app.extensions["casefile.blobs"] = open_store(settings.storage_url, settings)
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.proxy_hops,
            x_proto=settings.proxy_hops,
            x_host=settings.proxy_hops,
        )
    # Under any WSGI server (`casefile serve`, or gunicorn run on wsgi.py): a body cut short of
    # its Content-Length is a client that went away, not a shorter body.
    app.wsgi_app = bodies_end_at_content_length(app.wsgi_app)  # type: ignore[method-assign]

    from casefile import jobs  # noqa: PLC0415 - blueprints import the app

    jobs.init_app(app, settings)
    if not http:
        return app

    from casefile import api, errors, health, uploads, web  # noqa: PLC0415 - as jobs

    uploads.init_app(app)
    web.init_app(app)
    api.init_app(app)
    health.init_app(app)
    errors.init_app(app)
    return app


def _flask_config(settings: Settings) -> dict[str, object]:
    return {
        "SECRET_KEY": settings.secret_key,
        "TESTING": settings.testing,
        "SESSION_COOKIE_NAME": "casefile_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.https,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": settings.https,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "MAX_CONTENT_LENGTH": settings.max_request_mb * 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": settings.max_request_mb * 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        # Flask-WTF's strict https check needs a Referer header, which Referrer-Policy
        # no-referrer withholds; the session-bound CSRF token and SameSite cookies remain.
        "WTF_CSRF_SSL_STRICT": False,
        "BABEL_DEFAULT_LOCALE": settings.default_language,
        "JSON_SORT_KEYS": False,
        "PREFERRED_URL_SCHEME": "https" if settings.https else "http",
    }
