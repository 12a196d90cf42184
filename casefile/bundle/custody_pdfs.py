"""The bundle's custody report PDFs, laid out in bounded helper processes, a batch of exhibits
per call, ahead of the writer, while it streams the exhibits' bytes.

Laying out the reports was most of a bundle's time when WeasyPrint laid them out (~0.07 s of
CPU each); casefile/documents/custody_report_pdf.py now lays them out itself (HarfBuzz, ICU,
pydyf: ~10 ms of CPU for a one-entry report), still away from the exporting process. Here the
exporting process only builds each report (a database read, in its own thread: the session
is not shared) and sends it out; the layout runs in helper processes (casefile/vault/
bounded.py: address space capped, killed past a time limit, answers as JSON), each laying
out BATCH reports in a row, its fonts loaded once (custody_warm.py), on the other core. At
most AHEAD batches are in flight or waiting to be written, so what the exporting process
holds does not grow with the bundle.

Each report is still its own document (its "Page x of y" and its case title in the margin
are its own): the batch shares the helper round trip, the loaded fonts and what the helper
has shaped and laid out before (the appendix's fixed text, headers), not a layout."""

from __future__ import annotations

import base64
import collections
import gc
import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, Self

from casefile.bundle import stamping, warm
from casefile.bundle.plan import BundlePlan, ExhibitPlan
from casefile.documents import custody_report_pdf
from casefile.vault import bounded

BATCH = 4  # reports per helper call: ~40 ms of layout, ~350 KiB of answer
WORKERS = warm.CUSTODY_WORKERS  # helper processes laying out at once
AHEAD = 2 * WORKERS  # batches submitted and not yet written


class RenderFailed(Exception):
    """A batch of custody PDFs could not be laid out (the reason, for BundleError)."""


def title(exhibit: ExhibitPlan) -> str:
    return f"Custody report: {exhibit.number}, {exhibit.ern}"


def subject(plan: BundlePlan, exhibit: ExhibitPlan) -> custody_report_pdf.Subject:
    return custody_report_pdf.Subject(
        case_title=plan.case_title or plan.filing_title,
        forum=plan.forum,
        reference=plan.filing_id,
        items=(custody_report_pdf.ItemLine(exhibit.item_id, exhibit.ern,
                                           exhibit.original_name or None, exhibit.sha256),),
        scope="item",
    )


def render_batch(
    plan: BundlePlan, batch: Sequence[tuple[ExhibitPlan, dict[str, Any]]]
) -> list[bytes]:
    """Each exhibit's custody report as PDF, in order, laid out in one helper call."""
    message = json.dumps(
        [
            {"title": title(exhibit), "subject": asdict(subject(plan, exhibit)), "report": report}
            for exhibit, report in batch
        ],
        ensure_ascii=False,
    ).encode("utf-8")
    try:
        answer = bounded.run(
            render_in_helper,
            message,
            seconds=stamping.HELPER_SECONDS,
            memory_bytes=stamping.HELPER_MEMORY,
            pool=bounded.OWN,  # never a helper that parsed a collector's file
        )
    except (bounded.LimitExceeded, bounded.ParserFailed) as error:
        raise RenderFailed(str(error)) from None
    pdfs = [base64.b64decode(pdf) for pdf in answer["pdfs"]]
    if len(pdfs) != len(batch):
        raise RenderFailed(f"{len(pdfs)} reports came back for {len(batch)}")
    return pdfs


_loaded = False
_batches = 0
GC_EVERY = 16  # batches


def render_in_helper(message: bytes) -> dict[str, Any]:
    """The helper's side: every report of the batch laid out as its own PDF."""
    global _loaded  # noqa: PLW0603 - once per helper process
    if not _loaded:
        custody_report_pdf.load()  # no-op cost if warm.py preloaded it
        # What is loaded so far lives as long as the helper: out of the collector's sight,
        # a full collection no longer walks it.
        gc.freeze()
        _loaded = True
    pdfs = []
    for part in json.loads(message):
        fields = part["subject"]
        fields["items"] = tuple(custody_report_pdf.ItemLine(**item) for item in fields["items"])
        pdf = custody_report_pdf.render(
            part["report"], part["title"], custody_report_pdf.Subject(**fields)
        )
        pdfs.append(base64.b64encode(pdf).decode("ascii"))
    global _batches  # noqa: PLW0603
    _batches += 1
    if _batches % GC_EVERY == 0:
        # A full collection now and then bounds a helper kept for long (pydyf's objects
        # and the caches are freed by reference counting; this is a safety net).
        gc.collect()
    return {"pdfs": pdfs}


