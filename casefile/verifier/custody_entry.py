"""The canonical byte encoding of a custody entry, the input of its Merkle leaf hash.

An entry is the JSON object

    {"action": str, "actor": {"id": str|null, "label": str}, "case": str|null,
     "details": object, "item": str|null, "seq": int, "time": str}

serialised canonically: keys sorted, no whitespace, UTF-8, strings escaped as JSON requires
and nothing more (non-ASCII characters as themselves), integers in decimal, no floats. For
these value types this is exactly RFC 8785 (JSON Canonicalization Scheme). Ids are lower-case
UUID strings; time is UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. The leaf hash is
SHA-256(0x00 || bytes). docs/custody.md shows how to recompute it by hand.

Standard library only: this module ships inside court bundles.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class EncodingError(ValueError):
    """A value that has no canonical encoding here (floats, non-string keys...)."""


def _ensure_encodable(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        raise EncodingError(f"{where}: floats have no canonical form here; use a string")
    if isinstance(value, list | tuple):
        for position, element in enumerate(value):
            _ensure_encodable(element, f"{where}[{position}]")
        return
    if isinstance(value, Mapping):
        for key, element in value.items():
            if not isinstance(key, str):
                raise EncodingError(f"{where}: object keys must be strings")
            _ensure_encodable(element, f"{where}.{key}")
        return
    raise EncodingError(f"{where}: {type(value).__name__} is not a JSON value")


def canonical_json(value: Any) -> str:
    _ensure_encodable(value, "details")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def format_time(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise EncodingError("custody times must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime(TIME_FORMAT)


def entry_bytes(
    *,
    seq: int,
    time: str,
    actor_id: str | None,
    actor_label: str,
    action: str,
    case_id: str | None,
    item_id: str | None,
    details_json: str,
) -> bytes:
    """`details_json` must already be canonical (canonical_json); it is embedded verbatim, so
    the bytes hashed are the bytes stored."""
    dump = json.dumps
    text = (
        f'{{"action":{dump(action, ensure_ascii=False)},'
        f'"actor":{{"id":{dump(actor_id)},"label":{dump(actor_label, ensure_ascii=False)}}},'
        f'"case":{dump(case_id)},"details":{details_json},"item":{dump(item_id)},'
        f'"seq":{int(seq)},"time":{dump(time)}}}'
    )
    return text.encode("utf-8")


def entry_bytes_from_json(entry: Mapping[str, Any]) -> bytes:
    """The canonical bytes of an entry given as exported JSON (the same field names)."""
    actor = entry["actor"]
    return entry_bytes(
        seq=entry["seq"],
        time=entry["time"],
        actor_id=actor["id"],
        actor_label=actor["label"],
        action=entry["action"],
        case_id=entry["case"],
        item_id=entry["item"],
        details_json=canonical_json(entry["details"]),
    )
