"""The domain: every rule and every transaction. Functions take a session and an actor.

One package per domain: `accounts/` (people, sign-in, tokens), `cases/` (cases and their
members), `evidence/` (items from intake to deletion), `custody/` (the chain-of-custody log
and what is read from it), `backup/` (backups and restores). Incidents and the proof matrix,
frameworks, filings and export will be packages beside them. At this level sit what every
domain shares: `authz` (the one place that decides who may see or do what), `errors` (domain
exceptions, free of HTTP: casefile/errors.py maps them to responses), `retry`, `pagination`,
`text`, and `keys` (key-encryption key rotation, which reaches into every domain's keys)."""
