"""The exporting process's heap kept between chunks (casefile/bundle/heap.py): chunks of a
MiB freed and allocated again reuse the same pages instead of faulting in new ones."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CHURN = """
import resource, sys
if sys.argv[1] == "kept":
    from casefile.bundle import heap
    assert heap.keep_freed_memory()
def churn():
    for _ in range(50):  # as a bundle's chunks: a dozen MiB at once, freed, again
        held = [bytes(1 << 20) for _ in range(12)]
        del held
churn()  # the first round faults its pages in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return int(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_freed_chunks_are_reused_not_faulted_in_again():
    plain, kept = faults("plain"), faults("kept")
    # 600 MiB allocated and freed a dozen at a time: without it, glibc hands the top of its
    # heap back and faults it in again (~150,000 faults of 4 KiB); with it, next to none.
    assert kept * 10 < plain, (kept, plain)
