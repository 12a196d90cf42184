"""A court bundle of N exhibits totalling S bytes: `casefile bundle` against the same
machine's in-process decrypt -> hash -> write loop, its peak RSS, and `casefile
verify-bundle` against `sha256sum` on the same files.

Builds a throwaway instance with the CLI in a temporary folder (`init`, `users create`,
`cases create`, `ingest` of N generated files, one in ten of them a 3-page PDF that gets a
stamped rendition, the rest random bytes), then, each command as a child process measured
with os.wait4 (wall time, CPU time, peak RSS of that process):

1. the in-process loop: every item's blob unwrapped, decrypted, SHA-256 hashed and written
   to a file, in this process (the floor an export cannot beat). It runs twice, its output
   removed after each run, and the second run is the yardstick: on these virtual machines
   memory the guest freed more than a few seconds ago has gone back to the host (virtio
   free page reporting), and a write into the page cache that needs such pages costs ~10
   times the kernel CPU (dd of 2 GiB with fsync: 0.6 s of system time right after another
   2 GiB file was deleted, 6.6 s when 30 s had passed). The first run pays that or not
   depending on what the machine did before (the loop measured 4.5 s or 8.9 s for the same
   bytes); the second writes into the pages the first freed, as the bundle, right after it,
   writes into the pages the second freed;
2. `casefile bundle CASE ERN... -o OUT` (ratio of throughputs: target >= 50 %; peak RSS of
   the exporting process: target <= 250 MiB whatever the size). Its helper processes (custody
   PDFs, renditions, the index PDF: casefile/vault/bounded.py) are reported apart: the
   largest one's peak RSS and their summed CPU (the command runs in a Python that writes
   both as it exits, after the CLI has reaped its helpers);
3. `casefile verify-bundle OUT --key KEY` against `sha256sum` over every file of the bundle
   (target >= 50 %; verify computes SHA-256 and SHA-512 of each file, two threads).

    .venv/bin/python bench/bundle.py                            # 20 exhibits, 64 MiB
    .venv/bin/python bench/bundle.py -n 200 --total-mib 2048    # the issue's figures
    .venv/bin/python bench/bundle.py --zip                      # the bundle as a zip
    .venv/bin/python bench/bundle.py --no-consolidated          # without data/consolidated.pdf

The consolidated PDF (bundle/consolidated.py) is made in the bounded helper, whose memory is
not the bundling process's: its size and pages are printed; what it costs in time is the
difference with --no-consolidated; bench/consolidated_merge.py measures the helper's side
(time, peak RSS) against pypdf on bigger renditions.
"""

from __future__ import annotations

import argparse
import hashlib
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
LEAD = "lead@example.org"
MIB = 1 << 20


