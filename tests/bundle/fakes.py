"""A bundle plan with real bytes, real custody reports and a real signed checkpoint, made
without a database: the custody log is a list of entries in memory, its tree MemoryNodes."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from casefile.bundle.plan import BundlePlan, ExhibitPlan, Sources
from casefile.verifier import merkle
from casefile.verifier.custody_entry import canonical_json, entry_bytes
from casefile.verifier.signed_note import (
    Checkpoint,
    generate_private_key,
    sign_note,
    verifier_key,
)

ORIGIN = "casefile.test/custody"
BURMESE_TITLE = "မြန်မာ သက်သေခံ စာရွက်စာတမ်း"


def three_page_pdf() -> bytes:
    out = io.BytesIO()
    drawing = canvas.Canvas(out, pagesize=A4)
    for number in range(1, 4):
        drawing.drawString(72, 720, f"Witness statement, page {number}")
        drawing.showPage()
    drawing.save()
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 90, 160)).save(out, "PNG")
    return out.getvalue()


@dataclass
class FakeLog:
    """Entries for each item, a checkpoint over them, and the reports with proofs."""

    key = generate_private_key()

    def __post_init__(self) -> None:
        self.entries: list[dict] = []

    def add(self, item_id: str, action: str, details: dict) -> None:
        seq = len(self.entries)
        fields = {
            "seq": seq, "time": f"2026-12-0{1 + seq % 5}T10:00:00.000000Z",
            "actor": {"id": None, "label": "operator on the server (command line)"},
            "action": action, "case": "6f1c8f0e-0000-4000-8000-000000000001",
            "item": item_id, "details": details,
        }
        data = entry_bytes(
            seq=seq, time=fields["time"], actor_id=None, actor_label=fields["actor"]["label"],
            action=action, case_id=fields["case"], item_id=item_id,
            details_json=canonical_json(details),
        )
        fields["leaf_hash"] = merkle.leaf_hash(data).hex()
        self.entries.append(fields)

    def checkpoint(self) -> str:
        nodes = merkle.MemoryNodes(bytes.fromhex(e["leaf_hash"]) for e in self.entries)
        self.nodes = nodes
        text = Checkpoint(ORIGIN, nodes.size, nodes.root()).to_text()
        return sign_note(text, ORIGIN, self.key)

    def report(self, item_id: str, ern: str, sha256: str, note: str) -> dict:
        size = Checkpoint.parse(note.split("\n\n", maxsplit=1)[0] + "\n").size
        entries = []
        for entry in self.entries:
            if entry["item"] != item_id or entry["seq"] >= size:
                continue
            proof = merkle.inclusion_proof(entry["seq"], size, self.nodes)
            entries.append({**entry, "inclusion_proof": {
                "leaf_index": entry["seq"], "tree_size": size,
                "hashes": [h.hex() for h in proof]}})
        return {"item": item_id, "ern": ern, "sha256": sha256, "entries": entries,
                "checkpoint": note, "verifier_key": verifier_key(ORIGIN, self.key.public_key())}


def exhibit(number: str, item: str, ern: str, data: bytes, mime: str, **fields) -> ExhibitPlan:
    return ExhibitPlan(
        number=number, item_id=item, ern=ern, title=fields.get("title", f"Item {ern}"),
        date="2026-11-30", mime=mime, source=fields.get("source", "field team"),
        classification=fields.get("classification", "confidential"),
        language=fields.get("language", "en"), original_name=fields.get("name", "file"),
        size=len(data), sha256=hashlib.sha256(data).hexdigest(),
    )


def plan_and_sources(contents: dict[str, bytes] | None = None, *, classification="confidential"):
    """Three exhibits (a 3-page PDF, a PNG, a binary file), their log, and the sources."""
    pdf, image, blob = three_page_pdf(), png(), bytes(range(256)) * 50
    contents = contents or {}
    log = FakeLog()
    items = [
        ("Annex 1", "11111111-1111-4111-8111-111111111111", "MMR-OTP-0001-0001", pdf,
         "application/pdf", {"title": BURMESE_TITLE, "language": "my", "name": "statement.pdf"}),
        ("Annex 2", "22222222-2222-4222-8222-222222222222", "MMR-OTP-0001-0002", image,
         "image/png", {"title": "Satellite image, Tula Toli", "name": "tula toli.png",
                       "classification": "public"}),
        ("Annex 3", "33333333-3333-4333-8333-333333333333", "MMR-OTP-0001-0003", blob,
         "application/octet-stream", {"title": "Phone extraction", "name": "dump.bin",
                                      "classification": "under_seal"}),
    ]
    exhibits = []
    data_by_item = {}
    for number, item, ern, data, mime, fields in items:
        exhibits.append(exhibit(number, item, ern, data, mime, **fields))
        data_by_item[item] = contents.get(item, data)
        log.add(item, "intake", {"ern": ern})
        log.add(item, "viewed", {"ern": ern, "page": 1})
    note = log.checkpoint()
    log.add(items[0][1], "downloaded", {"ern": items[0][2]})  # after the checkpoint: left out
    plan = BundlePlan(
        filing_id="ICJ-2026-07-memorial", filing_title="Memorial of The Gambia",
        forum="ICJ", classification=classification, exhibits=tuple(exhibits),
        organization="Casefile test instance", case_title="The Gambia v. Myanmar",
    )

    def content(exhibit):
        data = data_by_item[exhibit.item_id]
        for start in range(0, len(data), 4096):
            yield data[start:start + 4096]

    sources = Sources(
        content=content,
        custody_report=lambda e: log.report(e.item_id, e.ern, e.sha256, note),
        checkpoint=note,
        verifier_key=verifier_key(ORIGIN, log.key.public_key()),
        signing_key=log.key,
    )
    return plan, sources, log
