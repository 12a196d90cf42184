"""The bundle's stamped renditions, each laid out in a helper process (casefile/bundle/
stamping.py) while the writer streams the next exhibits' bytes, instead of between them.

One at a time: a rendition's file and its stamped PDF pass through the exporting process
whole (up to stamping.MAX_BYTES, a few copies), so starting the next one first waits for the
previous one and writes it: what the process holds is what it held when they ran in turn.
They are written, and any warning given, in the plan's order."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Self

from casefile.bundle import stamping
from casefile.bundle.plan import ExhibitPlan


def _render(data: bytes, exhibit: ExhibitPlan) -> bytes:
    stamp = stamping.Stamp(exhibit.number, exhibit.ern, exhibit.classification)
    return stamping.render(data, exhibit.mime, stamp)


class Renditions:
    """`add` each exhibit once its original is written in full; `finish` before the index
    is made (each row's "rendition" is filled in when its PDF is written). Use as a context
    manager: leaving it waits for a rendition still being laid out."""

    def __init__(self, write: Callable[[str, bytes], object], warnings: list[str]) -> None:
        self._write = write
        self._warnings = warnings
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rendition")
        self._pending: tuple[ExhibitPlan, str, dict[str, str], Future[bytes]] | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def add(
        self, exhibit: ExhibitPlan, source: Callable[[], bytes], target: str, row: dict[str, str]
    ) -> None:
        """Start the stamped PDF of the original `source()` reads back (a document or an
        image; read here, before the writer goes on) to be written at `target`; nothing for
        other types, a warning for one too big. The previous one is written first (one at a
        time, warnings in order); other exhibits do not wait for it."""
        if not stamping.wants_rendition(exhibit.mime, exhibit.size):
            self.without(exhibit)
            return
        # Read before the previous rendition is written: a zip bag keeps only the last file.
        data = source()
        self.finish()
        self._pending = (exhibit, target, row, self._pool.submit(_render, data, exhibit))

    def without(self, exhibit: ExhibitPlan) -> None:
        """An exhibit that gets no rendition (stamping.wants_rendition is false): nothing for
        other types, a warning, in order, for a document or an image too big."""
        if exhibit.mime != "application/pdf" and exhibit.mime not in stamping.IMAGE_TYPES:
            return
        self.finish()
        self._warnings.append(
            f"{_label(exhibit)}: over {stamping.MAX_BYTES // (1024 * 1024)} MiB"
        )

    def finish(self) -> None:
        """Wait for the rendition in progress, if any, and write it (or its warning)."""
        if self._pending is None:
            return
        exhibit, target, row, future = self._pending
        self._pending = None
        try:
            pdf = future.result()
        except stamping.RenditionFailed as error:
            self._warnings.append(f"{_label(exhibit)}: {error}")
            return
        self._write(target, pdf)
        row["rendition"] = target


def _label(exhibit: ExhibitPlan) -> str:
    return f"exhibit {exhibit.number} ({exhibit.ern}): no PDF rendition"
