"""The one dialect-specific part of search: which documents' terms match a query.

SQLite: an FTS5 table over `search_bodies.body` (external content, kept in step by
triggers), queried with MATCH. PostgreSQL: a stored `tsvector` column of `search_bodies`
generated from `body`
with the `simple` configuration (no stemming, no stop words: the terms are already what they
should be) and a GIN index on it, queried with `@@`. Both are given only encoded terms
(`terms.encode`: ASCII letters and digits), joined by each engine's own operators, so no
user input reaches either query language."""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    column,
    event,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Session

from casefile.logic.search.terms import encode
from casefile.model import SearchBody


def fts5_query(phrases: list[list[str]]) -> str:
    """Every phrase, each its terms in a row: `"wburned" AND "u..." "u..."`."""
    return " AND ".join('"' + " ".join(encode(term) for term in phrase) + '"' for phrase in phrases)


def tsquery(phrases: list[list[str]]) -> str:
    """Every phrase, each its terms in a row: `wburned & (u... <-> u...)`."""
    return " & ".join(
        "(" + " <-> ".join(encode(term) for term in phrase) + ")" for phrase in phrases
    )


def matching(session: Session, phrases: list[list[str]]) -> Select[int]:
    """Ids of the documents whose terms hold every phrase (restricted ones have no terms:
    never among them)."""
    if session.get_bind().dialect.name == "postgresql":
        body_tsv: ColumnElement[object] = literal_column("search_bodies.body_tsv")
        query = text("to_tsquery('simple'::regconfig, :search_query)").bindparams(
            bindparam("search_query", tsquery(phrases))
        )
        return select(SearchBody.document_id).where(body_tsv.bool_op("@@")(query))
    matched = (
        text("SELECT rowid FROM search_fts WHERE search_fts MATCH :search_query")
        .bindparams(bindparam("search_query", fts5_query(phrases)))
        .columns(column("rowid", Integer))
        .subquery()
    )
    return select(matched.c.rowid)


# --- purging deleted terms ------------------------------------------------------------------

PURGE = "casefile.search_purge"  # session.info: terms were deleted that must not linger


def purge_later(session: Session) -> None:
    """Terms of a document were deleted (it was restricted or deleted): before this
    transaction commits, make the engine drop them from its own storage too.

    SQLite's FTS5 keeps a deleted document's terms in its segments (`search_fts_data`),
    marked deleted, until those segments are merged; `optimize` merges them all into one,
    which leaves none of them (with `secure_delete` on, the freed pages are zeroed too).
    PostgreSQL keeps the dead rows of `search_bodies` until VACUUM (docs/deploy.md)."""
    if session.get_bind().dialect.name == "sqlite":
        session.info[PURGE] = True


@event.listens_for(Session, "before_commit")
def _purge(session: Session) -> None:
    if session.info.pop(PURGE, False):
        session.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))


@event.listens_for(Session, "after_rollback")
def _nothing_to_purge(session: Session) -> None:
    session.info.pop(PURGE, None)
