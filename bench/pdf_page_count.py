"""What counting a PDF's pages costs (casefile/vault/pdf_pages.count, used by the ICJ
750-page warning of logic/filings/warnings.py): PDFium in the bounded helper process, the
PDF over the pipe, the count back. Beside it, rendering one page of the same PDF (what the
preview does), so the figure reads as a ratio on a busy machine. Prints figures, asserts
nothing.

    .venv/bin/python bench/pdf_page_count.py                 # 10, 100 and 800 pages
    .venv/bin/python bench/pdf_page_count.py --pages 10 750
"""

from __future__ import annotations

import argparse
import statistics
import time

from pdf_pages import text_pdf  # bench/pdf_pages.py, beside this script

from casefile.vault import pdf_pages

ROUNDS = 5


def timed(action) -> tuple[float, float]:
    """Median wall and this process's CPU seconds of ROUNDS runs."""
    walls, cpus = [], []
    for _ in range(ROUNDS):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[10, 100, 800])
    sizes = parser.parse_args().pages
    pdf_pages.count(text_pdf(1))  # start a helper and import PDFium once
    print(f"median of {ROUNDS} runs; CPU is this process's (the helper's is not included)")
    for pages in sizes:
        pdf = text_pdf(pages)
        if pdf_pages.count(pdf) != pages:
            raise SystemExit(f"counted {pdf_pages.count(pdf)} pages of {pages}")
        count_wall, count_cpu = timed(lambda pdf=pdf: pdf_pages.count(pdf))
        render_wall, _ = timed(lambda pdf=pdf: pdf_pages.render(pdf, 1))
        print(
            f"{pages:5d} pages, {len(pdf) / 1024:8.0f} KiB: count {count_wall * 1000:6.1f} ms "
            f"(CPU here {count_cpu * 1000:4.0f} ms); render page 1 {render_wall * 1000:6.0f} ms; "
            f"count / render {count_wall / render_wall:4.2f}"
        )


if __name__ == "__main__":
    main()
