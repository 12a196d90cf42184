"""Imported by a custody report helper as it starts (warm.py's preload), before its first
call: loads the report's fonts (fontconfig, HarfBuzz) and lays out a small report once, so
that ICU's break iterators, the shaper and pydyf are ready. Importing it has that effect on
purpose: the helpers' preload imports modules by name and does nothing else."""

from __future__ import annotations

from casefile.documents import custody_report_pdf

custody_report_pdf.load()
