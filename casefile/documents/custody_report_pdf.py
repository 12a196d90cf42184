"""A custody report as PDF: the entries, their hashes and proofs, the signed checkpoint, and
how to check them by hand. The JSON report beside it is the authoritative form."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    LongTable,
    Paragraph,
    Preformatted,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
)

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


def _font() -> str:
    for path in FONT_CANDIDATES:
        if path.exists():
            name = "CasefileSans"
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(name, str(path)))
            return name
    return "Helvetica"


def render(report: dict[str, Any], title: str) -> bytes:
    font = _font()
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontName=font, fontSize=8.5)
    small = ParagraphStyle("small", parent=body, fontSize=7, leading=8.5)
    heading = ParagraphStyle("heading", parent=styles["Heading1"], fontName=font)
    mono = ParagraphStyle("mono", parent=body, fontName="Courier", fontSize=7, leading=8.5)

    story: list[Any] = [
        Paragraph(escape(title), heading),
        Paragraph(escape(HOW_TO_VERIFY), body),
        Spacer(1, 4 * mm),
        Paragraph("Signed checkpoint", styles["Heading2"]),
        Preformatted(report["checkpoint"], mono),
        Paragraph(f"Verifier key: {escape(str(report.get('verifier_key')))}", small),
        Spacer(1, 4 * mm),
        Paragraph("Entries", styles["Heading2"]),
    ]
    rows: list[list[Any]] = [["Seq", "Time (UTC)", "Actor", "Action", "Details", "Hashes"]]
    for entry in report["entries"]:
        proof = entry["inclusion_proof"]
        hashes = "<br/>".join(
            [f"leaf {entry['leaf_hash']}"]
            + [f"p{n} {value}" for n, value in enumerate(proof["hashes"])]
        )
        if entry.get("redacted") is True:
            actor, action, details = "", "redacted", REDACTED
        else:
            actor, action = entry["actor"]["label"], entry["action"]
            details = json.dumps(entry["details"], ensure_ascii=False, sort_keys=True)
        rows.append(
            [
                Paragraph(str(entry["seq"]), small),
                Paragraph(escape(entry["time"]), small),
                Paragraph(escape(actor), small),
                Paragraph(escape(action), small),
                Paragraph(escape(details), small),
                Paragraph(
                    f"<font face='Courier' size='5'>{hashes}</font>"
                    f"<br/>tree size {proof['tree_size']}",
                    small,
                ),
            ]
        )
    table = LongTable(
        rows,
        colWidths=[10 * mm, 27 * mm, 30 * mm, 22 * mm, 45 * mm, 50 * mm],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), font),
                ("FONTSIZE", (0, 0), (-1, 0), 7.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ecf0")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story.append(table)

    buffer = io.BytesIO()

    def number_pages(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawRightString(200 * mm, 8 * mm, f"Page {document.page}")
        canvas.restoreState()

    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=10 * mm,
        rightMargin=10 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=title,
        author="Casefile",
        invariant=True,
    )
    document.build(story, onFirstPage=number_pages, onLaterPages=number_pages)
    return buffer.getvalue()
