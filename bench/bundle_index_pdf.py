"""CPU time of a bundle's two laid-out documents besides the custody reports, for N
exhibits, each in a fresh process as a bundle helper makes them: data/index.pdf
(`index.render_in_helper`) and the consolidated PDF's cover and index with all their passes
(`consolidated._front_matter`). Imports are counted apart. Alternate old and new code with
PYTHONPATH (the machine is shared: compare CPU, not wall time):

    PYTHONPATH=. .venv/bin/python bench/bundle_index_pdf.py -n 200 --runs 3
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/bundle_index_pdf.py -n 200
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys

CHECKPOINT = ("casefile.example/log\n1234\nq83vEjJgkq0Dn8Yb1pY0YcCwZqvl1Rzb+Kp2x0XoI0g=\n\n"
              "\u2014 casefile.example/log+1a2b3c4d+AbCdEfGhIjKlMnOpQrStUvWxYz0123=\n")
KEY = "casefile.example/log+1a2b3c4d+AU1vJ4fBV+5rZm3ZkD5h1qzVpS2hA0jJ9O4n9W0bXl5a"
BURMESE = "မြန်မာနိုင်ငံ လူ့အခွင့်အရေး"


def rows(count: int) -> list[dict[str, str]]:
    """One title in three Burmese, one exhibit in seven without a rendition."""
    return [{
        "number": f"Annex {number}", "ern": f"MMR-OTP-0002-{number:04d}",
        "title": BURMESE if number % 3 == 0 else
        f"Witness statement of a resident of Tula Toli concerning August 2017, part {number}",
        "date": "2017-08-30", "type": "application/pdf", "source": "OTP field mission",
        "classification": "confidential", "language": "my", "original_name": f"s{number}.pdf",
        "size": str(123456 * number), "sha256": hashlib.sha256(str(number).encode()).hexdigest(),
        "file": f"data/exhibits/{number}/s.pdf",
        "rendition": f"data/exhibits/{number}/rendition.pdf" if number % 7 else "",
        "custody_report": f"data/custody/{number}.pdf",
    } for number in range(1, count + 1)]


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def child(count: int) -> None:
    start = cpu()
    # What the helpers preload (warm.py): WeasyPrint (still, for the stamps) and the custody
    # report's writer, its fonts loaded (custody_warm).
    import weasyprint  # type: ignore[import-untyped]  # noqa: F401, PLC0415

    from casefile.bundle import consolidated, custody_warm, index  # noqa: F401, PLC0415
    from casefile.bundle.plan import BundlePlan  # noqa: PLC0415
    imported = cpu()
    plan = BundlePlan(filing_id="F-1", filing_title=f"{BURMESE} — Memorial of The Gambia",
                      forum="ICJ", classification="confidential", exhibits=(),
                      case_title="The Gambia v. Myanmar")
    given = rows(count)
    fields = {"plan": {**plan.__dict__, "exhibits": []}, "rows": given,
              "checkpoint": CHECKPOINT, "key": KEY, "date": "2026-12-08"}
    index.render_in_helper(json.dumps(fields).encode())
    laid_index = cpu()
    counts = [2 if row["rendition"] else None for row in given]
    # Its pages second, whether blank pages to add follow (older code) or not.
    front = consolidated._front_matter(fields, plan, counts)[1]  # noqa: SLF001
    done = cpu()
    print(json.dumps({"import": imported - start, "index": laid_index - imported,
                      "front": done - laid_index, "front_pages": front}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="exhibits")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.n)
        return
    for _ in range(arguments.runs):
        done = subprocess.run([sys.executable, __file__, "--child", "-n", str(arguments.n)],
                              capture_output=True, text=True, check=True)
        got = json.loads(done.stdout)
        print(f"import {got['import']:.2f} s  index {got['index']:.2f} s  "
              f"front matter {got['front']:.2f} s ({got['front_pages']} pages) of CPU")


if __name__ == "__main__":
    main()
