"""Chain of custody: the append-only, Merkle-tree log every action is recorded in, with signed
checkpoints and proofs (`custody`); transfers of physical media (`transfers`); what members
may read of it and the offline-checkable reports they get (`reports`, `redaction`); and the
operator's checks of the whole log, on its own (`verify`) and against checkpoints kept
elsewhere (`trusted`)."""
