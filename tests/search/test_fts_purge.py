"""SQLite's FTS5 keeps a deleted document's terms in its segments until they are merged: after
an item is restricted or deleted, its terms must be gone from `search_fts_data` once the
change commits (the index is optimized in the same transaction), and the connection zeroes
freed pages (`secure_delete`). PostgreSQL keeps dead rows until VACUUM (docs/deploy.md)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from casefile import request_scope
from casefile.logic.evidence import deletion
from casefile.logic.evidence.deletion import DeletionInput
from tests.search import test_search_api
from tests.search.test_search_api import find, ids
from tests.search.test_search_restriction import restrict

_cheap_hashes, world = test_search_api._cheap_hashes, test_search_api.world
NEEDLE = "zyxquorumvelt"  # stored as "wzyxquorumvelt": its tail is in the segment verbatim


@pytest.fixture
def sqlite_only(world):
    if world.session.get_bind().dialect.name != "sqlite":
        pytest.skip("FTS5 is SQLite's")


def in_fts_segments(session, needle: str) -> bool:
    blobs = session.execute(text("SELECT block FROM search_fts_data")).scalars()
    return any(needle[3:].encode() in bytes(block or b"") for block in blobs)


@pytest.mark.usefixtures("sqlite_only")
def test_secure_delete_is_on(world):
    assert world.session.execute(text("PRAGMA secure_delete")).scalar() == 1


@pytest.mark.usefixtures("sqlite_only")
def test_restricting_an_item_purges_its_terms_from_the_fts_segments(world):
    item = world.add(title=f"Witness {NEEDLE}")
    for number in range(3):
        world.add(title=f"Other item {number}")
    assert ids(find(world, world.viewer, NEEDLE)) == [item["id"]]
    assert in_fts_segments(world.session, NEEDLE)  # the check can see a term
    restrict(world, item["id"])
    world.session.expire_all()
    assert find(world, world.viewer, NEEDLE)["results"] == []
    assert not in_fts_segments(world.session, NEEDLE)


@pytest.mark.usefixtures("sqlite_only")
def test_deleting_an_item_purges_its_terms_from_the_fts_segments(world):
    item = world.add(title=f"Witness {NEEDLE}")
    world.add(title="Other item")
    assert in_fts_segments(world.session, NEEDLE)
    deletion.delete_item(world.session, world.users.lead, uuid.UUID(item["id"]),
                         DeletionInput(reason="duplicate"),
                         store=request_scope.blobs(world.client.application))
    world.session.expire_all()
    assert not in_fts_segments(world.session, NEEDLE)
