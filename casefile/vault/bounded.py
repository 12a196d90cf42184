"""Run a parser on untrusted bytes in a helper process with limits on time and memory.

Metadata extraction runs third-party parsers (pypdf, exifread, mutagen) over whatever a
collector uploads: a PDF whose page tree loops, a decompression bomb or an enormous EXIF block
may make them spin or allocate without end. In a helper process the server loses nothing:
past `seconds` the helper is killed, and its address space is capped (RLIMIT_AS), so a bomb
ends in MemoryError there. Helpers are kept and reused (a Python start and the parsers' import
are paid once, not per file); one is replaced after it was killed or ran out of memory.

The bytes go to the helper over a pipe (nothing is written to disk); the answer comes back as
JSON, never pickle, so a helper subverted by a hostile file cannot run code in the server. The
helper starts with a minimal environment: none of the server's secrets given in variables
(CASEFILE_KEK, CASEFILE_SECRET_KEY, the database URL) reach a parser that a hostile file may
have subverted. (It runs as the same user, so files that user may read stay readable: in
production the KEK comes from a secret store or a mounted file the server reads at start.)"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import queue
import re
import resource
import selectors
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from typing import IO, Any

FRAME = struct.Struct(">Q")
# What a helper inherits of the server's environment: where programs, modules and the
# locale are; never a CASEFILE_* variable or anything else the server was given.
HELPER_ENVIRONMENT = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
KEEP_IDLE = 4  # helpers kept between extractions
# How a helper starts: the `casefile` package is entered without running its __init__.py,
# which loads the web application (Flask, SQLAlchemy, the settings: ~1 s of CPU and ~60 MiB
# per helper) that no parser needs; the parsers' modules are imported from it as usual. A
# court bundle starts three helpers, ingest one per worker: each starts in a third of the
# time and memory, and a parser a hostile file subverts has less of the server loaded.
# (`casefile ingest`'s fork server starts the same way: ingest_workers.)
WITHOUT_INIT = """
import importlib.util, sys, types
spec = importlib.util.find_spec("casefile")
package = types.ModuleType("casefile")
package.__path__ = list(spec.submodule_search_locations)
package.__spec__, package.__file__ = spec, spec.origin
sys.modules["casefile"] = package
"""
BOOTSTRAP = WITHOUT_INIT + """from casefile.vault import bounded
sys.setrecursionlimit(10_000)
bounded._serve(int(sys.argv[1]), sys.argv[2:])
"""


def _from_here() -> str:
    """The helper's first line: the folder this process's `casefile` package is in, first on
    its sys.path. The helper starts with `-P`, so the working folder is not on it: a server
    or `casefile ingest` started in a collector's folder (a drive that may hold a planted
    `casefile` or `weasyprint` package) never imports from there."""
    package = sys.modules[__name__.partition(".")[0]]
    root = os.path.dirname(os.path.abspath(package.__path__[0]))  # noqa: PTH100, PTH120
    return f"import sys\nsys.path.insert(0, {root!r})\n"


class LimitExceeded(Exception):
    """The parser ran out of time or memory, or its process died."""


class ParserFailed(Exception):
    """The parser raised; the message names the exception type."""


FILES = "files"  # helpers that parse collectors' files (possibly hostile)
OWN = "own"  # helpers that lay out Casefile's own documents only


class _Helper:
    def __init__(
        self, memory_bytes: int, pool: str = FILES, preload: tuple[str, ...] = ()
    ) -> None:
        self.memory_bytes = memory_bytes
        self.pool = pool
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-P", "-c", _from_here() + BOOTSTRAP, str(memory_bytes), *preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,  # raw pipes: what the selector sees is all there is
            env={name: os.environ[name] for name in HELPER_ENVIRONMENT if name in os.environ},
        )

    def call(self, target: str, data: bytes, seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        stdin, stdout = self.process.stdin, self.process.stdout
        if stdin is None or stdout is None:  # pragma: no cover - both are pipes
            raise LimitExceeded("the parser's process has no pipes")
        request = target.encode() + b"\n"
        try:
            _write_all(stdin, FRAME.pack(len(request) + len(data)) + request)
            _write_all(stdin, data)
        except OSError:
            raise LimitExceeded("the parser's process died") from None
        (length,) = FRAME.unpack(_read_exactly(stdout, FRAME.size, deadline, seconds))
        return dict(json.loads(_read_exactly(stdout, length, deadline, seconds)))

    def close(self, *, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()  # EOF: an idle helper exits
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _write_all(stream: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = stream.write(view)
        view = view[written or 0 :]


def _read_exactly(stream: IO[bytes], size: int, deadline: float, seconds: float) -> bytes:
    data = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise LimitExceeded(f"took longer than {seconds:g} s")
            chunk = stream.read(size - len(data))
            if not chunk:
                raise LimitExceeded("the parser's process died (out of memory or crashed)")
            data += chunk
    return bytes(data)


_idle: queue.LifoQueue[_Helper] = queue.LifoQueue()


def _take(memory_bytes: int, pool: str) -> _Helper:
    """An idle helper of this size and pool, else a new one; idle ones of other kinds stay
    idle for their own (a bundle lays out custody reports and stamps renditions at once)."""
    others: list[_Helper] = []
    try:
        while True:
            try:
                helper = _idle.get_nowait()
            except queue.Empty:
                return _Helper(memory_bytes, pool)
            if helper.process.poll() is not None:
                helper.close(kill=True)
            elif helper.memory_bytes == memory_bytes and helper.pool == pool:
                return helper
            else:
                others.append(helper)
    finally:
        for other in reversed(others):
            _give_back(other)


def _give_back(helper: _Helper) -> None:
    if _idle.qsize() < KEEP_IDLE:
        _idle.put(helper)
    else:
        helper.close()


def prestart(count: int, *, memory_bytes: int, pool: str, preload: tuple[str, ...]) -> None:
    """Have `count` idle helpers of this size and pool, starting the missing ones now, each
    importing the modules `preload` names (a layout engine: ~0.4 s of CPU) before it
    answers: a caller that will need them soon (a court bundle) starts them before its own
    set-up, on a core that would otherwise wait. Returns at once; a call sent meanwhile is
    answered once the imports are done. Within KEEP_IDLE."""
    for name in preload:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", name):
            raise ValueError(f"not a module name: {name!r}")
    kept: list[_Helper] = []
    try:
        while True:
            try:
                kept.append(_idle.get_nowait())
            except queue.Empty:
                break
        have = sum(1 for helper in kept if helper.memory_bytes == memory_bytes
                   and helper.pool == pool and helper.process.poll() is None)
        room = KEEP_IDLE - len(kept)
        kept.extend(_Helper(memory_bytes, pool, preload)
                    for _ in range(min(count - have, room)))
    finally:
        for helper in kept:
            _give_back(helper)


@atexit.register
def close_helpers() -> None:
    while True:
        try:
            _idle.get_nowait().close()
        except queue.Empty:
            return


def run(
    function: Callable[[bytes], dict[str, Any]],
    data: bytes,
    *,
    seconds: float,
    memory_bytes: int,
    pool: str = FILES,
    fresh: bool = False,
) -> dict[str, Any]:
    """`function(data)` in a helper process; LimitExceeded or ParserFailed if it went wrong.
    `function` must be a module-level function returning JSON-serialisable data.

    Idle helpers are reused only within their `pool`: FILES parse collectors' files (possibly
    hostile: a helper one of them subverted must not go on to lay out what Casefile itself
    vouches for), OWN lays out Casefile's own documents (custody reports, indexes). With
    `fresh`, a new helper that no earlier file has touched runs this call alone and is
    closed after it (a redaction: its output is trusted to hold nothing of what it covers)."""
    target = f"{function.__module__}:{function.__qualname__}"
    helper = _Helper(memory_bytes, pool) if fresh else _take(memory_bytes, pool)
    try:
        answer = helper.call(target, data, seconds)
    except BaseException:
        helper.close(kill=True)
        raise
    status = answer.get("status")
    if status == "memory":
        helper.close(kill=True)  # the next file gets a helper with a clean heap
        raise LimitExceeded(f"needed more than {memory_bytes // (1024 * 1024)} MiB")
    if fresh:
        helper.close()
    else:
        _give_back(helper)
    if status == "ok":
        return dict(answer["result"])
    raise ParserFailed(str(answer.get("error", "unknown")))


# --- the helper's side ----------------------------------------------------------------------


def _serve(memory_bytes: int, preload: list[str] | None = None) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no memory image on disk
    for name in preload or ():
        with contextlib.suppress(Exception):  # a call needing it reports its own failure
            importlib.import_module(name)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while header := stdin.read(FRAME.size):
        (length,) = FRAME.unpack(header)
        message = stdin.read(length)
        target, _, data = message.partition(b"\n")
        try:
            module, _, name = target.decode().partition(":")
            function = getattr(importlib.import_module(module), name)
            answer: dict[str, Any] = {"status": "ok", "result": function(data)}
            body = json.dumps(answer).encode()
        except MemoryError:
            body = json.dumps({"status": "memory"}).encode()
        except Exception as error:  # noqa: BLE001 - reported by type only
            body = json.dumps({"status": "error", "error": type(error).__name__}).encode()
        del data, message
        stdout.write(FRAME.pack(len(body)) + body)
        stdout.flush()

