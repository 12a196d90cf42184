"""A custody report as PDF: the entries, their hashes and proofs, the signed checkpoint, and
how to check them by hand. The JSON report beside it is the authoritative form.

The PDF is an HTML template (templates/custody_report.html) laid out by WeasyPrint, whose
Pango and HarfBuzz shape every script: Burmese titles and actor names come out with their
medials and vowel signs reordered and stacked as a reader expects, which ReportLab could not
do. The fonts are named by family in the template; Debian's fonts-sil-padauk provides Padauk.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2

HOW_TO_VERIFY = (
    "How to check this report without Casefile: (1) for each entry, serialise its fields "
    "action, actor, case, details, item, seq, time as JSON with sorted keys, no whitespace, "
    "UTF-8 (RFC 8785); its leaf hash is SHA-256 of the byte 0x00 followed by those bytes. "
    "(2) Check each inclusion proof against the root in the checkpoint, per RFC 9162 "
    "section 2.1.3.2. (3) Check the checkpoint's Ed25519 signature with the published "
    "verifier key (C2SP signed note). The JSON version of this report holds the same data "
    "in machine-readable form; docs/custody.md gives a 10-line script. A redacted entry "
    "concerns an item the reader has no access to: it shows only its sequence number, time "
    "and leaf hash, which its inclusion proof still checks against the checkpoint. The "
    "signed checkpoint below is one the log must extend from now on: keep it, and check "
    "the log against it with `casefile custody verify --trusted`."
)
REDACTED = "concerns an item you have no access to; its leaf hash is in the signed log"
TEMPLATE = "custody_report.html"

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("casefile.documents", "templates"),
    autoescape=True,  # titles, names and details are user text: shown, never interpreted
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    proof = entry["inclusion_proof"]
    if entry.get("redacted") is True:
        actor, action, details = "", "redacted", REDACTED
    else:
        actor, action = entry["actor"]["label"], entry["action"]
        details = json.dumps(entry["details"], ensure_ascii=False, sort_keys=True)
    date, separator, clock = entry["time"].partition("T")
    return {
        "seq": entry["seq"],
        # Line breaks only where a reader expects them: after the date, after a dot.
        "date": date + separator,
        "clock": clock,
        "actor": actor,
        "action": [part + "." for part in action.split(".")[:-1]] + [action.split(".")[-1]],
        "details": details,
        "hashes": [f"leaf {entry['leaf_hash']}"]
        + [f"p{n} {value}" for n, value in enumerate(proof["hashes"])],
        "tree_size": proof["tree_size"],
    }


def html(report: dict[str, Any], title: str) -> str:
    """The report as the HTML document the PDF is laid out from."""
    return _templates.get_template(TEMPLATE).render(
        title=title,
        how_to_verify=HOW_TO_VERIFY,
        checkpoint=report["checkpoint"],
        verifier_key=str(report.get("verifier_key")),
        rows=[_row(entry) for entry in report["entries"]],
    )


def render(report: dict[str, Any], title: str) -> bytes:
    # Imported on first use: WeasyPrint loads Pango and fontTools (about 23 MiB and 0.4 s CPU
    # per process), which every server worker would otherwise pay for a rarely used route.
    import weasyprint  # type: ignore[import-untyped]  # noqa: PLC0415 - no type hints shipped

    # The report needs nothing from outside (fonts come from fontconfig): refuse every URL,
    # so no text in it could make the writer read a local file or the network.
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols=set())
    pdf = weasyprint.HTML(string=html(report, title), url_fetcher=fetcher).write_pdf()
    if not isinstance(pdf, bytes):  # None only when given a target to write to
        raise TypeError("WeasyPrint returned no PDF")
    return pdf
