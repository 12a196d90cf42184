"""The bundle's index of exhibits, as CSV (what a registry's tools read; the verifier checks
each file against it) and as PDF (what a person reads: Burmese titles shaped by WeasyPrint)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import jinja2

from casefile.bundle.plan import BundlePlan
from casefile.bundle.stamping import BANNERS
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
    import weasyprint  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy, used here only

    fetcher = weasyprint.urls.URLFetcher(allowed_protocols=set())
    pdf = weasyprint.HTML(string=html(plan, rows, checkpoint, key), url_fetcher=fetcher).write_pdf()
    if not isinstance(pdf, bytes):
        raise TypeError("WeasyPrint returned no PDF")
    return pdf
