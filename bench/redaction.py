"""How long a redaction takes and what it makes (casefile/vault/redaction.py): a text PDF
rasterised at 150 dpi in the bounded helper process, one box per page filled, the pages
written as an image-only PDF; and a 12-megapixel JPEG photograph. Prints figures (time,
pages per second, sizes, the helper's peak memory), asserts nothing.

    .venv/bin/python bench/redaction.py              # a 50-page PDF and a 4000 x 3000 photo
    .venv/bin/python bench/redaction.py --pages 100  # the most a redaction takes
"""

from __future__ import annotations

import argparse
import io
import resource
import time

from PIL import Image

from bench.pdf_pages import text_pdf
from casefile.vault import bounded, redaction
from casefile.vault.redaction import Box


def photo(width: int, height: int) -> bytes:
    image = Image.effect_noise((width, height), 40).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def helper_peak_mib() -> float:
    """The largest resident size of any helper ended so far (ru_maxrss of children, KiB)."""
    bounded.close_helpers()  # idle helpers exit, so that their peak is counted
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50)
    pages = parser.parse_args().pages
    pdf = text_pdf(pages)
    boxes = [Box(page, 0.1, 0.05, 0.5, 0.04) for page in range(1, pages + 1)]
    redaction.redact(text_pdf(1), "application/pdf", [Box(1, 0.1, 0.1, 0.1, 0.1)])  # warm up
    started = time.perf_counter()
    result = redaction.redact(pdf, "application/pdf", boxes)
    seconds = time.perf_counter() - started
    print(f"PDF of {pages} pages, {len(pdf):,} bytes → {len(result.content):,} bytes "
          f"({len(result.content) / pages / 1024:.0f} KiB a page) at {redaction.DPI} dpi")
    print(f"  {seconds:.1f} s, {pages / seconds:.1f} pages/s (limit {redaction.SECONDS:.0f} s "
          f"for at most {redaction.MAX_PAGES} pages)")
    print(f"  helper peak RSS {helper_peak_mib():.0f} MiB (address space limit "
          f"{redaction.MEMORY // (1024 * 1024)} MiB)")
    jpeg = photo(4000, 3000)
    started = time.perf_counter()
    result = redaction.redact(jpeg, "image/jpeg", [Box(1, 0.4, 0.4, 0.2, 0.2)])
    seconds = time.perf_counter() - started
    print(f"JPEG 4000 x 3000, {len(jpeg):,} bytes → {len(result.content):,} bytes: "
          f"{seconds:.2f} s (helper peak RSS: the largest so far, {helper_peak_mib():.0f} MiB)")


if __name__ == "__main__":
    main()
