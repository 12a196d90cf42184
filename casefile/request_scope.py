"""What one HTTP request works with: its database session, its actor, its client address.
Shared by the web UI and the API so both resolve these the same way."""

from __future__ import annotations

import logging
from typing import cast

from flask import Flask, current_app, g, has_request_context, request
from flask_login import current_user
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from casefile import failures, throttling
from casefile.db import Database
from casefile.logic.accounts.throttle import Throttle
from casefile.logic.custody.checkpoints import CustodyKeys
from casefile.model import LoginSession, User
from casefile.settings import Settings
from casefile.vault.blobstore import BlobStore
from casefile.vault.envelope import Keyring, KeyringSource

log = logging.getLogger("casefile")
READ_METHODS = frozenset({"GET", "HEAD"})


def database(app: Flask | None = None) -> Database:
    return cast(Database, (app or current_app).extensions["casefile.db"])


def settings(app: Flask | None = None) -> Settings:
    return cast(Settings, (app or current_app).extensions["casefile.settings"])


def custody_keys(app: Flask | None = None) -> CustodyKeys | None:
    return cast("CustodyKeys | None", (app or current_app).extensions["casefile.custody_keys"])


def keyring(app: Flask | None = None) -> Keyring:
    """The key-encryption key as it is now (reloaded after `casefile keys rotate`)."""
    return cast(KeyringSource, (app or current_app).extensions["casefile.keyring"]).get()


def throttle(app: Flask | None = None) -> Throttle:
    """The failure counters for sign-in, TOTP codes and bearer tokens."""
    return cast(Throttle, (app or current_app).extensions["casefile.throttle"])


def login_session() -> LoginSession | None:
    """The server-side record of this request's browser session, if signed in by cookie."""
    return cast("LoginSession | None", g.get("login_session"))


def blobs(app: Flask | None = None) -> BlobStore:
    return cast(BlobStore, (app or current_app).extensions["casefile.blobs"])


def db_session() -> Session:
    """One session per request, closed (and rolled back if uncommitted) at teardown. A GET
    or HEAD request's reads first (SQLite: deferred transactions, no wait for the write
    lock); what it writes (a download's custody entry) is preceded by db.begin_writing."""
    if "db_session" not in g:
        db = database()
        session = db.sessions()
        if has_request_context() and request.method in READ_METHODS:
            db.reads_first(session)
        g.db_session = session
    return cast(Session, g.db_session)


def end_transaction() -> None:
    """End the request's open transaction, if any, before waiting on the client (see
    casefile.request_body): committed, so that what it loaded stays usable."""
    session = g.get("db_session")
    if session is not None and session.in_transaction():
        session.commit()


def close_db_session(_error: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        session.close()
    except DBAPIError as error:
        # The rollback of a transaction whose connection died with it (the database
        # restarted): the server ended that transaction already, and the answer was made.
        # Drop the connection instead of turning a finished request into a 500.
        if failures.classify(error) is not failures.DATABASE_UNAVAILABLE:
            raise
        log.warning("closing a request's session: the database connection was lost: %s", error)
        session.invalidate()


def actor() -> User | None:
    """The signed-in account (bearer token or session), or None."""
    api_user = g.get("api_user")
    if api_user is not None:
        return cast(User, api_user)
    if current_user.is_authenticated:
        return cast(User, current_user._get_current_object())  # noqa: SLF001
    return None


def client_address() -> str | None:
    return request.remote_addr


def init_app(app: Flask) -> None:
    throttling.init_app(app, settings(app))
    app.teardown_appcontext(close_db_session)
