"""What each failure of a dependency is answered with, in the one place that maps errors
(casefile/errors.py, using casefile/failures.py): 503 `unavailable` with Retry-After for a
lost database or an unreachable S3 endpoint, 507 `storage_full` for a full blob store, a
plain 500 for anything else; and the CLI's one line for the same failures."""

from __future__ import annotations

import errno
import sqlite3

import psycopg
import pytest
import redis
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from click.testing import CliRunner
from sqlalchemy.exc import DBAPIError, OperationalError

from casefile import create_app, failures
from casefile.cli import main
from casefile.logic.evidence import scrub
from casefile.vault.blobstore import BlobStoreError
from tests.factories import make_settings


def _wrapped_store_error(cause: Exception) -> BlobStoreError:
    """As the S3 store raises it: `raise BlobStoreError(...) from cause`."""
    error = BlobStoreError("storing blob x failed")
    error.__cause__ = cause
    return error


def _s3_down() -> BlobStoreError:
    return _wrapped_store_error(EndpointConnectionError(endpoint_url="http://s3"))


def _lost_connection() -> OperationalError:
    closed = psycopg.OperationalError("server closed the connection")
    return OperationalError("SELECT 1", {}, closed)


def _invalidated() -> DBAPIError:
    return DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)


def _admin_shutdown() -> OperationalError:
    return OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown("terminating connection"))


CASES = [
    (OSError(errno.ENOSPC, "No space left on device"), failures.STORAGE_FULL),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), failures.STORAGE_FULL),
    (_wrapped_store_error(OSError(errno.ENOSPC, "full")), failures.STORAGE_FULL),
    (_s3_down(), failures.STORAGE_UNAVAILABLE),
    (_wrapped_store_error(ReadTimeoutError(endpoint_url="s3")), failures.STORAGE_UNAVAILABLE),
    (_lost_connection(), failures.DATABASE_UNAVAILABLE),
    (_admin_shutdown(), failures.DATABASE_UNAVAILABLE),
    (_invalidated(), failures.DATABASE_UNAVAILABLE),
    (redis.exceptions.ConnectionError("Error 111 connecting"), failures.THROTTLE_UNAVAILABLE),
    (redis.exceptions.TimeoutError("Timeout reading"), failures.THROTTLE_UNAVAILABLE),
    (redis.exceptions.ResponseError("WRONGTYPE"), None),  # a bug, not an outage
    # Not a dependency failing: bugs, bad data, SQLite's own errors stay 500.
    (OSError(errno.EACCES, "Permission denied"), None),
    (_wrapped_store_error(ValueError("bad part")), None),
    (OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: x")), None),
    (DBAPIError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")), None),
    (ValueError("a bug"), None),
]  # fmt: skip


@pytest.mark.parametrize(("error", "expected"), CASES)
def test_classify(error, expected):
    assert failures.classify(error) is expected


@pytest.fixture
def raising_app(tmp_path, database):
    app = create_app(make_settings(tmp_path), database=database)
    raised: list[BaseException] = []

    def fail():
        raise raised[0]

    app.add_url_rule("/api/v1/test-failure", "api_test_failure", fail)
    app.add_url_rule("/test-failure", "web_test_failure", fail)
    return app, raised


@pytest.mark.parametrize(
    ("error", "status", "code", "retry_after"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), 507, "storage_full", None),
        (_s3_down(), 503, "unavailable", "30"),
        (_lost_connection(), 503, "unavailable", "5"),
        (ValueError("a bug"), 500, "internal_error", None),
    ],
)  # fmt: skip
def test_the_api_answers_each_failure_with_its_status(
    raising_app, error, status, code, retry_after
):
    app, raised = raising_app
    raised.append(error)
    response = app.test_client().get("/api/v1/test-failure")
    assert response.status_code == status
    body = response.get_json()["error"]
    assert body["code"] == code
    assert "No space left" not in body["message"]  # no internals, just what happened
    assert response.headers.get("Retry-After") == retry_after


def test_the_web_pages_say_it_too(raising_app):
    app, raised = raising_app
    raised.append(OSError(errno.ENOSPC, "No space left on device"))
    response = app.test_client().get("/test-failure")
    assert response.status_code == 507
    assert "out of space" in response.get_data(as_text=True)
    raised[0] = _lost_connection()
    response = app.test_client().get("/test-failure")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), failures.STORAGE_FULL.message),
        (_s3_down(), failures.STORAGE_UNAVAILABLE.message),
        (_lost_connection(), failures.DATABASE_UNAVAILABLE.message),
    ],
)  # fmt: skip
def test_the_cli_says_it_in_one_line(tmp_path, fresh_database_url, monkeypatch, error, line):
    env = {
        "CASEFILE_INSTANCE": str(tmp_path / "instance"),
        "CASEFILE_DATABASE_URL": fresh_database_url,
        "CASEFILE_STORAGE_URL": (tmp_path / "storage").as_uri(),
        "CASEFILE_CONFIG": "",
    }
    assert CliRunner().invoke(main, ["init"], env=env).exit_code == 0

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(scrub, "scrub", fail)
    result = CliRunner().invoke(main, ["scrub"], env=env)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == f"casefile: {line}"
