"""Flask-Limiter bound to the app: its storage (memory:// or redis://, from settings) holds
the failure counters that logic/accounts/throttle.py keeps for sign-in, TOTP and bearer tokens."""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from casefile.logic.accounts.throttle import Throttle, ThrottlePolicy
from casefile.settings import Settings

EXTENSION = "casefile.throttle"


def build(settings: Settings) -> tuple[Limiter, Throttle]:
    limiter = Limiter(
        get_remote_address,
        storage_uri=settings.throttle_storage_url,
        strategy="moving-window",  # no burst at a window's edge: the wait is what it says
        headers_enabled=False,
        key_prefix="casefile",
    )
    policy = ThrottlePolicy.parse(
        settings.throttle_account_limits, settings.throttle_client_limits
    )
    return limiter, Throttle(limiter, policy)


def init_app(app: Flask, settings: Settings) -> None:
    """One limiter per app (its memory storage is that app's own)."""
    limiter, throttle = build(settings)
    limiter.init_app(app)
    app.extensions[EXTENSION] = throttle
