"""Evidence items, from intake to deletion: the streaming, encrypting intake pipeline
(`intake`), registering and reading items back verified (`evidence`), resumable tus uploads
(`tus`) and bulk ingest from folders (`ingest`), restricted items' sealed metadata
(`metadata`), per-person grants to restricted items (`grants`), legal holds and
crypto-shredding deletion (`deletion`), and the operator's integrity scrub (`scrub`)."""
