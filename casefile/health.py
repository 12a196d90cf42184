"""/healthz and /readyz: for load balancers, orchestrators and monitoring.

Both are unauthenticated and cheap, and say nothing secret: no versions, paths, hosts or error
text (a failure's cause goes to the server log). /healthz answers while the process serves
requests at all. /readyz answers 200 only when the instance can do its work: the database
answers a query, the blob store is reachable, and the keys work (the key-encryption key
wraps and unwraps a throwaway data key; the custody signing key is loaded).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from flask import Blueprint, Flask, Response, jsonify
from sqlalchemy import text

from casefile import request_scope
from casefile.vault.blobstore import LocalBlobStore

log = logging.getLogger("casefile")

bp = Blueprint("health", __name__)

OK, FAILED = "ok", "failed"
PROBE_BLOB_ID = "0" * 32  # a well-formed id no item has (ids are random UUIDs)
PROBE_ITEM = b"casefile readiness probe"


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    return _no_store(jsonify({"status": OK}))


def check_database() -> None:
    # A read-only snapshot: no write lock on SQLite, none of PostgreSQL's row locks.
    with request_scope.database().snapshot() as session:
        session.execute(text("SELECT 1")).one()


def check_blob_store() -> None:
    store = request_scope.blobs()
    if isinstance(store, LocalBlobStore):
        root = store.root
        if not root.is_dir() or not os.access(root, os.R_OK | os.W_OK | os.X_OK):
            raise OSError("the storage folder is missing or not readable and writable")
    store.exists(PROBE_BLOB_ID)  # S3: one HEAD request (a 404 is the expected answer)


def check_keys() -> None:
    keyring = request_scope.keyring()
    data_key = keyring.new_data_key(PROBE_ITEM)
    keyring.unwrap(data_key.wrapped, PROBE_ITEM)
    if request_scope.custody_keys() is None:
        raise LookupError("no custody signing key")


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "blob_store": check_blob_store,
    "keys": check_keys,
}


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception:  # any failure means not ready; the cause stays in the server log
            log.warning("readiness check %s failed", name, exc_info=True)
            results[name] = FAILED
        else:
            results[name] = OK
    ready = all(result == OK for result in results.values())
    body = {"status": OK if ready else "unavailable", "checks": results}
    return _no_store(jsonify(body)), 200 if ready else 503


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
