"""The bundle's index of exhibits, as CSV (what a registry's tools read; the verifier checks
each file against it) and as PDF (what a person reads: Burmese titles shaped by WeasyPrint)."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import jinja2

from casefile.bundle import stamping
from casefile.bundle.plan import BundlePlan
from casefile.bundle.stamping import BANNERS
from casefile.vault import bounded
from casefile.verifier.bundle_verifier import INDEX_COLUMNS

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("casefile.bundle", "templates"),
    autoescape=True,  # titles, sources and names are user text: shown, never interpreted
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def csv_bytes(rows: Sequence[dict[str, str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=INDEX_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: row[column] for column in INDEX_COLUMNS})
    return out.getvalue().encode("utf-8")


def html(plan: BundlePlan, rows: Sequence[dict[str, str]], checkpoint: str, key: str) -> str:
    banner = None if plan.classification == "public" else BANNERS.get(plan.classification)
    return _templates.get_template("index.html").render(
        plan=plan, rows=rows, banner=banner, checkpoint=checkpoint, key=key
    )


def pdf_bytes(plan: BundlePlan, rows: Sequence[dict[str, str]], checkpoint: str, key: str) -> bytes:
    """The index as PDF, laid out in a helper process: a long table's layout takes WeasyPrint
    ~0.2 MiB a row at its peak (40 MiB for 200 exhibits), which the exporting process, whose
    peak must not grow with the bundle, does not pay."""
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
    document = html(plan, fields["rows"], fields["checkpoint"], fields["key"])
    return {"pdf": base64.b64encode(stamping.weasyprint_pdf(document)).decode("ascii")}
