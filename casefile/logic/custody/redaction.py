"""Which custody entries of a case an actor may read, and what the others still show.

An entry concerns an item the actor may not see (authz.hidden_evidence: restricted, no
grant) when it is about that item (its `item`), or when its details mention the item: its
id, ERN or SHA-256 anywhere in them (a transfer whose receipt is the item, a grant, a
deletion, a file submitted again), unless an item the actor sees has that ERN or SHA-256
too (their own copy of the same bytes). Such an entry is shown redacted: its sequence number,
time and leaf hash, nothing else, so that a reader can still check that it is in the signed
log (its leaf hash against the checkpoint, with its inclusion proof) without learning what
it says. See docs/custody.md.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from casefile.logic import authz
from casefile.model import CustodyEntry, Evidence, User
from casefile.verifier.custody_entry import format_time


@dataclass(frozen=True)
class RedactedEntry:
    """What an actor sees of an entry that concerns an item hidden from them."""

    seq: int
    time: dt.datetime
    leaf_hash: bytes
    redacted: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": format_time(self.time),
            "leaf_hash": self.leaf_hash.hex(),
            "redacted": True,
        }


ShownEntry = CustodyEntry | RedactedEntry


@dataclass(frozen=True)
class Hidden:
    """The items of one case that one actor may not see, and how entries name them."""

    ids: frozenset[uuid.UUID]
    mentions: re.Pattern[str] | None  # their ids, ERNs and SHA-256 digests, as whole words

    @classmethod
    def for_case(cls, session: Session, actor: User | None, case_id: uuid.UUID) -> Hidden:
        query = authz.hidden_evidence(session, actor, case_id).with_only_columns(
            Evidence.id, Evidence.ern, Evidence.sha256
        )
        rows = session.execute(query).all()
        ids = frozenset(item_id for item_id, _, _ in rows)
        marks = {text for item_id, ern, sha256 in rows for text in (str(item_id), ern, sha256)}
        if marks:
            # What an item the actor sees also holds is not a mention of a hidden one: the
            # actor's own copy of the same bytes names the same SHA-256, and redacting its
            # entries would tell that a hidden item holds those bytes.
            seen = authz.visible_evidence(session, actor, case_id).with_only_columns(
                Evidence.ern, Evidence.sha256
            )
            marks -= {text for row in session.execute(seen) for text in row}
        if not marks:
            return cls(ids, None)
        alternatives = _alternatives(mark.lower() for mark in marks)
        # No letter or digit on either side, so that ERN "X-1" does not match "X-10".
        mentions = re.compile(
            f"(?<![0-9A-Za-z])(?:{alternatives})(?![0-9A-Za-z])", re.IGNORECASE
        )
        return cls(ids, mentions)

    def conceals(self, entry: CustodyEntry) -> bool:
        """Whether the entry concerns an item hidden from the actor: the one rule for every
        view of case-level entries (API, activity page, item page, JSON and PDF reports)."""
        if entry.item_id in self.ids:
            return True
        if self.mentions is None:
            return False
        return any(self.mentions.search(text) for text in _texts(json.loads(entry.details)))

    def show(self, entry: CustodyEntry) -> ShownEntry:
        if self.conceals(entry):
            return RedactedEntry(entry.seq, entry.time, entry.leaf_hash)
        return entry


def _alternatives(marks: Iterable[str]) -> str:
    """A regular expression matching exactly the given strings, as a trie: each character
    is tried once per position however many marks there are (a plain alternation of
    hundreds of ERNs and digests tries every one at every position)."""
    trie: dict[str, Any] = {}
    for mark in marks:
        node = trie
        for character in mark:
            node = node.setdefault(character, {})
        node[""] = {}  # a mark ends here

    def pattern(node: dict[str, Any]) -> str:
        branches = [re.escape(key) + pattern(child) for key, child in sorted(node.items()) if key]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(trie)


def _texts(value: Any) -> Iterator[str]:
    """Every string in a JSON value: object keys and values, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _texts(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _texts(inner)
