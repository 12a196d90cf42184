"""The consolidated PDF of a bundle's documentary exhibits (`data/consolidated.pdf`): a cover
page, an index giving each exhibit's page range in this PDF, then every stamped rendition in
order, with a bookmark per exhibit ("<number> — <ERN> — <title>", Unicode, so Burmese titles
show in a viewer's bookmark pane). Exhibits without a rendition (audio, video, a file over
the rendition limit) are listed in the index as a native file only, with its path.

Cover and index are laid out in code by front_matter.py (the custody report's writer:
Burmese shaped by HarfBuzz). Their page count is only known once laid out, and the page
ranges depend on it: the front matter is laid out assuming F pages; if it comes out longer,
again with that count (ranges only grow, so this ends); if shorter, blank pages pad it to F
(bearing the banner and "Page x of y" like every other page: front_matter.py adds them
before drawing those), so the ranges printed stay true. A pass is laid out and its pages
counted before anything is written: only the pass that settles is written as a PDF (the
two passes of 200 exhibits take 0.24-0.27 s of CPU in a fresh helper; WeasyPrint took
2.7-3.0 s).

The pages are joined by qpdf through pikepdf (MPL-2.0): qpdf's page assembly (`qpdf --empty
--pages ...` as a QPDFJob) copies each page's streams from its file while it writes, without
decoding them, then pikepdf adds the bookmarks to the joined file, its streams again copied as
written: memory grows with the number of PDF objects, not with the bytes (43 MiB for 176 MiB
of renditions, bench/consolidated_merge.py; pikepdf's own `pages.extend` reads every copied
stream into memory first, and so does pypdf's PdfWriter). The joined file is written once
more with its bookmarks, so the disk holds the consolidated PDF twice for a moment. All of it
runs in a helper process (casefile/vault/bounded.py) with limits on time and memory: the
renditions are our own pypdf output, but their fonts, images and content come from
collectors' files, and the exporting process, whose peak must not grow with the bundle,
keeps none of it. The helper reads the renditions from the bag and writes the PDF
into it; the writer then hashes the file like every other payload file.

A bag streamed into a zip (an export stored on the server) has no folder: its writer keeps
each rendition in an anonymous memory file (`os.memfd_create`, never on a disk) and gives
the helper their paths as `/proc/<pid>/fd/<n>` (`build_from_files`), with another memory file
for the result; the helper keeps its own two scratch files in memory files too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from casefile.bundle import front_matter, stamping
from casefile.bundle.front_matter import page_ranges
from casefile.bundle.plan import BundlePlan
from casefile.vault import bounded

TARGET = "data/consolidated.pdf"
BOOKMARK_LENGTH = 240  # characters of a bookmark's title (a viewer's pane shows far fewer)
MAX_PASSES = 8
FIRST_GUESS = 2  # pages of front matter assumed first: a cover and a page of index


class ConsolidationFailed(Exception):
    """The consolidated PDF could not be made (the reason)."""


def wanted(rows: Sequence[dict[str, str]]) -> bool:
    """A consolidated PDF is made when at least one exhibit has a stamped rendition."""
    return any(row["rendition"] for row in rows)


def bookmark(row: dict[str, str]) -> str:
    title = " ".join(f"{row['number']} \u2014 {row['ern']} \u2014 {row['title']}".split())
    return title if len(title) <= BOOKMARK_LENGTH else title[: BOOKMARK_LENGTH - 1] + "\u2026"


def message(
    root: Path,
    plan: BundlePlan,
    rows: Sequence[dict[str, str]],
    checkpoint: str,
    key: str,
    *,
    date: str | None = None,
    files: dict[str, str] | None = None,
    target: str | None = None,
) -> bytes:
    """What the helper is given (`build_in_helper`): JSON, the bag's folder by its path; or,
    with `files` (each rendition's path in the rows -> the path to read it at) and `target`
    (where to write the PDF), no folder at all: the scratch files are memory files."""
    fields = asdict(plan)
    fields["exhibits"] = []  # the rows say what the index shows
    return json.dumps({
        "root": str(root), "plan": fields, "rows": list(rows), "checkpoint": checkpoint,
        "key": key, "date": date or dt.datetime.now(dt.UTC).date().isoformat(),
        "files": files, "target": target,
    }).encode("utf-8")


def _run(request: bytes, sizes: int) -> dict[str, Any]:
    return bounded.run(
        build_in_helper,
        request,
        # qpdf copies ~100 MiB/s here; a slow disk gets twenty times less and some more
        seconds=stamping.HELPER_SECONDS + sizes / (5 * 1024 * 1024),
        memory_bytes=stamping.HELPER_MEMORY,
    )


def build(
    root: Path,
    plan: BundlePlan,
    rows: Sequence[dict[str, str]],
    checkpoint: str,
    key: str,
    *,
    date: str | None = None,
) -> dict[str, Any]:
    """Write `root/data/consolidated.pdf` from the renditions already in the bag at `root`
    (in a helper process); its page counts. ConsolidationFailed if it could not be made."""
    sizes = sum((root / row["rendition"]).stat().st_size for row in rows if row["rendition"])
    try:
        return _run(message(root, plan, rows, checkpoint, key, date=date), sizes)
    except (bounded.LimitExceeded, bounded.ParserFailed) as error:
        (root / TARGET).unlink(missing_ok=True)
        raise ConsolidationFailed(str(error)) from None


def build_from_files(  # noqa: PLR0917 - the same as build, with where things are
    files: dict[str, int],
    target: int,
    plan: BundlePlan,
    rows: Sequence[dict[str, str]],
    checkpoint: str,
    key: str,
    *,
    date: str | None = None,
) -> dict[str, Any]:
    """The consolidated PDF written to the open descriptor `target` (a memory file, empty)
    from the renditions open at `files` (each rendition's path in the rows -> a descriptor
    of this process, read from its start), in a helper that opens them through /proc (Linux);
    its page counts. The caller keeps the descriptors open until this returns, then closes
    them. ConsolidationFailed if it could not be made."""
    def path(descriptor: int) -> str:
        return f"/proc/{os.getpid()}/fd/{descriptor}"

    sizes = sum(os.fstat(descriptor).st_size for descriptor in files.values())
    request = message(Path("/nonexistent"), plan, rows, checkpoint, key, date=date,
                      files={name: path(d) for name, d in files.items()}, target=path(target))
    try:
        return _run(request, sizes)
    except (bounded.LimitExceeded, bounded.ParserFailed) as error:
        os.ftruncate(target, 0)
        raise ConsolidationFailed(str(error)) from None


# --- the helper's side ----------------------------------------------------------------------


def _front_matter(
    fields: dict[str, Any], plan: BundlePlan, counts: list[int | None]
) -> tuple[bytes, int]:
    """The front matter's PDF and the pages it takes (the blank pages that pad it included:
    front_matter.document adds them). Each pass is laid out and its pages counted; only the
    one that settles is written as a PDF (a pass that comes out longer than assumed is never
    written, though writing is now ~0.01 s of a 0.15 s pass of 200 exhibits)."""
    assumed = FIRST_GUESS
    for _ in range(MAX_PASSES):
        laid_out = front_matter.document(plan, fields["rows"], counts, assumed,
                                         fields["checkpoint"], fields["key"], fields["date"])
        pages = len(laid_out.pages)
        if pages <= assumed:
            written = laid_out.write(title=f"Consolidated exhibits: {plan.filing_title}")
            return written, assumed
        assumed = pages
    raise ConsolidationFailed("the index's length did not settle")  # pragma: no cover


def _page_counts(
    rows: Sequence[dict[str, str]], where: Callable[[str], Path]
) -> list[int | None]:
    import pikepdf  # noqa: PLC0415 - the helper's import

    counts: list[int | None] = []
    for row in rows:
        if not row["rendition"]:
            counts.append(None)
            continue
        with pikepdf.open(where(row["rendition"])) as rendition:  # its page tree only
            counts.append(len(rendition.pages))
    return counts


def _join(
    front: Path, rows: Sequence[dict[str, str]], joined: Path, where: Callable[[str], Path]
) -> None:
    """The front matter and every rendition, in order, into `joined`: qpdf's own page
    assembly (QPDFJob, as `qpdf --empty --pages ...`), which copies each page's streams from
    its file as it writes, undecoded, and keeps at most 200 files open at once. (Pages copied
    with pikepdf's `pages.extend` are read into memory first: pikepdf copies foreign streams
    immediately, 190 MiB of RSS for 176 MiB of renditions; this way, 43 MiB.)"""
    import pikepdf  # noqa: PLC0415 - the helper's import

    job = pikepdf.Job({
        "empty": "",
        "outputFile": str(joined),
        "decodeLevel": "none",
        "pages": [{"file": str(front)}]
        + [{"file": str(where(row["rendition"]))} for row in rows if row["rendition"]],
    })
    job.run()
    if job.exit_code not in {0, 3}:  # 3: warnings only
        raise ConsolidationFailed(f"qpdf could not join the renditions (exit {job.exit_code})")


def build_in_helper(request: bytes) -> dict[str, Any]:
    fields = json.loads(request)
    root = Path(fields["root"])
    files: dict[str, str] | None = fields.get("files")
    plan = BundlePlan(**{**fields["plan"], "exhibits": ()})
    rows: list[dict[str, str]] = fields["rows"]

    def where(relative: str) -> Path:
        return Path(files[relative]) if files is not None else root / relative

    counts = _page_counts(rows, where)
    front_pdf, front = _front_matter(fields, plan, counts)
    with contextlib.ExitStack() as scratch:
        if files is None:
            # Beside the bag's files, never in data/; the writer removes its whole partial
            # folder if this helper dies before removing them.
            front_file = root / ".consolidated-front.pdf"
            joined = root / ".consolidated-joined.pdf"
            target = root / TARGET
            for each in (front_file, joined):
                scratch.callback(each.unlink, missing_ok=True)
        else:
            # No folder: memory files, gone when closed (or when this helper dies).
            front_file, joined = (_memory_file(scratch, name) for name in ("front", "joined"))
            target = Path(fields["target"])
        _assemble(front_pdf, front, counts, rows, plan,
                  front_file=front_file, joined=joined, target=target, where=where)
    return {"pages": front + sum(count for count in counts if count is not None),
            "front": front, "exhibits": sum(1 for count in counts if count is not None)}


def _memory_file(scratch: contextlib.ExitStack, name: str) -> Path:
    descriptor = os.memfd_create(f"consolidated-{name}")
    scratch.callback(os.close, descriptor)
    return Path(f"/proc/self/fd/{descriptor}")


def _assemble(
    front_pdf: bytes,
    front: int,
    counts: list[int | None],
    rows: Sequence[dict[str, str]],
    plan: BundlePlan,
    *,
    front_file: Path,
    joined: Path,
    target: Path,
    where: Callable[[str], Path],
) -> None:
    import pikepdf  # noqa: PLC0415 - the helper's import

    front_file.write_bytes(front_pdf)
    _join(front_file, rows, joined, where)
    with pikepdf.open(joined) as out:
        total = front + sum(count for count in counts if count is not None)
        if len(out.pages) != total:
            raise ConsolidationFailed(f"{len(out.pages)} pages joined, {total} expected")
        starts = page_ranges(counts, front)
        with out.open_outline() as outline:
            outline.root.append(pikepdf.OutlineItem("Index of exhibits", 1))  # after the cover
            outline.root.extend(
                pikepdf.OutlineItem(bookmark(row), pages[0] - 1)
                for row, pages in zip(rows, starts, strict=True)
                if pages is not None
            )
        out.Root.PageMode = pikepdf.Name.UseOutlines  # the bookmark pane open on opening
        out.docinfo["/Title"] = f"Consolidated exhibits: {plan.filing_title}"
        out.docinfo["/Creator"] = "Casefile"
        out.docinfo["/Producer"] = "Casefile"
        # The joined file's streams are copied as they are, read from it as written.
        with target.open("wb") as stream:
            out.save(stream, stream_decode_level=pikepdf.StreamDecodeLevel.none)

