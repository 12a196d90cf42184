"""The custody report PDF for reports of many entries: time and the process's peak memory.

Each size runs in a fresh Python process (so its peak RSS is its own): it builds a report of
N entries as casefile.logic.custody.reports returns one (a third with Burmese details and
actor names, one in ten redacted, inclusion proofs of 20 hashes as for a log of a million
entries) and renders it with casefile.documents.custody_report_pdf.render, reporting pages,
wall and CPU seconds (the machine may be shared), PDF size and peak RSS. Nothing is asserted.

With --warm N, the process then lays out the same report N more times, as a bundle's helper
lays out one report per exhibit (fonts loaded once, shaping and paragraphs cached), and the
last column gives the CPU milliseconds per report averaged over those N (the first, cold
render and the import are left out). `--sizes 1 --warm 50` is the bundle's case: an exhibit
with one entry.

    .venv/bin/python bench/custody_report_pdf.py                    # 100 and 1,000 entries
    .venv/bin/python bench/custody_report_pdf.py --sizes 10 100 1000 5000
    .venv/bin/python bench/custody_report_pdf.py --sizes 1 100 --warm 50
    .venv/bin/python bench/custody_report_pdf.py --sizes 1 100 --warm 50 --distinct
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

BURMESE = ("ရခိုင်ပြည်နယ် မောင်တော မြို့နယ်", "ဒေါ်အောင်", "ထွေထွေ မြန်မာ")


def report(entries: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for seq in range(entries):
        proof = {"leaf_index": seq, "tree_size": 1_000_000,
                 "hashes": [f"{seq + level:064x}" for level in range(20)]}
        time_ = f"2026-11-{1 + seq % 28:02d}T10:{seq % 60:02d}:00.000000Z"
        if seq % 10 == 9:
            rows.append({"seq": seq, "time": time_, "leaf_hash": f"{seq:064x}",
                         "redacted": True, "inclusion_proof": proof})
            continue
        burmese = seq % 3 == 0
        rows.append({
            "seq": seq, "time": time_,
            "actor": {"id": None, "label": BURMESE[1] if burmese else "Investigator K."},
            "action": "evidence.registered", "case": "c", "item": "i",
            "details": {"ern": f"MMR-OTP-0001-{seq:04d}",
                        "title": BURMESE[0] if burmese else "Witness statement W-17",
                        "sha256": f"{seq:064x}"},
            "leaf_hash": f"{seq:064x}", "inclusion_proof": proof,
        })
    return {"checkpoint": "casefile.example/custody\n1000000\n" + "A" * 43 + "=\n\n— k+0000 x\n",
            "verifier_key": "casefile.example+0badf00d+AQIDBA==", "entries": rows}


def distinct(data: dict[str, Any], number: int) -> dict[str, Any]:
    """The report as another exhibit's: other hashes, ERNs and times (what a bundle's
    helper sees from one report to the next), so that per-process caches hit only what
    reports really share."""
    rows = []
    for row in data["entries"]:
        hashes = row["inclusion_proof"]["hashes"]
        proof = {**row["inclusion_proof"],
                 "hashes": [f"{number:08x}{value[8:]}" for value in hashes]}
        changed = {**row, "leaf_hash": f"{number:08x}{row['leaf_hash'][8:]}",
                   "time": row["time"].replace("T10:", f"T{number % 24:02d}:"),
                   "inclusion_proof": proof}
        if "details" in row:
            changed["details"] = {**row["details"], "ern": f"MMR-OTP-{number:04d}-{row['seq']:04d}"}
        rows.append(changed)
    return {**data, "entries": rows}


def measure(entries: int, warm: int, vary: bool) -> dict[str, Any]:
    from pypdf import PdfReader  # noqa: PLC0415 - imported in the measuring process only

    from casefile.documents import custody_report_pdf  # noqa: PLC0415

    data = report(entries)
    title = f"Custody report: {BURMESE[2]} (bench)"
    start, start_cpu = time.perf_counter(), time.process_time()
    pdf = custody_report_pdf.render(data, title)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    figures = {"entries": entries, "pages": len(PdfReader(io.BytesIO(pdf)).pages),
               "seconds": seconds, "cpu": cpu, "pdf_mib": len(pdf) / 2**20}
    if warm:
        reports = [(distinct(data, number) if vary else data,
                    f"{title} {number}" if vary else title) for number in range(warm)]
        start_cpu = time.process_time()
        for one, named in reports:
            custody_report_pdf.render(one, named)
        figures["warm_cpu_ms"] = 1000 * (time.process_time() - start_cpu) / warm
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--warm", type=int, default=0, metavar="N",
                        help="then lay the same report out N times: CPU ms per report")
    parser.add_argument("--distinct", action="store_true",
                        help="with --warm, N reports that differ (hashes, ERNs, times, title)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one is not None:
        print(json.dumps(measure(arguments.one, arguments.warm, arguments.distinct)))
        return
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    warm_column = f" {'warm CPU ms/report':>19}" if arguments.warm else ""
    print(f"{'entries':>8} {'pages':>6} {'seconds':>8} {'CPU s':>7} {'CPU ms/entry':>13} "
          f"{'PDF MiB':>8} {'peak RSS MiB':>13}{warm_column}")
    for size in arguments.sizes:
        result = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--warm", str(arguments.warm),
             *(["--distinct"] if arguments.distinct else [])],
            capture_output=True, text=True, check=True)
        figures = json.loads(result.stdout)
        warm = f" {figures['warm_cpu_ms']:>19.1f}" if arguments.warm else ""
        print(f"{figures['entries']:>8} {figures['pages']:>6} {figures['seconds']:>8.2f} "
              f"{figures['cpu']:>7.2f} {1000 * figures['cpu'] / figures['entries']:>13.1f} "
              f"{figures['pdf_mib']:>8.2f} {figures['peak_rss_mib']:>13.0f}{warm}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
