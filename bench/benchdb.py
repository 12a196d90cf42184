"""Databases for the benchmarks: a SQLite file, or a database of its own on a PostgreSQL server.

Shared by bench/custody_append.py and bench/custody_verify.py (run them from the repository
root with the project's virtualenv; see bench/README.md).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.orm import Session

from casefile import schema
from casefile.db import make_engine, utcnow
from casefile.model import Case, Forum, User

POSTGRES_ENV = "CASEFILE_TEST_POSTGRES_URL"


def postgres_server_url(given: str | None) -> str | None:
    """The server URL from --postgres or $CASEFILE_TEST_POSTGRES_URL, with the psycopg driver."""
    url = given or os.environ.get(POSTGRES_ENV)
    if not url:
        return None
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            schema.upgrade(connection)
    finally:
        engine.dispose()


def postgres_database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _admin(server_url: str, statement: str, **parameters: str) -> bool:
    """Run one statement outside a transaction; returns whether it produced a row."""
    engine = make_engine(server_url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            result = connection.execute(text(statement), parameters)
            return result.returns_rows and result.first() is not None
    finally:
        engine.dispose()


def postgres_database_exists(server_url: str, name: str) -> bool:
    return _admin(server_url, "SELECT 1 FROM pg_database WHERE datname = :name", name=name)


def create_postgres_database(server_url: str, name: str) -> str:
    _admin(server_url, f'CREATE DATABASE "{name}"')
    return postgres_database_url(server_url, name)


def drop_postgres_database(server_url: str, name: str) -> None:
    _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(backend: str, folder: Path, server_url: str | None) -> Iterator[str]:
    """A new database at the latest schema (SQLite: a file in `folder`); dropped afterwards."""
    if backend == "sqlite":
        url = sqlite_url(folder / f"casefile-bench-{secrets.token_hex(4)}.sqlite3")
        migrate(url)
        yield url
        return
    if server_url is None:
        raise ValueError("PostgreSQL needs --postgres URL or $" + POSTGRES_ENV)
    name = f"casefile_bench_{secrets.token_hex(6)}"
    url = create_postgres_database(server_url, name)
    try:
        migrate(url)
        yield url
    finally:
        drop_postgres_database(server_url, name)


def seed_people(session: Session, users: int, cases: int) -> tuple[list[User], list[Case]]:
    """Accounts and cases for entries to refer to (written directly: no custody entries)."""
    people = [
        User(
            email=f"investigator{number}@example.org",
            display_name=f"Investigator {number}",
            password_hash="!bench",  # noqa: S106 - never used to log in
            password_changed_at=utcnow(),
        )
        for number in range(users)
    ]
    session.add_all(people)
    session.flush()
    files = [
        Case(
            title=f"Bench case {number}",
            forum=Forum.ICC,
            reference=f"ICC-01/{number:02d}",
            ern_pattern="MMR-OTP-{batch:04d}-{seq:04d}",
            languages=["en", "my"],
            created_by_id=people[number % users].id,
        )
        for number in range(cases)
    ]
    session.add_all(files)
    session.commit()
    return people, files
