"""The security log cannot be rewritten, even with raw SQL against the database."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.factories import make_user


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE security_events SET client_address = '10.0.0.1'",
        "DELETE FROM security_events",
    ],
)
def test_raw_update_and_delete_are_refused(connection, session, statement):
    make_user(session, "someone@example.org")
    savepoint = connection.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text(statement))
    savepoint.rollback()
    count = connection.execute(text("SELECT count(*) FROM security_events")).scalar_one()
    assert count == 1
