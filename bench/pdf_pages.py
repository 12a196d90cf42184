"""How long a PDF page takes to render for the preview (casefile/vault/pdf_pages.py): PDFium
in the bounded helper process, the PNG back over the pipe. Prints figures, asserts nothing.

    .venv/bin/python bench/pdf_pages.py            # a 20-page text PDF, every page once
    .venv/bin/python bench/pdf_pages.py --pages 5
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from reportlab.pdfgen import canvas

from casefile.vault import pdf_pages


def text_pdf(pages: int) -> bytes:
    out = io.BytesIO()
    document = canvas.Canvas(out)
    for number in range(pages):
        for line in range(50):
            document.drawString(72, 760 - line * 14, f"Witness statement W-17, page {number + 1}, "
                                f"line {line}: what was seen, where and when. " * 1)
        document.showPage()
    document.save()
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    pages = parser.parse_args().pages
    pdf = text_pdf(pages)
    started = time.perf_counter()
    pdf_pages.render(pdf, 1)
    first = time.perf_counter() - started  # includes starting the helper and importing PDFium
    times, sizes = [], []
    for number in range(1, pages + 1):
        started = time.perf_counter()
        page = pdf_pages.render(pdf, number)
        times.append(time.perf_counter() - started)
        sizes.append(len(page.png))
    print(f"PDF of {pages} pages, {len(pdf):,} bytes; page images {page.width} x {page.height}")
    print(f"first render (helper start): {first * 1000:.0f} ms")
    print(f"per page: median {statistics.median(times) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms (target: under 1 s)")
    print(f"PNG: median {statistics.median(sizes) / 1024:.0f} KiB, max {max(sizes) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
