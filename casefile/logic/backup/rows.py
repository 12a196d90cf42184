"""Table rows as portable JSON Lines: what is written from one database loads into the other.

Each column gets a kind from its SQLAlchemy type (uuid, datetime, date, bytes, json, text,
int, float, bool); values are written as JSON with bytes in base64, times in ISO 8601 (UTC),
days as YYYY-MM-DD, ids as strings. The kinds are recorded in the inventory, so a restore
rebuilds each table with the same kinds and lets SQLAlchemy bind them for whichever database
it loads into. Rows come in primary-key order, tables in foreign-key order; an evidence item
that shares another item's blob (content_id) comes after that item.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Enum,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Select,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
    select,
    type_coerce,
)
from sqlalchemy.types import TypeEngine

from casefile.db import UTCDateTime
from casefile.logic.backup import BackupError

Kinds = dict[str, str]


def _stored_type(column: Column[Any]) -> TypeEngine[Any]:
    """The type whose values are what the database holds. A type decorator other than
    UTCDateTime may transform values on their way in and out (a sealed field, say): the
    backup takes the stored form, through the decorator's underlying type, so that nothing
    is unsealed into the backup and nothing is sealed twice on restore."""
    kind: TypeEngine[Any] = column.type
    if isinstance(kind, TypeDecorator) and not isinstance(kind, UTCDateTime):
        return kind.impl_instance
    return kind


def column_kind(column: Column[Any]) -> str:
    kind = _stored_type(column)
    checks: list[tuple[type[Any], str]] = [
        (UTCDateTime, "datetime"),
        (Date, "date"),
        (Uuid, "uuid"),
        (LargeBinary, "bytes"),
        (JSON, "json"),
        (Boolean, "bool"),
        (Enum, "text"),
        (String, "text"),
        (Integer, "int"),
        (Float, "float"),
    ]
    for variant in (kind, *getattr(kind, "_variant_mapping", {}).values()):
        for type_, name in checks:
            if isinstance(variant, type_):
                return name
    raise BackupError(f"column {column.table.name}.{column.name}: type {kind!r} has no backup form")


def kinds(table: Table) -> Kinds:
    return {column.name: column_kind(column) for column in table.columns}


def rows_query(table: Table) -> Select[Any]:
    order: list[Any] = list(table.primary_key.columns)
    if "content_id" in table.columns:  # items owning a blob before the items sharing it
        order.insert(0, table.c.content_id.is_not(None))
    if "derived_from_id" in table.columns:  # originals before their derivatives
        order.insert(1, table.c.derived_from_id.is_not(None))
    if "supersedes_id" in table.columns:  # a filing's versions in order: each after the one
        order.insert(0, table.c.version)  # it supersedes
    columns = [
        type_coerce(column, stored).label(column.name)
        if (stored := _stored_type(column)) is not column.type
        else column
        for column in table.columns
    ]
    return select(*columns).order_by(*order)


def _encode_time(value: Any, kind: str) -> str:
    if kind == "datetime":
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise BackupError(f"expected a UTC time, got {value!r}")
        return value.astimezone(dt.UTC).isoformat()
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise BackupError(f"expected a day, got {value!r}")
    return value.isoformat()


def _encode(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "uuid":
        return str(value)
    if kind in ("datetime", "date"):
        return _encode_time(value, kind)
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind == "text":
        return str(value.value if hasattr(value, "value") else value)
    # int, float, bool, json: as they are; a date as ISO 8601 text
    return value.isoformat() if kind == "date" else value


def _decode(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "uuid":
        return uuid.UUID(value)
    if kind == "datetime":
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError(f"a time without a zone: {value!r}")
        return parsed
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "bytes":
        return base64.b64decode(value, validate=True)
    return value


def encode_row(row: Mapping[Any, Any], column_kinds: Kinds) -> str:
    record = {name: _encode(row[name], kind) for name, kind in column_kinds.items()}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def decode_rows(lines: Iterable[str], column_kinds: Kinds, where: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            decoded = _decode_record(record, column_kinds)
        except (ValueError, TypeError) as error:
            raise BackupError(f"{where} line {number}: {error}") from None
        yield decoded


def _decode_record(record: Any, column_kinds: Kinds) -> dict[str, Any]:
    if not isinstance(record, dict) or set(record) != set(column_kinds):
        raise ValueError("its columns are not the table's")
    return {name: _decode(record[name], kind) for name, kind in column_kinds.items()}


_TYPES: dict[str, Any] = {
    "uuid": Uuid,
    "datetime": UTCDateTime,
    "date": Date,
    "bytes": LargeBinary,
    "json": lambda: JSON(none_as_null=True),  # SQL NULL stays NULL, not JSON null
    "text": Text,
    "int": Integer,
    "float": Float,
    "bool": Boolean,
}


def loading_table(name: str, column_kinds: Kinds, metadata: MetaData) -> Table:
    """A table of the given columns and kinds, to insert the rows with (its DDL is never run:
    the schema comes from the migrations)."""
    unknown = sorted(kind for kind in column_kinds.values() if kind not in _TYPES)
    if unknown:
        raise BackupError(f"table {name}: unknown column kinds {', '.join(unknown)}")
    columns = [Column(column, _TYPES[kind]()) for column, kind in column_kinds.items()]
    return Table(name, metadata, *columns)
