"""The bundle's index of exhibits, as CSV (what a registry's tools read; the verifier checks
each file against it) and as PDF (what a person reads, laid out by index_pdf.py with the
custody report's writer: Burmese titles shaped by HarfBuzz)."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from casefile.bundle import stamping
from casefile.bundle.plan import BundlePlan
from casefile.vault import bounded
from casefile.verifier.bundle_verifier import INDEX_COLUMNS


def csv_bytes(rows: Sequence[dict[str, str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=INDEX_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: row[column] for column in INDEX_COLUMNS})
    return out.getvalue().encode("utf-8")


def pdf_bytes(plan: BundlePlan, rows: Sequence[dict[str, str]], checkpoint: str, key: str) -> bytes:
    """The index as PDF, laid out in a helper process: one of those that lay out the custody
    reports, whose writer (fonts, shaper, line breaker) is loaded and warm there (warm.py),
    and the exporting process, whose peak must not grow with the bundle, holds none of the
    layout (~10 MiB of fonts and laid-out lines)."""
    fields = asdict(plan)
    fields["exhibits"] = []  # the rows say what the index shows
    message = json.dumps(
        {"plan": fields, "rows": list(rows), "checkpoint": checkpoint, "key": key}
    ).encode("utf-8")
    answer = bounded.run(
        render_in_helper,
        message,
        seconds=stamping.HELPER_SECONDS,
        memory_bytes=stamping.HELPER_MEMORY,
        pool=bounded.OWN,  # never a helper that parsed a collector's file
    )
    return base64.b64decode(answer["pdf"])


def render_in_helper(message: bytes) -> dict[str, Any]:
    fields = json.loads(message)
    plan = BundlePlan(**{**fields["plan"], "exhibits": ()})
    from casefile.bundle import index_pdf  # noqa: PLC0415 - the helper's import

    pdf = index_pdf.pdf(plan, fields["rows"], fields["checkpoint"], fields["key"])
    return {"pdf": base64.b64encode(pdf).decode("ascii")}
