"""The proof matrix of a case as PDF: each charged crime with its elements, what is linked to
each (ERN, strength, note) and its gaps, as the reader may see it (the matrix it is given
already leaves out what the reader may not see). Laid out by WeasyPrint from
templates/proof_matrix.html, so Burmese titles and notes are shaped as a reader expects; the
fonts are named by family (Padauk, from Debian's fonts-sil-padauk, for Burmese)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jinja2

from casefile.db import utcnow
from casefile.documents.custody_report_pdf import breakable

if TYPE_CHECKING:
    from casefile.logic.frameworks.matrix import Matrix

STRENGTHS = {
    "establishes": "Establishes",
    "supports": "Supports",
    "lead": "Lead to follow",
    "contests": "Contests",
}
GAP_MEANING = (
    "A gap is an element that no item the reader of this document may see supports or "
    "establishes (only leads, contesting items, or nothing). Items restricted to other "
    "members are not shown, counted or taken into account."
)

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("casefile.documents", "templates"),
    autoescape=True,  # titles and notes are user text: shown, never interpreted
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def html(built: Matrix, *, forum: str | None = None) -> str:
    case = built.case
    return _templates.get_template("proof_matrix.html").render(
        title=f"Proof matrix: {case.title}",
        case=case,
        forum=forum,
        matrix=built,
        strengths=STRENGTHS,
        gap_meaning=GAP_MEANING,
        made_at=utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        breakable=breakable,
    )


def render(built: Matrix, *, forum: str | None = None) -> bytes:
    import weasyprint  # type: ignore[import-untyped]  # noqa: PLC0415 - loaded on first use

    # Nothing from outside is needed (fonts come from fontconfig): refuse every URL.
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols=set())
    pdf = weasyprint.HTML(string=html(built, forum=forum), url_fetcher=fetcher).write_pdf()
    if not isinstance(pdf, bytes):
        raise TypeError("WeasyPrint returned no PDF")
    return pdf
