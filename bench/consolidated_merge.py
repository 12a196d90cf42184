"""The consolidated PDF of a bundle (bundle/consolidated.py) from N renditions of S MiB each:
Casefile's own build (pikepdf, streams copied undecoded; cover and index by front_matter.py)
against the same pages joined with pypdf (PdfWriter.append, then write), each in a child
process measured with os.wait4 (wall time, CPU time, peak RSS).

The renditions are made here: PDFs of P pages, each page a JPEG of random noise (stored as
is, incompressible), like the scanned exhibits that make bundles big.

    .venv/bin/python bench/consolidated_merge.py                  # 24 renditions of ~12 MiB
    .venv/bin/python bench/consolidated_merge.py -n 80 --mib 4
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 1 << 20


def make_renditions(root: Path, count: int, mib: float, pages: int) -> list[dict[str, str]]:
    from PIL import Image  # noqa: PLC0415
    from reportlab.lib.pagesizes import A4  # noqa: PLC0415
    from reportlab.lib.utils import ImageReader  # noqa: PLC0415
    from reportlab.pdfgen import canvas  # noqa: PLC0415

    side = 600
    while True:  # a noise JPEG of about mib / pages MiB
        noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        out = io.BytesIO()
        noise.save(out, "JPEG", quality=95)
        if out.tell() >= mib * MIB / pages or side > 6000:
            break
        side = int(side * 1.25)
    jpeg = out.getvalue()
    rows = []
    for number in range(1, count + 1):
        folder = root / "data" / "exhibits" / f"{number:04d}"
        folder.mkdir(parents=True)
        drawing = canvas.Canvas(str(folder / "rendition.pdf"), pagesize=A4)
        for page in range(pages):
            drawing.drawImage(ImageReader(io.BytesIO(jpeg)), 20, 20, 555, 800)
            drawing.drawString(30, 30, f"Annex {number} page {page + 1} of {pages}")
            drawing.showPage()
        drawing.save()
        rows.append({
            "number": f"Annex {number}", "ern": f"MMR-OTP-0001-{number:04d}",
            "title": f"Scanned statement {number}", "file": f"data/exhibits/{number:04d}/x.pdf",
            "rendition": f"data/exhibits/{number:04d}/rendition.pdf",
        })
    return rows


def message(root: Path, rows: list[dict[str, str]]) -> bytes:
    from casefile.verifier.signed_note import (  # noqa: PLC0415
        Checkpoint,
        generate_private_key,
        sign_note,
        verifier_key,
    )

    key = generate_private_key()
    origin = "bench.example/custody"
    note = sign_note(Checkpoint(origin, 10, bytes(32)).to_text(), origin, key)
    plan = {"filing_id": "bench", "filing_title": "Bench memorial", "forum": "ICJ",
            "classification": "confidential", "exhibits": [], "organization": "Bench",
            "case_title": "Bench v. Bench"}
    return json.dumps({"root": str(root), "plan": plan, "rows": rows, "checkpoint": note,
                       "key": verifier_key(origin, key.public_key()),
                       "date": "2026-12-07"}).encode()


def child(kind: str, root: Path) -> None:
    rows = json.loads((root / "rows.json").read_text())
    if kind == "pikepdf":
        from casefile.bundle import consolidated  # noqa: PLC0415

        consolidated.build_in_helper(message(root, rows))
        return
    from pypdf import PdfWriter  # noqa: PLC0415

    writer = PdfWriter()
    for row in rows:
        writer.append(str(root / row["rendition"]), outline_item=row["number"])
    with (root / "data" / "consolidated-pypdf.pdf").open("wb") as out:
        writer.write(out)


def measured(kind: str, root: Path) -> dict[str, float]:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--child", kind, str(root)])
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{kind} failed")
    return {"wall": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--renditions", type=int, default=24)
    parser.add_argument("--mib", type=float, default=12.0, help="MiB per rendition")
    parser.add_argument("--pages", type=int, default=3, help="pages per rendition")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=4, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.make:
        root = Path(options.make[0])
        rows = make_renditions(root, int(options.make[1]), float(options.make[2]),
                               int(options.make[3]))
        (root / "rows.json").write_text(json.dumps(rows))
        return
    if options.child:
        child(options.child[0], Path(options.child[1]))
        return
    print(f"load average before: {os.getloadavg()}  cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="casefile-bench-consolidated-") as temp:
        root = Path(temp)
        # Made by a child: a child's peak RSS counts its parent's at the fork (Linux keeps
        # it across exec), so this process stays small.
        subprocess.run([sys.executable, __file__, "--make", str(root), str(options.renditions),
                        str(options.mib), str(options.pages)], check=True)
        rows = json.loads((root / "rows.json").read_text())
        total = sum((root / row["rendition"]).stat().st_size for row in rows) / MIB
        print(f"{len(rows)} renditions of {options.pages} pages, {total:.1f} MiB in all")
        for kind, name in (("pikepdf", "consolidated.pdf"), ("pypdf", "consolidated-pypdf.pdf")):
            figures = measured(kind, root)
            size = (root / "data" / name).stat().st_size / MIB
            label = "Casefile's build (qpdf)" if kind == "pikepdf" else "pypdf"
            print(f"{label}: {figures['wall']:.2f} s wall, {figures['cpu']:.2f} s CPU, "
                  f"peak RSS {figures['rss_mib']:.1f} MiB, output {size:.1f} MiB")
            (root / "data" / name).unlink()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
