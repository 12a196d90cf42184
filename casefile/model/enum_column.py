"""Enums stored as their string values with a CHECK constraint, the same on every backend."""

from enum import StrEnum

from sqlalchemy import Enum


def enum_column(enum: type[StrEnum], name: str, length: int = 32) -> Enum:
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
