"""Chain of custody: the append-only, Merkle-tree log every action is recorded in.

- `log`: appending entries (`append`, `append_many`), in the action's own transaction.
- `log_state`: the log's lock and the state (size, frontier, latest checkpoint) an append
  starts from.
- `checkpoints`: signed checkpoints, automatic and on demand, and consistency proofs.
- `proofs`: inclusion proofs and the stored tree nodes any proof reads.
- `entries`: reading entries back, and an entry as exported.
- `transfers`: transfers of physical media; `reports` and `redaction`: what members may read
  of the log and the offline-checkable reports they get; `verify` and `trusted`: the
  operator's checks of the whole log, on its own and against checkpoints kept elsewhere."""
