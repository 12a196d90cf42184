"""The evidence list, as filtered, as CSV: one row per item the caller may see (restricted
ones only with a grant, their sealed metadata opened for that caller), in ERN order. UTF-8
with a byte order mark, so that Excel shows Burmese; every cell that a spreadsheet would read
as a formula (starting with = + - @, a tab or a carriage return) is prefixed with an
apostrophe (OWASP's advice for CSV injection), so it is shown as text, never evaluated.

Exporting the list writes no custody entry: it holds the items' metadata (what the list
page shows), not their content, and reading metadata is not recorded anywhere else either."""

from __future__ import annotations

import csv
import io
import uuid

from sqlalchemy.orm import Session

from casefile.logic import authz
from casefile.logic.evidence import listing, metadata
from casefile.logic.tags import tagging
from casefile.model import Evidence, User
from casefile.vault.envelope import Keyring

BOM = "\ufeff"
HEADER = (
    "ERN",
    "title",
    "received",
    "collected_at",
    "type",
    "size",
    "sha256",
    "tags",
    "sensitivity",
    "flags",
    "status",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 200


def safe_cell(value: object) -> str:
    """A cell as text a spreadsheet shows and never evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _row(item: Evidence, described: metadata.Metadata, tags: list[str]) -> list[str]:
    collected = described.collector.get("collected_at")
    return [
        safe_cell(cell)
        for cell in (
            item.ern,
            described.title if described.available else metadata.PLACEHOLDER_TITLE,
            item.created_at.isoformat(),
            collected if isinstance(collected, str) else "",
            item.mime,
            item.size,
            item.sha256,
            "; ".join(tags),
            item.sensitivity.value,
            "; ".join(item.flags),
            item.status.value,
        )
    ]


def csv_chunks(
    session: Session,
    actor: User | None,
    case_id: uuid.UUID,
    where: listing.ItemFilter,
    *,
    keyring: Keyring,
) -> list[bytes]:
    """The CSV, a chunk per batch of rows (NotFound for a non-member). Read whole before the
    answer starts, so that the request's transaction ends with the view, as every other
    view's does: memory grows with the list (about 300 bytes an item)."""
    visible = authz.visible_evidence(session, actor, case_id)
    query = where.apply(visible, session, keyring).order_by(Evidence.seq)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(HEADER)
    chunks: list[bytes] = []
    last = -1
    while True:
        batch = list(session.scalars(query.where(Evidence.seq > last).limit(BATCH)))
        if not batch:
            break
        described = metadata.reveal_all(keyring, batch)
        names = tagging.tag_names(session, (item.id for item in batch))
        for item in batch:
            writer.writerow(_row(item, described[item.id], names[item.id]))
        last = batch[-1].seq
        chunks.append(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        chunks.append(buffer.getvalue().encode("utf-8"))
    return chunks
