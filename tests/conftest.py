"""Every database test runs twice: on SQLite and on PostgreSQL.

The schema is built once per backend with `alembic upgrade head`; each test runs inside a
transaction on one connection, with sessions joining it through savepoints, and is rolled
back at the end. The PostgreSQL leg runs when CASEFILE_TEST_POSTGRES_URL is set (CI always
sets it); it then fails, never skips, if the server cannot be reached.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from casefile import create_app, schema
from casefile.db import Database, make_engine
from casefile.logic.accounts import accounts
from casefile.settings import PROJECT_ROOT, Settings
from tests.factories import make_settings

pytest_plugins = ("tests.stores",)  # blob store fixtures: the local folder and S3 (moto)

POSTGRES_ENV = "CASEFILE_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgresql")


def pytest_report_header() -> str:
    if os.environ.get(POSTGRES_ENV):
        return f"PostgreSQL leg: ON ({POSTGRES_ENV} is set)"
    return (
        f"PostgreSQL leg: OFF ({POSTGRES_ENV} is not set; database tests run on SQLite only "
        "and their PostgreSQL variants are reported as skipped)"
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the translation catalogues the app serves (the .mo files are build output)."""
    del session
    for po_path in (PROJECT_ROOT / "casefile" / "translations").glob("*/LC_MESSAGES/*.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as source:
            catalog = read_po(source)
        with mo_path.open("wb") as target:
            write_mo(target, catalog)


# --- databases ------------------------------------------------------------------------------


def _postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL leg off: set {POSTGRES_ENV} to run it")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def create_database(backend: str, folder: Path) -> Iterator[str]:
    """A new, empty database at the latest schema; dropped afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / f'casefile-{secrets.token_hex(4)}.sqlite3'}"
        engine = make_engine(url)
        with engine.begin() as connection:
            schema.upgrade(connection)
        engine.dispose()
        yield url
        return
    admin_url = make_url(_postgres_admin_url())
    name = f"casefile_test_{secrets.token_hex(6)}"
    admin = make_engine(admin_url.render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 - any failure here must stop the run, loudly
        pytest.fail(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {error}", pytrace=False)
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    with engine.begin() as connection:
        schema.upgrade(connection)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from create_database(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture
def fresh_database_url(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[str]:
    """A database of its own, for tests that need real commits across connections."""
    del request
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    yield from create_database(backend, tmp_path)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def database(engine: Engine, connection: Connection) -> Database:
    sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    return Database(engine=engine, sessions=sessions)


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.sessions() as session:
        yield session


# --- passwords --------------------------------------------------------------------------------

_HASHES: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _hash_each_password_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id costs ~0.1-0.3 s a hash here: each distinct password is hashed once per run
    (with the real parameters) and the hash reused. Verification stays real."""
    real = accounts.hash_password

    def cached(password: str) -> str:
        if password not in _HASHES:
            _HASHES[password] = real(password)
        return _HASHES[password]

    monkeypatch.setattr(accounts, "hash_password", cached)


# --- the app --------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def app(settings: Settings, database: Database) -> Flask:
    return create_app(settings, database=database)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
