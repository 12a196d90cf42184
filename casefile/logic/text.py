"""Text rules shared by every input model: what PostgreSQL and SQLite both can store."""

from __future__ import annotations

from typing import Any


def refuse_nul(value: Any) -> Any:
    """NUL characters have no place in names or notes, and PostgreSQL refuses them."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if isinstance(value, list):
        for element in value:
            refuse_nul(element)
    return value
