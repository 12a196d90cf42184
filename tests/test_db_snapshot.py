"""Database.snapshot: a long read (custody verify) sees one moment and holds up no writer."""

from __future__ import annotations

import threading

from casefile.db import Database
from casefile.logic.custody import entries as custody_entries
from casefile.logic.custody import log as custody_log
from casefile.model import CustodyAction


def append_one(database):
    with database.session() as session:
        custody_log.append(session, None, CustodyAction.INTEGRITY_CHECKED, details={"n": 1})
        session.commit()


def test_a_snapshot_sees_one_moment_while_writers_go_on(fresh_database_url):
    database = Database.from_url(fresh_database_url)
    try:
        append_one(database)
        with database.snapshot() as reader:
            assert custody_entries.log_size(reader) == 1  # the snapshot is taken here
            writer = threading.Thread(target=append_one, args=(database,))
            writer.start()
            writer.join(timeout=10)
            assert not writer.is_alive(), "an append waited for a reader"
            assert custody_entries.log_size(reader) == 1  # still the same moment
        with database.session() as session:
            assert custody_entries.log_size(session) == 2
    finally:
        database.engine.dispose()
