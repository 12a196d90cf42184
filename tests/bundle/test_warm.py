"""`casefile bundle` starts its layout helpers as its process starts (bundle/warm.py), before
the CLI's and the application's imports, which the helpers' own start then overlaps."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

from casefile.bundle import custody_pdfs, custody_warm, warm


def test_the_bundle_command_is_recognised_by_its_first_argument_that_is_no_option():
    assert warm.is_bundle_command(["bundle", "CASE", "ERN-1", "-o", "out"])
    assert warm.is_bundle_command(["--verbose", "bundle", "CASE"])
    assert not warm.is_bundle_command(["verify-bundle", "bundle"])
    assert not warm.is_bundle_command(["export", "bundle"])
    assert not warm.is_bundle_command(["--help"])
    assert not warm.is_bundle_command([])


def test_only_the_casefile_program_starts_helpers_not_a_process_importing_its_cli():
    assert warm.runs_bundle(["/venv/bin/casefile", "bundle", "CASE"])
    assert warm.runs_bundle(["casefile", "--verbose", "bundle", "CASE"])
    assert not warm.runs_bundle(["/venv/bin/pytest", "-k", "bundle"])
    assert not warm.runs_bundle(["/venv/bin/casefile", "export", "FILING"])
    assert not warm.runs_bundle([])


def test_the_helpers_preload_the_modules_that_lay_the_bundle_out():
    assert custody_pdfs.__name__ == warm.CUSTODY_MODULE
    assert custody_pdfs.WORKERS == warm.CUSTODY_WORKERS
    assert custody_warm.__name__ == warm.CUSTODY_WARM


PROBE = """
import json, sys
sys.argv = ["casefile", *sys.argv[1:]]
from casefile.vault import bounded
started = []
def prestart(count, *, memory_bytes, pool, preload):
    started.append({"count": count, "pool": pool, "preload": list(preload),
                    "app_loaded": any(name in sys.modules for name in ("flask", "sqlalchemy"))})
bounded.prestart = prestart
import casefile.cli
print(json.dumps(started))
"""


def probe(*arguments: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *arguments], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return list(json.loads(done.stdout))


def test_casefile_bundle_starts_its_helpers_before_importing_flask_or_sqlalchemy():
    started = probe("bundle", "CASE", "ERN-1", "-o", "out", "--as", "lead@example.org")
    assert started == [
        {"count": 2, "pool": "own",
         "preload": ["casefile.bundle.custody_warm", "casefile.bundle.custody_pdfs",
                     "casefile.bundle.index_pdf"],
         "app_loaded": False},
        {"count": 1, "pool": "files",
         "preload": ["casefile.bundle.custody_warm", "casefile.bundle.stamping",
                     "casefile.bundle.stamp_layout", "casefile.bundle.front_matter"],
         "app_loaded": False},
    ]


def test_every_module_the_helpers_preload_exists_and_none_is_weasyprint():
    started = probe("bundle", "CASE", "ERN-1", "-o", "out", "--as", "lead@example.org")
    names = [name for helper in started for name in helper["preload"]]  # type: ignore[attr-defined]
    assert names
    assert all(importlib.util.find_spec(name) is not None for name in names)
    assert not any(name.split(".")[0] == "weasyprint" for name in names)


def test_other_commands_start_no_helper():
    assert probe("verify-bundle", "somewhere") == []
