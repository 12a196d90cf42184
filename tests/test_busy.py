"""A busy database (another connection holds the lock a request needs) is answered 503 with
Retry-After and the code `busy`, an HTML page in the web UI, never a 500; nothing is kept of
the refused request. The CLI says so in one line and exits non-zero."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from casefile import create_app
from casefile.cli import main
from casefile.db import Database
from casefile.model import Case
from tests.factories import PASSWORD, bearer, make_user

CASE = {"title": "Rakhine", "forum": "icc", "ern_pattern": "R-{seq:04d}", "languages": ["en"]}


@contextmanager
def lock_held(database_url: str) -> Iterator[None]:
    """Another connection holds the write lock (SQLite) or locks the accounts table."""
    if database_url.startswith("sqlite"):
        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as holder:
        holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        yield
        holder.rollback()


@pytest.fixture
def busy_app(settings, fresh_database_url):
    database = Database.from_url(fresh_database_url, lock_timeout_ms=200)
    with database.sessions() as session:
        user = make_user(session, "lead@example.org")
        token = bearer(session, user)
    app = create_app(settings, database=database)
    yield app, token, database, fresh_database_url
    database.engine.dispose()


def test_a_busy_database_is_503_with_retry_after_and_nothing_is_kept(busy_app):
    app, token, database, url = busy_app
    client = app.test_client()
    with lock_held(url):
        response = client.post("/api/v1/cases", json=CASE, headers=token)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.get_json()["error"]["code"] == "busy"
    assert "again" in response.get_json()["error"]["message"]
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0

    again = client.post("/api/v1/cases", json=CASE, headers=token)  # the lock is gone
    assert again.status_code == 201


def test_the_web_ui_shows_a_busy_page(busy_app):
    app, _, _, url = busy_app
    client = app.test_client()
    page = client.get("/login")
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1]
    form = {
        "csrf_token": token.split('"')[0],
        "email": "lead@example.org",
        "password": PASSWORD,
    }
    with lock_held(url):
        response = client.post("/login", data=form)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.mimetype == "text/html"
    assert "The database is busy" in response.get_data(as_text=True)


def test_the_cli_says_busy_in_one_line(tmp_path, fresh_database_url):
    config = tmp_path / "casefile.toml"
    config.write_text("[database]\nlock_timeout_ms = 200\n")
    env = {
        "CASEFILE_INSTANCE": str(tmp_path / "instance"),
        "CASEFILE_DATABASE_URL": fresh_database_url,
        "CASEFILE_STORAGE_URL": (tmp_path / "storage").as_uri(),
        "CASEFILE_CONFIG": str(config),
    }
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    with lock_held(fresh_database_url):
        result = runner.invoke(
            main,
            ["users", "create", "a@example.org", "--password-stdin"],
            input=PASSWORD + "\n",
            env=env,
        )
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "casefile: the database is busy; send the request again in a moment"
    )
    assert (
        runner.invoke(
            main,
            ["users", "create", "a@example.org", "--password-stdin"],
            input=PASSWORD + "\n",
            env=env,
        ).exit_code
        == 0
    )
