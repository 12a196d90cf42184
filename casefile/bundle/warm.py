"""The helper processes a court bundle lays its PDFs out in, started before anything else
(bounded.py): `casefile bundle` starts them as its process starts, before it imports the CLI
and the application (~0.9 s of CPU in which the other core would wait), so that each helper's
set-up overlaps that: our PDF text writer made ready (custody_warm.py: its fonts loaded, its
shaper and line breaker used once) for the custody reports, the index, the consolidated
PDF's front matter and the page stamps, none of which needs WeasyPrint any more. Light on
purpose: it imports the helpers' module and stamping.py (the standard library besides) and
names the modules the helpers preload without importing them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from casefile.bundle import stamping
from casefile.vault import bounded

# Helper processes laying out custody reports at once (the machine's cores: the writer's is
# mostly I/O).
CUSTODY_WORKERS = 2
CUSTODY_MODULE = "casefile.bundle.custody_pdfs"
CUSTODY_WARM = "casefile.bundle.custody_warm"  # its import readies the report's writer
INDEX_MODULE = "casefile.bundle.index_pdf"
STAMP_MODULE = "casefile.bundle.stamp_layout"
FRONT_MODULE = "casefile.bundle.front_matter"


def start() -> None:
    """CUSTODY_WORKERS helpers for the custody reports and the index (own documents), one
    for the renditions and the consolidated PDF (collectors' files), each with the text
    writer ready and the modules it will run imported. Those already idle count (a no-op
    the second time)."""
    bounded.prestart(CUSTODY_WORKERS, memory_bytes=stamping.HELPER_MEMORY, pool=bounded.OWN,
                     preload=(CUSTODY_WARM, CUSTODY_MODULE, INDEX_MODULE))
    bounded.prestart(1, memory_bytes=stamping.HELPER_MEMORY, pool=bounded.FILES,
                     preload=(CUSTODY_WARM, stamping.__name__, STAMP_MODULE, FRONT_MODULE))


def runs_bundle(argv: Sequence[str]) -> bool:
    """Whether this process is the `casefile` program running `casefile bundle` (argv as
    sys.argv): never a process that merely imports the CLI (a test runner given `-k bundle`)."""
    return bool(argv) and PurePath(argv[0]).name == "casefile" and is_bundle_command(argv[1:])


def is_bundle_command(arguments: Sequence[str]) -> bool:
    """Whether a command line (without the program's name) runs `casefile bundle`: its first
    argument that is not an option. A wrong answer costs only helpers started for nothing
    (closed as the process exits) or started later."""
    command = next((argument for argument in arguments if not argument.startswith("-")), None)
    return command == "bundle"
