"""A bulk ingest's standard items are made without the ORM's instrumented constructor
(`registration._new_standard_item`): the item must be exactly what `Evidence(**values)` makes,
and the constructor must still be called wherever it would do more than fill the dict."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import event, inspect
from sqlalchemy.orm.attributes import instance_dict

from casefile.logic.evidence import registration
from casefile.model import Evidence, EvidenceStatus, Sensitivity


def values() -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "case_id": uuid.uuid4(),
        "seq": 7,
        "batch": 1,
        "ern": "CF-2026-0007",
        "title": "ဗမာ report ✓",
        "description": None,
        "original_filename": "batch-0000/IMG_00007.bin",
        "declared_mime": None,
        "mime": "application/pdf",
        "size": 4096,
        "sha256": "ab" * 32,
        "declared_hashes": {"md5": "cd" * 16},
        "flags": ["type_mismatch", "type_mismatch:extension"],
        "sensitivity": Sensitivity.STANDARD,
        "status": EvidenceStatus.ACTIVE,
        "collector": {"collected_by": "field team"},
        "extracted": {"pages": 3},
        "extracted_text": None,
        "wrapped_key": b"\x01\x02",
        "created_at": dt.datetime(2026, 12, 8, 0, 30, tzinfo=dt.UTC),
        "created_by_id": None,
        "language": None,
        "derived_from_id": None,
        "derivation": None,
    }


def columns(item: Evidence) -> dict[str, object]:
    return {key: value for key, value in instance_dict(item).items() if key != "_sa_instance_state"}


def test_a_standard_item_is_what_the_constructor_makes():
    given = values()
    made = registration._new_standard_item(dict(given))
    constructed = Evidence(**given)
    assert type(made) is Evidence
    assert columns(made) == columns(constructed) == given
    state = inspect(made)
    assert state.transient and not state.modified
    # What registration reads of it before its row is written, unset columns included.
    assert (made.ern, made.sha256, made.content_id, made.sealed_metadata) == (
        "CF-2026-0007", "ab" * 32, None, constructed.sealed_metadata
    )


def test_the_constructor_is_called_when_an_attribute_has_a_listener():
    registration._plain_construction.cache_clear()
    seen: list[object] = []

    def on_set(target, value, oldvalue, initiator):
        seen.append(value)
        return value

    event.listen(Evidence.title, "set", on_set, retval=True)
    try:
        made = registration._new_standard_item(values())
        assert seen == ["ဗမာ report ✓"]  # the listener ran: the constructor made it
        assert made.title == "ဗမာ report ✓"
    finally:
        event.remove(Evidence.title, "set", on_set)
        registration._plain_construction.cache_clear()
    seen.clear()
    registration._new_standard_item(values())
    assert seen == []


def test_the_constructor_is_called_for_a_key_that_is_not_a_column():
    given = values() | {"no_such_column": 1}
    with pytest.raises(TypeError):
        registration._new_standard_item(given)  # as Evidence(**given) refuses it
