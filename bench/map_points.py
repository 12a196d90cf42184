"""What a case map costs to read, in process (no HTTP): a case of N items, a share of them
with an EXIF GPS position (as intake stores it), a share with only a collector's lat/lon, the
rest without a position; R restricted GPS-tagged items granted to the reader (their metadata
sealed, so each is opened on reading); M incidents with a location. Prints the median wall
and CPU milliseconds of logic.maps.points.case_map over a few runs, the statements it ran and
the points it returned; nothing is asserted.

    .venv/bin/python bench/map_points.py                                  # SQLite, 20,000 items
    .venv/bin/python bench/map_points.py --backend postgresql -n 20000
    .venv/bin/python bench/map_points.py -n 100000 --gps-share 10 --restricted 200
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from benchdb import fresh_database, postgres_server_url, seed_people
from sqlalchemy import event

from casefile.db import Database, utcnow
from casefile.logic.maps import points
from casefile.logic.maps.points import MapFilter
from casefile.model import (
    CaseMember,
    DatePrecision,
    Evidence,
    EvidenceGrant,
    EvidenceStatus,
    Incident,
    IncidentCategory,
    IncidentCategoryRow,
    IncidentStatus,
    Role,
    Sensitivity,
    User,
)
from casefile.vault import sealing
from casefile.vault.envelope import Keyring

BATCH = 2000


def exif_at(number: int) -> dict[str, object]:
    """EXIF as intake stores it: degrees/minutes/seconds text and the computed decimals."""
    lat = 16.0 + (number % 1000) / 100
    lon = 92.2 + (number % 700) / 100
    minutes = (lat % 1) * 60
    return {
        "make": "Samsung",
        "original_time": f"2017:08:{1 + number % 28:02d} 09:15:00",
        "gps_latitude": f"[{int(lat)}, {int(minutes)}, {round((minutes % 1) * 60, 2)}]",
        "gps_latitude_ref": "N",
        "gps_longitude": f"[{int(lon)}, {int((lon % 1) * 60)}, 0]",
        "gps_longitude_ref": "E",
        "gps": {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}"},
    }


def build(
    database: Database, keyring: Keyring, items: int, *, gps_share: int, restricted: int,
    incidents: int,
) -> tuple[object, uuid.UUID]:
    with database.session() as session:
        people, cases = seed_people(session, users=1, cases=1)
        reader, case = people[0], cases[0]
        session.add(CaseMember(case_id=case.id, user_id=reader.id, role=Role.LEAD))
        session.commit()
        now = utcnow()
        for start in range(0, items + restricted, BATCH):
            rows = []
            for number in range(start, min(start + BATCH, items + restricted)):
                secret = number >= items
                extracted: dict[str, object] = {"image": {"width": 4000, "height": 3000}}
                collector: dict[str, object] = {"collected_by": f"Team {number % 9}"}
                if secret or number % gps_share == 0:
                    extracted["exif"] = exif_at(number)
                elif number % gps_share == 1:
                    collector.update(lat=20.5 + (number % 50) / 100, lon=92.6)
                item = Evidence(
                    id=uuid.uuid4(), case_id=case.id, seq=number + 1, batch=1,
                    ern=f"MMR-OTP-0001-{number + 1:06d}", title=f"Photo {number}",
                    mime="image/jpeg", size=1000, sha256=f"{number:064x}",
                    sensitivity=Sensitivity.RESTRICTED if secret else Sensitivity.STANDARD,
                    status=EvidenceStatus.ACTIVE, collector=collector, extracted=extracted,
                    created_at=now - dt.timedelta(seconds=number), created_by_id=reader.id,
                )  # fmt: skip
                if secret:
                    key = keyring.new_data_key(item.id.bytes)
                    item.wrapped_key = key.wrapped
                    item.sealed_metadata = sealing.seal(key.cipher, item.id, {
                        "title": item.title, "collector": collector, "extracted": extracted,
                    })  # fmt: skip
                    item.title, item.extracted, item.collector = "Restricted item", {}, {}
                rows.append(item)
            session.add_all(rows)
            session.flush()
            session.add_all(
                EvidenceGrant(evidence_id=row.id, user_id=reader.id, granted_at=now)
                for row in rows
                if row.sensitivity == Sensitivity.RESTRICTED
            )
            session.commit()
        for number in range(incidents):
            incident = Incident(
                case_id=case.id, title=f"Incident {number}", start_date=dt.date(2017, 8, 25)
                + dt.timedelta(days=number % 60), date_precision=DatePrecision.DAY,
                place=f"Village {number}", lat=20.0 + (number % 300) / 100, lon=92.5,
                status=IncidentStatus.REPORTED, created_at=now, updated_at=now,
                created_by_id=reader.id, updated_by_id=reader.id,
            )  # fmt: skip
            incident.category_rows = [IncidentCategoryRow(category=IncidentCategory.KILLING)]
            session.add(incident)
        session.commit()
        return reader.id, case.id


def run(database: Database, keyring: Keyring, reader_id, case_id, where, *, repeat: int):
    walls, cpus, counted = [], [], [0]

    def count(*_args: object) -> None:
        counted[0] += 1

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        found = None
        for _ in range(repeat):
            counted[0] = 0
            with database.session() as session:
                reader = session.get(User, reader_id)
                wall, cpu = time.perf_counter(), time.process_time()
                found = points.case_map(session, reader, case_id, where, keyring)
                walls.append((time.perf_counter() - wall) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    assert found is not None  # noqa: S101 - repeat >= 1
    return statistics.median(walls), statistics.median(cpus), counted[0], found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres", help="server URL (default $CASEFILE_TEST_POSTGRES_URL)")
    parser.add_argument("-n", "--items", type=int, default=20_000)
    parser.add_argument("--gps-share", type=int, default=4, help="1 item in this many has EXIF GPS")
    parser.add_argument("--restricted", type=int, default=100)
    parser.add_argument("--incidents", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        keyring_path = Path(folder) / "kek.json"
        Keyring.create_file(keyring_path)
        keyring = Keyring.load(keyring_path)
        assert keyring is not None  # noqa: S101 - just written
        server = postgres_server_url(args.postgres)
        with fresh_database(args.backend, Path(folder), server) as url:
            database = Database.from_url(url)
            try:
                started = time.perf_counter()
                reader_id, case_id = build(
                    database, keyring, args.items, gps_share=args.gps_share,
                    restricted=args.restricted, incidents=args.incidents,
                )
                print(f"{args.backend}: {args.items} items (1 in {args.gps_share} with EXIF GPS, "
                      f"1 in {args.gps_share} with a collector's lat/lon), {args.restricted} "
                      f"restricted GPS items granted, {args.incidents} incidents; built in "
                      f"{time.perf_counter() - started:.1f} s")  # fmt: skip
                for name, where in (
                    ("everything", MapFilter()),
                    ("evidence only", MapFilter(show="evidence")),
                    ("incidents only", MapFilter(show="incidents")),
                    ("a 7-day period", MapFilter(since=dt.date(2017, 8, 1),
                                                 until=dt.date(2017, 8, 7))),
                ):
                    wall, cpu, statements, found = run(
                        database, keyring, reader_id, case_id, where, repeat=args.repeat
                    )
                    print(f"  {name:15} {len(found.points):6d} points  "
                          f"{'(truncated) ' if found.truncated else ''}"
                          f"median {wall:8.1f} ms wall, {cpu:8.1f} ms CPU, "
                          f"{statements} statements")  # fmt: skip
            finally:
                database.engine.dispose()


if __name__ == "__main__":
    main()
