"""Search: one interface over the index, two engines behind it (SQLite FTS5, PostgreSQL full
text), chosen by the database's dialect.

- `burmese`: NFC normalisation, syllable segmentation, Zawgyi detection and conversion.
- `terms`: text to search terms, the same for the index and the query; the encoding the
  engines are given.
- `documents`: what of an item (or an incident) is indexed: its text parts, from one
  function each.
- `index`: writing the index, in the caller's transaction (registration, edits, deletion);
  `reindex` rebuilds it for existing items.
- `engines`: the dialect-specific match (FTS5 MATCH, tsvector @@ tsquery).
- `query`: `search`, scoped to the caller's cases and the items they may see, filtered and
  paged; `snippets`: the excerpt shown with each result and where the matches are in it.

Restricted items' text is indexed only blindly: keyed hashes (the blind index key of
casefile/vault/blind_index.py) of its terms and of its pairs of terms in a row, never the
text; their snippets are made from their metadata decrypted for a caller with a grant."""