Renderer = Callable[[BundlePlan, Sequence[tuple[ExhibitPlan, dict[str, Any]]]], list[bytes]]
# An exhibit the writer may write the custody files of: its index in the plan, the exhibit,
# its report, a call giving its PDF (RenderFailed if its batch failed).
Done = tuple[int, ExhibitPlan, dict[str, Any], Callable[[], bytes]]


class Ahead:
    """Each exhibit's custody report and its PDF, in the plan's order, the PDFs laid out
    AHEAD batches before the writer needs them. `reports(exhibit)` is called in the caller's
    thread only (it reads the database), once per exhibit, in order, when its batch is
    submitted. The writer takes those already laid out between its exhibits (`ready`, which
    never waits: the bytes go on streaming while the helpers work), and the others once every
    original is written (`rest`, or iterating). Use as a context manager: leaving it waits
    for the batches still being laid out (none is left writing)."""

    def __init__(
        self,
        plan: BundlePlan,
        reports: Callable[[ExhibitPlan], dict[str, Any]],
        *,
        renderer: Renderer = render_batch,
        batch: int = BATCH,
        workers: int = WORKERS,
        ahead: int = AHEAD,
    ) -> None:
        self._plan = plan
        self._reports = reports
        self._renderer = renderer
        self._batch = batch
        self._ahead = ahead
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="custody-pdf")
        self._next = 0  # the first exhibit not yet submitted
        self._queued: collections.deque[
            tuple[list[tuple[int, ExhibitPlan, dict[str, Any]]], Future[list[bytes]]]
        ] = collections.deque()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self) -> None:
        """Build the reports of the next batches and send them to be laid out, while fewer
        than AHEAD are in flight or waiting to be written."""
        exhibits = self._plan.exhibits
        while len(self._queued) < self._ahead and self._next < len(exhibits):
            first = self._next
            chosen = exhibits[first : first + self._batch]
            self._next += len(chosen)
            batch = [(exhibit, self._reports(exhibit)) for exhibit in chosen]
            future = self._pool.submit(self._renderer, self._plan, batch)
            self._queued.append(
                ([(first + n, exhibit, report) for n, (exhibit, report) in enumerate(batch)],
                 future)
            )

    def also(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        """`function(*args)` on the same threads (and so the same helpers), after the
        batches already submitted."""
        return self._pool.submit(function, *args)

    def _take(self) -> Iterator[Done]:
        reports, future = self._queued.popleft()
        for index, (position, exhibit, report) in enumerate(reports):
            yield position, exhibit, report, lambda i=index, f=future: f.result()[i]  # type: ignore[misc]

    def ready(self) -> Iterator[Done]:
        """(its index in the plan, exhibit, its report, a call giving its PDF) for each
        exhibit whose batch is laid out, in the plan's order, without waiting for any; more
        batches are submitted as these are taken."""
        self.submit()
        while self._queued and self._queued[0][1].done():
            yield from self._take()
            self.submit()

    def rest(self) -> Iterator[Done]:
        """As `ready`, for every exhibit not yet given, waiting for each batch. A batch that
        failed raises RenderFailed from its exhibits' calls."""
        self.submit()
        while self._queued:
            yield from self._take()
            self.submit()

    def __iter__(self) -> Iterator[tuple[ExhibitPlan, dict[str, Any], Callable[[], bytes]]]:
        """(exhibit, its report, a call that waits for its PDF), in the plan's order. A
        batch that failed raises RenderFailed from that call."""
        for _, exhibit, report, pdf in self.rest():
            yield exhibit, report, pdf

