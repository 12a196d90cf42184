"""Evidence items, from intake to deletion.

- `intake`: the streaming, encrypting intake pipeline (a blob and its hashes, nothing more).
- `submission`: what is sent with an item (the collector's account, checked) and what its
  bytes say (type, flags, bounded metadata extraction), prepared before any transaction.
- `registration`: the one place an item is registered: `register_upload` for an uploaded
  item (API, web form, tus completion), `register_many` for a batch (bulk ingest).
- `sharing`: one blob per SHA-256 per case (resubmissions, content shared with hidden items).
- `reading`: an item's bytes read back decrypted and verified; inline previews.
- `listing`: finding items, filtered and sorted.
- `tus` (resumable uploads) and `ingest` (bulk ingest from folders) feed `registration`;
  `metadata` (restricted items' sealed metadata), `editing` (the collector's metadata
  changed after upload), `grants` (per-person access to restricted
  items), `deletion` (legal holds and crypto-shredding) and `scrub` (the operator's
  integrity check) act on registered items."""
