"""Where a bulk ingest's time goes, per file: wall time and CPU time (of the calling thread,
kernel time included) of the steps it takes, on whichever thread they run, with the thread
they ran on. Used by `ingest_files.py --breakdown`.

Functions are wrapped in place for the duration of a `with Breakdown() as b:` block and
restored after; nested steps are counted in both (e.g. the blob's fsync inside `finish`).
`Profiles` runs chosen functions under cProfile, one profiler per thread, for
`ingest_files.py --profile`."""

from __future__ import annotations

import cProfile
import functools
import io
import pstats
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self


@dataclass
class Figure:
    calls: int = 0
    wall: float = 0.0
    cpu: float = 0.0


def _thread_kind() -> str:
    name = threading.current_thread().name
    if threading.current_thread() is threading.main_thread():
        return "registering"
    if name.startswith("casefile-ingest-sync"):
        return "settle thread"
    if name.startswith("casefile-ingest-keys"):
        return "key thread"
    if name.startswith("casefile-ingest"):
        return "workers"
    return name.split("_")[0]


class Breakdown:
    def __init__(self) -> None:
        self.figures: dict[tuple[str, str], Figure] = defaultdict(Figure)
        self._lock = threading.Lock()
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, attribute: str, label: str) -> None:
        original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(
            owner, attribute
        )
        function: Callable[..., Any] = (
            original.__func__ if isinstance(original, staticmethod) else original
        )

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
                with self._lock:
                    figure = self.figures[(label, _thread_kind())]
                    figure.calls += 1
                    figure.wall += wall
                    figure.cpu += cpu

        replacement = staticmethod(timed) if isinstance(original, staticmethod) else timed
        setattr(owner, attribute, replacement)
        self._undo.append((owner, attribute, original))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)
        self._undo.clear()

    def print(self, files: int) -> None:
        print(f"{'step':<44}{'thread':<15}{'calls':>7}{'wall ms/file':>14}{'CPU ms/file':>13}")
        for (label, kind), figure in sorted(
            self.figures.items(), key=lambda pair: (pair[0][1], -pair[1].wall)
        ):
            print(
                f"{label:<44}{kind:<15}{figure.calls:>7}"
                f"{figure.wall / files * 1000:>14.3f}{figure.cpu / files * 1000:>13.3f}"
            )


class Profiles:
    """cProfile per kind of thread (registering, workers, settle thread): each wrapped
    function runs under its thread's own profiler (cProfile follows one thread only), and the
    threads of a kind are merged when printed. Used by `ingest_files.py --profile`."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._profiles: list[tuple[str, cProfile.Profile]] = []
        self._undo: list[tuple[Any, str, Any]] = []

    def _profile(self) -> cProfile.Profile:
        profile: cProfile.Profile | None = getattr(self._local, "profile", None)
        if profile is None:
            # Timed by the thread's CPU clock: waits (for the GIL, a core, the disk) not counted.
            profile = self._local.profile = cProfile.Profile(time.thread_time)
            with self._lock:
                self._profiles.append((_thread_kind(), profile))
        return profile

    def wrap(self, owner: Any, attribute: str) -> None:
        original = owner.__dict__[attribute]

        @functools.wraps(original)
        def profiled(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._local, "active", False):  # nested: the outer call profiles it
                return original(*args, **kwargs)
            self._local.active = True
            profile = self._profile()
            profile.enable()
            try:
                return original(*args, **kwargs)
            finally:
                profile.disable()
                self._local.active = False

        setattr(owner, attribute, profiled)
        self._undo.append((owner, attribute, original))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)
        self._undo.clear()

    def print(self, files: int, top: int = 25) -> None:
        kinds: dict[str, pstats.Stats] = {}
        for kind, profile in self._profiles:
            if kind in kinds:
                kinds[kind].add(profile)
            else:
                kinds[kind] = pstats.Stats(profile)
        for kind, stats in kinds.items():
            print(f"\n--- {kind}: cProfile, thread CPU time, {files} files (with its overhead)")
            stream = io.StringIO()
            stats.stream = stream  # type: ignore[attr-defined]
            stats.sort_stats("cumulative").print_stats(top)
            stats.sort_stats("tottime").print_stats(top)
            print("\n".join(line for line in stream.getvalue().splitlines() if line.strip()))
