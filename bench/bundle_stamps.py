"""What stamping a court bundle's renditions costs (casefile/bundle/stamping.py): the helper
process's work, `render_in_helper`, called here in this process so that its CPU is this
process's (time.process_time): a 3-page PDF (ReportLab text) and a JPEG (1600 x 1200,
Pillow), each stamped `--count` times in a row, `--rounds` times. The first rendition of a
process (imports, fonts) is timed apart. Prints figures, asserts nothing.

Compare two checkouts by alternating them (the machine is shared: compare CPU, not wall):

    PYTHONPATH=/work/main .venv/bin/python bench/bundle_stamps.py
    PYTHONPATH=$PWD .venv/bin/python bench/bundle_stamps.py --label "ပူးတွဲ ၃"
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from collections.abc import Callable


def three_page_pdf() -> bytes:
    from reportlab.lib.pagesizes import A4  # noqa: PLC0415
    from reportlab.pdfgen import canvas  # noqa: PLC0415

    out = io.BytesIO()
    drawing = canvas.Canvas(out, pagesize=A4)
    for number in range(1, 4):
        for line in range(40):
            drawing.drawString(72, 760 - 16 * line, f"Witness statement, page {number}, "
                               f"line {line + 1}: what the witness saw that morning.")
        drawing.showPage()
    drawing.save()
    return out.getvalue()


def jpeg() -> bytes:
    from PIL import Image  # noqa: PLC0415

    image = Image.radial_gradient("L").resize((1600, 1200)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def message(mime: str, data: bytes, label: str, classification: str) -> bytes:
    header = {"mime": mime, "label": label, "ern": "MMR-OTP-0001-0001",
              "classification": classification}
    return json.dumps(header).encode("utf-8") + b"\n" + data


def cpu(action: Callable[[], object]) -> float:
    start = time.process_time()
    action()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--label", default="Annex 3")
    parser.add_argument("--classification", default="confidential")
    options = parser.parse_args()
    from casefile.bundle import stamping  # noqa: PLC0415

    print(f"stamping from {stamping.__file__}")
    kinds = {"3-page PDF": message("application/pdf", three_page_pdf(), options.label,
                                   options.classification),
             "JPEG": message("image/jpeg", jpeg(), options.label, options.classification)}
    first = cpu(lambda: stamping.render_in_helper(kinds["3-page PDF"]))
    print(f"first rendition of the process: {first:.3f} s CPU")
    for kind, sent in kinds.items():
        totals = [cpu(lambda sent=sent: [stamping.render_in_helper(sent)
                                         for _ in range(options.count)])
                  for _ in range(options.rounds)]
        each = [1000 * total / options.count for total in totals]
        print(f"{kind}: {options.count} renditions, {options.rounds} rounds: "
              f"{' '.join(f'{total:.2f}' for total in totals)} s CPU; per rendition "
              f"{statistics.median(each):.1f} ms (min {min(each):.1f}, max {max(each):.1f})")


if __name__ == "__main__":
    main()
