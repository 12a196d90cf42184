"""casefile.logic.backup.rows: the portable row format, on a throwaway table of every kind."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
    Uuid,
    create_engine,
    select,
)

from casefile.db import UTCDateTime
from casefile.logic.backup import BackupError, rows


class Sealed(TypeDecorator[str]):
    """Stands in for a field kept sealed in the database: text in, other bytes stored."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> Any:  # noqa: ARG002
        return None if value is None else b"sealed:" + value[::-1].encode()

    def process_result_value(self, value: Any, dialect: Any) -> str | None:  # noqa: ARG002
        return None if value is None else value.removeprefix(b"sealed:").decode()[::-1]


def table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("at", UTCDateTime),
        Column("data", LargeBinary),
        Column("fields", JSON),
        Column("flag", Boolean),
        Column("label", String(20)),
        Column("count", Integer),
        Column("secret", Sealed),
    )


def test_rows_round_trip_and_sealed_fields_stay_sealed() -> None:
    engine = create_engine("sqlite://")
    metadata = MetaData()
    source = table(metadata, "source")
    metadata.create_all(engine)
    row = {
        "id": uuid.uuid4(),
        "at": dt.datetime(2017, 8, 25, 6, 30, 0, 123456, tzinfo=dt.UTC),
        "data": bytes(range(256)),
        "fields": {"lat": 21.2, "village": "Tula Toli", "none": None},
        "flag": True,
        "label": "witness",
        "count": 2**40,
        "secret": "W-12 lives in Kutupalong",
    }
    with engine.begin() as connection:
        connection.execute(source.insert(), [row, {**row, "id": uuid.uuid4(), "fields": None}])
        dumped = [
            rows.encode_row(found, rows.kinds(source))
            for found in connection.execute(rows.rows_query(source)).mappings()
        ]
    assert rows.kinds(source)["secret"] == "bytes"
    assert all("Kutupalong" not in line for line in dumped)  # stored form, never unsealed

    loading = rows.loading_table("source", rows.kinds(source), MetaData())
    decoded = list(rows.decode_rows(dumped, rows.kinds(source), "test"))
    target_engine = create_engine("sqlite://")
    target_metadata = MetaData()
    target = table(target_metadata, "source")
    target_metadata.create_all(target_engine)
    with target_engine.begin() as connection:
        connection.execute(loading.insert(), decoded)
        back = {r.id: r._asdict() for r in connection.execute(select(target))}
        raw = connection.exec_driver_sql("SELECT fields FROM source").scalars().all()
    assert back[row["id"]] == row  # sealed once, as before: reads back as it was written
    assert None in raw  # SQL NULL stayed NULL, not JSON null


def test_a_line_with_other_columns_names_its_line() -> None:
    with pytest.raises(BackupError, match=r"t.jsonl line 2: its columns are not the table's"):
        list(rows.decode_rows(['{"a":1}', '{"b":1}'], {"a": "int"}, "t.jsonl"))