def measured(env: dict[str, str], *args: str, stdin: str | None = None) -> dict[str, float]:
    """Run a command as a child; its wall time, CPU time and peak RSS (os.wait4)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        list(args), env={**os.environ, **env}, stdin=subprocess.PIPE if stdin else None,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    if stdin:
        process.stdin.write(stdin)  # type: ignore[union-attr]
        process.stdin.close()  # type: ignore[union-attr]
    out = process.stdout.read()  # type: ignore[union-attr]
    err = process.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"{' '.join(args[:3])} failed ({process.returncode}):\n{out}\n{err}")
    return {"wall": elapsed, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024, "out": out}  # type: ignore[dict-item]


def casefile(env: dict[str, str], *args: str, stdin: str | None = None) -> dict[str, float]:
    return measured(env, CASEFILE, *args, stdin=stdin)


# The CLI run in a Python that, as it exits (after the CLI's own exit handlers have closed
# and reaped its helper processes), writes its own peak RSS and its children's: os.wait4's
# figure for the whole command is the largest of the process and its reaped children, which
# would hide whether the exporting process itself keeps within its budget.
SPLIT_USAGE = """
import atexit, json, resource, sys
path = sys.argv.pop(1)
def report():
    own, children = (resource.getrusage(who) for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    with open(path, "w") as handle:
        json.dump({"rss_mib": own.ru_maxrss / 1024, "cpu": own.ru_utime + own.ru_stime,
                   "system": own.ru_stime,
                   "helper_rss_mib": children.ru_maxrss / 1024,
                   "helper_cpu": children.ru_utime + children.ru_stime}, handle)
atexit.register(report)
if sys.argv[1] == "--no-consolidated":  # the bench's "without": no such switch in Casefile
    sys.argv.pop(1)
    from casefile.bundle import consolidated
    consolidated.wanted = lambda rows: False
sys.argv[0] = "casefile"
from casefile.cli import main
sys.exit(main())
"""


def casefile_split(env: dict[str, str], report: Path, *args: str) -> dict[str, float]:
    """As `casefile`, with the exporting process's own peak RSS and CPU apart from those of
    its helper processes (their largest peak, their summed CPU)."""
    took = measured(env, sys.executable, "-c", SPLIT_USAGE, str(report), *args)
    took.update(json.loads(report.read_text()))
    return took


def consolidated_figures(out: Path) -> str:
    """The consolidated PDF's size and pages (folder bundles only)."""
    pdf = out / "data" / "consolidated.pdf"
    if not out.is_dir():
        return "consolidated PDF: inside the zip (use a folder bundle for its figures)"
    if not pdf.exists():
        return "consolidated PDF: none"
    from pypdf import PdfReader  # noqa: PLC0415

    pages = len(PdfReader(pdf).pages)
    return f"consolidated PDF: {pdf.stat().st_size / MIB:.2f} MiB, {pages} pages"


def instance(folder: Path) -> dict[str, str]:
    return {
        "CASEFILE_INSTANCE": str(folder / "instance"),
        "CASEFILE_STORAGE_URL": (folder / "storage").as_uri(),
        "CASEFILE_CONFIG": "",
    }


def make_files(folder: Path, count: int, total: int) -> None:
    from reportlab.pdfgen import canvas  # noqa: PLC0415 - a development dependency

    folder.mkdir()
    each = total // count
    for number in range(count):
        if number % 10 == 9:
            drawing = canvas.Canvas(str(folder / f"item-{number:05d}.pdf"))
            for page in range(3):
                drawing.drawString(72, 720, f"Exhibit {number}, page {page + 1}")
                drawing.showPage()
            drawing.save()
            continue
        with (folder / f"item-{number:05d}.bin").open("wb") as handle:
            left = each
            while left:
                block = min(left, 8 * MIB)
                handle.write(os.urandom(block))
                left -= block


def in_process_loop(env: dict[str, str], out: Path, *, direct: bool = False) -> dict[str, float]:
    """Unwrap, decrypt, SHA-256 and write every item, in this process; with `direct`, each
    file written around the page cache as the bundle writes its files (bundle/direct_file.py),
    then fsynced as in the plain loop."""
    os.environ.update(env)
    from sqlalchemy import select  # noqa: PLC0415

    from casefile import create_app  # noqa: PLC0415
    from casefile.bundle.direct_file import DirectFile  # noqa: PLC0415
    from casefile.model import Evidence  # noqa: PLC0415
    from casefile.settings import load_settings  # noqa: PLC0415

    app = create_app(load_settings())
    database, store = app.extensions["casefile.db"], app.extensions["casefile.blobs"]
    keyring = app.extensions["casefile.keyring"].get()
    out.mkdir()
    started, cpu = time.perf_counter(), time.process_time()
    with app.app_context(), database.session() as session:
        items = list(session.scalars(select(Evidence).order_by(Evidence.seq)))
        for item in items:
            cipher = keyring.unwrap(item.wrapped_key, item.id.bytes)
            digest = hashlib.sha256()
            opened = DirectFile(out / item.ern) if direct else (out / item.ern).open("wb")
            with store.open(item.blob_id) as blob, opened as target:
                plain = cipher.new_decrypting_stream(blob, item.content_owner.bytes)
                while chunk := plain.read(MIB):
                    digest.update(chunk)
                    target.write(chunk)
                target.flush()
                os.fsync(target.fileno())
            if digest.hexdigest() != item.sha256:
                sys.exit(f"{item.ern}: wrong SHA-256")
    database.engine.dispose()
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def on_disk_mib(out: Path) -> float:
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / MIB


def main() -> None:  # noqa: PLR0915 - one run, printed in order
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--exhibits", type=int, default=20)
    parser.add_argument("--total-mib", type=int, default=64)
    parser.add_argument("--zip", action="store_true", help="write the bundle as a zip")
    parser.add_argument("--age", action="store_true",
                        help="the zip encrypted with age (implies --zip), decrypted to verify")
    parser.add_argument("--no-consolidated", action="store_true",
                        help="leave data/consolidated.pdf out (to measure what it costs)")
    options = parser.parse_args()
    options.zip = options.zip or options.age
    print(f"load average before: {os.getloadavg()}  cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="casefile-bench-bundle-") as temp:
        root = Path(temp)
        env = instance(root / "vault")
        casefile(env, "init")
        casefile(env, "users", "create", LEAD, "--password-stdin", stdin=PASSWORD + "\n")
        created = casefile(env, "cases", "create", "--as", LEAD, "--title", "Bench",
                           "--forum", "icj")["out"]
        case_id = re.search(r"created case (\S+)", str(created)).group(1)  # type: ignore[union-attr]
        make_files(root / "files", options.exhibits, options.total_mib * MIB)
        took = casefile(env, "ingest", case_id, str(root / "files"), "--as", LEAD)
        print(f"ingest {options.exhibits} files: {took['wall']:.1f} s")

        from sqlalchemy import create_engine, text  # noqa: PLC0415

        database = root / "vault" / "instance"
        url = next(f"sqlite:///{p}" for p in database.glob("*.sqlite3"))
        engine = create_engine(url)
        with engine.connect() as connection:
            erns = list(connection.scalars(text("SELECT ern FROM evidence ORDER BY seq")))
            size = int(connection.scalar(text("SELECT SUM(size) FROM evidence")) or 0)
        engine.dispose()
        mib = size / MIB
        print(f"{len(erns)} items, {mib:.1f} MiB")

        # The loop twice, its output removed after each (module docstring: the second run
        # writes into the page cache's pages the first freed, as the bundle then does).
        loops = []
        for run in ("first", "second"):
            loops.append(in_process_loop(env, root / "loop"))
            shutil.rmtree(root / "loop")
            print(f"in-process decrypt -> SHA-256 -> write ({run} run): "
                  f"{loops[-1]['wall']:.2f} s wall, {loops[-1]['cpu']:.2f} s CPU, "
                  f"{mib / loops[-1]['wall']:.1f} MiB/s")
        loop = loops[-1]
        loop_rate = mib / loop["wall"]
        # A stricter yardstick than the issue's: the loop writing as the bundle does.
        direct_loop = in_process_loop(env, root / "loop", direct=True)
        shutil.rmtree(root / "loop")
        print(f"in-process decrypt -> SHA-256 -> write, written around the page cache "
              f"(O_DIRECT, as the bundle): {direct_loop['wall']:.2f} s wall, "
              f"{direct_loop['cpu']:.2f} s CPU, {mib / direct_loop['wall']:.1f} MiB/s")

        out = root / ("bundle.zip" if options.zip else "bundle")
        if options.age:
            from pyrage import x25519  # noqa: PLC0415

            identity = x25519.Identity.generate()
        print(f"load average before the bundle: {os.getloadavg()}")
        bundled = casefile_split(env, root / "usage.json",
                                 *(["--no-consolidated"] if options.no_consolidated else []),
                                 "bundle", case_id, *erns,
                                 "-o", str(out), "--as", LEAD, "--classification",
                                 "confidential", *(["--zip"] if options.zip else []),
                                 *(["--age-recipient", str(identity.to_public())] if options.age
                                   else []))
        rate = mib / bundled["wall"]
        total_cpu = bundled["cpu"] + bundled["helper_cpu"]
        print(f"casefile bundle: {bundled['wall']:.2f} s wall, {total_cpu:.2f} s CPU "
              f"({bundled['cpu']:.2f} s the exporting process, {bundled['system']:.2f} s of it "
              f"in the kernel, {bundled['helper_cpu']:.2f} s "
              f"its helpers), {rate:.1f} MiB/s of exhibits = {100 * rate / loop_rate:.1f} % of "
              f"the loop's second run (target >= 50 %; of its first run "
              f"{100 * rate * loops[0]['wall'] / mib:.1f} %; of the O_DIRECT loop "
              f"{100 * rate * direct_loop['wall'] / mib:.1f} %); by CPU time "
              f"{100 * loop['cpu'] / total_cpu:.1f} %; "
              f"peak RSS of the exporting process {bundled['rss_mib']:.1f} MiB (target <= 250), "
              f"of its largest helper {bundled['helper_rss_mib']:.1f} MiB")
        print(consolidated_figures(out))
        if options.age:
            encrypted = out.with_name(out.name + ".age")
            started = time.perf_counter()
            import pyrage  # noqa: PLC0415

            with encrypted.open("rb") as source, out.open("xb") as sink:
                pyrage.decrypt_io(source, sink, [identity])
            print(f"age: {encrypted.stat().st_size / MIB:.1f} MiB encrypted; decrypted in "
                  f"{time.perf_counter() - started:.2f} s (pyrage, this process)")
            encrypted.unlink()

        checkpoint = (out / "data/custody/checkpoint.txt") if out.is_dir() else None
        key_text = None
        if checkpoint is not None:
            key_text = (out / "data/custody/public-key.txt").read_text().strip()
        key_args = ["--key", key_text] if key_text else []
        files = [str(p) for p in sorted(out.rglob("*")) if p.is_file()] if out.is_dir() else [
            str(out)]
        # The bundle's writes bypass the page cache (bundle/direct_file.py): read every file
        # once first, so that verify-bundle and sha256sum both read from the cache, as they
        # did when the writes went through it (whichever ran first would pay the disk).
        warmed = measured({}, "sh", "-c", 'exec cat -- "$@" > /dev/null', "cat", *files)
        print(f"first read of the bundle's files (cat, from the disk): {warmed['wall']:.2f} s "
              f"wall, {warmed['cpu']:.2f} s CPU")
        verified = casefile(env, "verify-bundle", str(out), *key_args)
        on_disk = sum(Path(p).stat().st_size for p in files) / MIB
        summed = measured({}, "sha256sum", *files)
        bundled_file = out / "verify_bundle.py" if out.is_dir() else None
        if bundled_file is not None:
            alone = measured({}, sys.executable, "-I", str(bundled_file), str(out), *key_args)
            print(f"the bundle's own verify_bundle.py: {alone['wall']:.2f} s wall, "
                  f"{alone['cpu']:.2f} s CPU ({on_disk_mib(out) / alone['wall']:.1f} MiB/s)")
        verify_rate = on_disk / verified["wall"]
        sum_rate = on_disk / summed["wall"]
        print(f"verify-bundle: {verified['wall']:.2f} s wall, {verified['cpu']:.2f} s CPU, "
              f"{verify_rate:.1f} MiB/s over {on_disk:.1f} MiB; sha256sum {summed['wall']:.2f} s "
              f"wall, {summed['cpu']:.2f} s CPU, {sum_rate:.1f} MiB/s -> "
              f"{100 * verify_rate / sum_rate:.1f} % (target >= 50 %); peak RSS "
              f"{verified['rss_mib']:.1f} MiB")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
