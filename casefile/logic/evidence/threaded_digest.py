"""A SHA-256 computed in a thread of its own, beside the thread that gives it the bytes.

An export decrypts each original and checks it against the SHA-256 recorded at intake as it
streams (reading.py). On one thread the two take turns: for a 2 GiB filing, ~1.2 s of SHA-256
on the thread that also decrypts, the one every other step of the bundle waits for. hashlib
releases the GIL while it hashes a large buffer, so here the hashing overlaps the decryption
of the next chunk, on another core; the check itself is unchanged and still made before the
reader's last step: `hexdigest` waits for every chunk given.
"""

from __future__ import annotations

import hashlib
import queue
import threading

AHEAD = 4  # chunks given and not yet hashed, at most (their memory: AHEAD x 1 MiB, about)
_END = None


class ThreadedDigest:
    """`update(chunk)` queues the chunk (blocking while AHEAD are waiting); `hexdigest()`
    waits for all and gives the SHA-256; `close()` ends the thread without a digest (also
    after `hexdigest`: a no-op). The chunks must not change after they are given (bytes)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD)
        self._thread = threading.Thread(target=self._work, name="sha256-beside", daemon=True)
        self._thread.start()
        self._ended = False

    def _work(self) -> None:
        while (chunk := self._queue.get()) is not _END:
            self._hash.update(chunk)

    def update(self, chunk: bytes) -> None:
        if self._ended:
            raise ValueError("the digest is finished")
        self._queue.put(chunk)

    def hexdigest(self) -> str:
        self.close()
        return self._hash.hexdigest()

    def close(self) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put(_END)
        self._thread.join()
