"""`casefile backup` and `casefile restore` on an instance of N items (SQLite, local store).

Builds a throwaway instance in a temporary folder with the CLI (`init`, `users create`,
`cases create`, `ingest` of N generated files of S KiB each), then runs, each as its own
process and timed: `backup OUT`, `restore OUT` into a second, empty instance (with the
source's KEK and signing key copied, as for a backup without keys), `custody verify` and
`scrub` on the restored one. Prints the times, the backup's size and its row counts.

    .venv/bin/python bench/backup_restore.py                # 1,000 items of 64 KiB
    .venv/bin/python bench/backup_restore.py -n 200 --kib 1024
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASEFILE = str(Path(sys.executable).with_name("casefile"))
PASSWORD = "bench passphrase of some length"  # noqa: S105 - a throwaway bench account


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [CASEFILE, *args],
        input=stdin,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"casefile {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout


def instance(folder: Path) -> dict[str, str]:
    return {
        "CASEFILE_INSTANCE": str(folder / "instance"),
        "CASEFILE_STORAGE_URL": (folder / "storage").as_uri(),
        "CASEFILE_CONFIG": "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--items", type=int, default=1000)
    parser.add_argument("--kib", type=int, default=64)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="casefile-bench-backup-") as temp:
        root = Path(temp)
        source = instance(root / "source")
        run(source, "init")
        run(source, "users", "create", "lead@example.org", "--password-stdin", stdin=PASSWORD)
        _, created = run(
            source, "cases", "create", "--as", "lead@example.org", "--title", "Bench",
            "--forum", "icc",
        )  # fmt: skip
        case_id = re.search(r"created case (\S+)", created).group(1)  # type: ignore[union-attr]
        files = root / "files"
        files.mkdir()
        for number in range(options.items):
            (files / f"item-{number:06d}.bin").write_bytes(
                number.to_bytes(8, "big") + os.urandom(options.kib * 1024 - 8)
            )
        took, _ = run(source, "ingest", case_id, str(files), "--as", "lead@example.org")
        print(f"ingest {options.items} items of {options.kib} KiB: {took:.1f} s")

        out = root / "backup"
        took, _ = run(source, "backup", str(out))
        inventory = json.loads((out / "inventory.json").read_text())
        size = sum(entry["size"] for entry in inventory["files"])
        rows = {table["name"]: table["rows"] for table in inventory["tables"]}
        print(
            f"backup: {took:.1f} s, {size / 2**20:.1f} MiB in {len(inventory['files'])} files, "
            f"{rows['evidence']} items, {rows['custody_entries']} custody entries"
        )

        target = instance(root / "target")
        (root / "target" / "instance").mkdir(mode=0o700, parents=True)
        for name in ("kek.json", "custody_signing_key.pem"):
            shutil.copy2(root / "source" / "instance" / name, root / "target" / "instance" / name)
        took, _ = run(target, "restore", str(out))
        print(f"restore (checks every file's SHA-256 and every data key, verifies the log): "
              f"{took:.1f} s")  # fmt: skip
        took, _ = run(target, "custody", "verify")
        print(f"custody verify on the restored instance: {took:.1f} s")
        took, _ = run(target, "scrub")
        print(f"scrub on the restored instance: {took:.1f} s")


if __name__ == "__main__":
    main()
