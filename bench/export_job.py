"""A filing's export through the job (`casefile export FILING -o OUT --zip`: the zip
streamed into the encrypted blob store, then decrypted out to OUT) against `casefile bundle
CASE ERN... -o OUT --zip` on the same exhibits, each as a child process (wall and CPU time,
peak RSS from os.wait4); and the job's own time (its row's started_at to finished_at: the
bundle written and stored encrypted) apart from the copy out.

Same throwaway instance as bench/bundle.py (N generated files, one in ten a 3-page PDF that
gets a stamped rendition), plus one filing holding every item as an exhibit.

    .venv/bin/python bench/export_job.py                           # 20 exhibits, 64 MiB
    .venv/bin/python bench/export_job.py -n 40 --total-mib 512
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Self

from bundle import LEAD, MIB, PASSWORD, casefile, instance, make_files


def make_filing(env: dict[str, str]) -> str:
    os.environ.update(env)
    from sqlalchemy import select  # noqa: PLC0415

    from casefile import create_app  # noqa: PLC0415
    from casefile.logic.filings import exhibits, filings  # noqa: PLC0415
    from casefile.model import Evidence, User  # noqa: PLC0415
    from casefile.settings import load_settings  # noqa: PLC0415

    app = create_app(load_settings())
    database = app.extensions["casefile.db"]
    with app.app_context(), database.sessions() as session:
        lead = session.scalar(select(User).where(User.email == LEAD))
        items = session.scalars(select(Evidence).order_by(Evidence.seq)).all()
        filing = filings.create_filing(session, lead, items[0].case_id, filings.FilingInput(
            title="Memorial", type="memorial", classification="confidential",
            classification_basis="bench"))
        for item in items:
            exhibits.add_exhibit(session, lead, filing.id,
                                 exhibits.ExhibitInput(evidence_id=item.id))
        session.commit()
        filing_id = str(filing.id)
    database.engine.dispose()
    return filing_id


def shmem_mib() -> float:
    """The machine's shared memory (memory files count there, not in a process's RSS)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakShmem:
    """Shmem sampled every 20 ms while the block runs: its peak above the start
    (machine-wide, so other processes' shared memory moves it too)."""

    def __enter__(self) -> Self:
        self.start = self.peak = shmem_mib()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            self.peak = max(self.peak, shmem_mib())

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def above(self) -> float:
        return self.peak - self.start


def job_seconds(env: dict[str, str]) -> float:
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    database = Path(env["CASEFILE_INSTANCE"])
    url = next(f"sqlite:///{p}" for p in database.glob("casefile*.sqlite3"))
    engine = create_engine(url)
    with engine.connect() as connection:
        started, finished = connection.execute(
            text("SELECT started_at, finished_at FROM exports")).one()
    engine.dispose()
    import datetime as dt  # noqa: PLC0415

    def parse(value: object) -> dt.datetime:
        return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))

    return (parse(finished) - parse(started)).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--exhibits", type=int, default=20)
    parser.add_argument("--total-mib", type=int, default=64)
    options = parser.parse_args()
    print(f"load average before: {os.getloadavg()}  cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="casefile-bench-export-") as temp:
        root = Path(temp)
        env = instance(root / "vault")
        casefile(env, "init")
        casefile(env, "users", "create", LEAD, "--password-stdin", stdin=PASSWORD + "\n")
        created = casefile(env, "cases", "create", "--as", LEAD, "--title", "Bench",
                           "--forum", "icj")["out"]
        case_id = re.search(r"created case (\S+)", str(created)).group(1)  # type: ignore[union-attr]
        make_files(root / "files", options.exhibits, options.total_mib * MIB)
        casefile(env, "ingest", case_id, str(root / "files"), "--as", LEAD)
        filing_id = make_filing(env)
        from sqlalchemy import create_engine, text  # noqa: PLC0415

        url = next(f"sqlite:///{p}" for p in (root / "vault/instance").glob("casefile*.sqlite3"))
        engine = create_engine(url)
        with engine.connect() as connection:
            erns = list(connection.scalars(text("SELECT ern FROM evidence ORDER BY seq")))
            mib = int(connection.scalar(text("SELECT SUM(size) FROM evidence")) or 0) / MIB
        engine.dispose()
        print(f"{len(erns)} exhibits, {mib:.1f} MiB")

        bundled = casefile(env, "bundle", case_id, *erns, "-o", str(root / "bundle.zip"),
                           "--as", LEAD, "--classification", "confidential", "--zip")
        print(f"casefile bundle --zip: {bundled['wall']:.2f} s wall, {bundled['cpu']:.2f} s "
              f"CPU, {mib / bundled['wall']:.1f} MiB/s, peak RSS {bundled['rss_mib']:.1f} MiB")
        with PeakShmem() as shared:
            exported = casefile(env, "export", filing_id, "-o", str(root / "export.zip"),
                                "--as", LEAD, "--zip")
        job = job_seconds(env)
        print(f"casefile export --zip (the job, then the copy out): {exported['wall']:.2f} s "
              f"wall, {exported['cpu']:.2f} s CPU, {mib / exported['wall']:.1f} MiB/s, peak "
              f"RSS {exported['rss_mib']:.1f} MiB; the job alone (written and stored "
              f"encrypted) {job:.2f} s against bundle's {bundled['wall']:.2f} s")
        sizes = [(root / name).stat().st_size / MIB for name in ("bundle.zip", "export.zip")]
        print(f"zip sizes: bundle {sizes[0]:.1f} MiB, export {sizes[1]:.1f} MiB")
        with zipfile.ZipFile(root / "export.zip") as archive:
            members = archive.infolist()
        renditions = sum(m.file_size for m in members if m.filename.endswith("/rendition.pdf"))
        joined = sum(m.file_size for m in members if m.filename.endswith("/consolidated.pdf"))
        print(f"the export's renditions {renditions / 1024:.1f} KiB (held in memory files), its "
              f"consolidated PDF {joined / 1024:.1f} KiB; machine-wide Shmem peak "
              f"{shared.above:+.1f} MiB above its start during the export")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
