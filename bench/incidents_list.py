"""What a case's incident list costs, in process (no HTTP): N incidents (default 10,000, as
issue 12's search figure has) with categories, dates and Myanmar townships drawn from the
shipped list, written directly (no custody entries: only reads are measured here), then one
page of 50 read with each filter the API offers. Also records incidents through the logic
layer (each with its custody entry) and prints the time per incident.

Prints the median wall time and the process CPU time per page (the machine may be busy:
CPU time and the ratios to the unfiltered page are what to compare), and the statements run.

    .venv/bin/python bench/incidents_list.py                        # SQLite, 10,000 incidents
    .venv/bin/python bench/incidents_list.py --backend postgresql -n 10000
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

from benchdb import fresh_database, postgres_server_url, seed_people
from sqlalchemy import event

from casefile.db import Database, utcnow
from casefile.logic.incidents import incidents, listing, places
from casefile.model import (
    CaseMember,
    DatePrecision,
    Incident,
    IncidentCategory,
    IncidentCategoryRow,
    IncidentStatus,
    Role,
)

PAGE = 50


def seed(database: Database, count: int, seed_value: int) -> tuple[object, object]:
    chance = random.Random(seed_value)
    townships = list(places.gazetteer().of_level("township"))
    with database.session() as session:
        people, cases = seed_people(session, users=1, cases=2)
        session.add(CaseMember(case_id=cases[0].id, user_id=people[0].id, role=Role.LEAD))
        session.commit()
        start = utcnow()
        for number in range(count):
            town = chance.choice(townships)
            day = dt.date(2016, 1, 1) + dt.timedelta(days=chance.randrange(3000))
            incident = Incident(
                case_id=cases[number % 10 == 9].id,  # a tenth in another case
                title=f"Incident {number} in {town.en}",
                date_precision=DatePrecision.DAY,
                start_date=day,
                end_date=day + dt.timedelta(days=chance.randrange(3)),
                township=town.en,
                district=town.district,
                state_region=town.state_region,
                country="Myanmar",
                status=chance.choice(list(IncidentStatus)),
                version=1,
                created_at=start + dt.timedelta(microseconds=number),
                updated_at=start,
                created_by_id=people[0].id,
                category_rows=[
                    IncidentCategoryRow(category=category)
                    for category in chance.sample(list(IncidentCategory), chance.randint(1, 3))
                ],
            )
            session.add(incident)
            if number % 1000 == 999:
                session.commit()
        session.commit()
        return people[0], cases[0].id


def timed(database: Database, work, repeat: int) -> tuple[float, float, int, int]:
    """Median wall and CPU milliseconds of `work(session)`, each in a new session;
    statements per run; rows on the page."""
    walls, cpus, count, rows = [], [], [0], 0

    def counted(*_args: object) -> None:
        count[0] += 1

    event.listen(database.engine, "before_cursor_execute", counted)
    try:
        for _ in range(repeat):
            count[0] = 0
            with database.session() as session:
                wall, cpu = time.perf_counter(), time.process_time()
                rows = len(work(session))
                walls.append((time.perf_counter() - wall) * 1e3)
                cpus.append((time.process_time() - cpu) * 1e3)
    finally:
        event.remove(database.engine, "before_cursor_execute", counted)
    return statistics.median(walls), statistics.median(cpus), count[0], rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres", help="server URL (default: $CASEFILE_TEST_POSTGRES_URL)")
    parser.add_argument("-n", "--incidents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--records", type=int, default=50, help="incidents recorded via logic")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="casefile-incidents-") as folder,
        fresh_database(args.backend, Path(folder), postgres_server_url(args.postgres)) as url,
    ):
        database = Database.from_url(url)
        actor, case_id = seed(database, args.incidents, 20261207)
        with database.session() as session:
            last = listing.list_incidents(session, actor, case_id, limit=200)
            while last.next_cursor:  # the cursor of the case's last page but one
                cursor = last.next_cursor
                last = listing.list_incidents(session, actor, case_id, limit=200, cursor=cursor)
        print(f"{args.backend}: {args.incidents} incidents (9 in 10 the case's); pages of "
              f"{PAGE}; median of {args.repeat}")  # fmt: skip

        def page(**filters: object):
            where = listing.parse_filters(filters)
            return lambda s: listing.list_incidents(s, actor, case_id, where, limit=PAGE).items

        runs = {
            "first page, no filter": page(),
            "category=torture": page(category="torture"),
            "status=corroborated": page(status="corroborated"),
            "place=rakhine": page(place="rakhine"),
            "date 2019-01-01..2019-03-31": page(date_from="2019-01-01", date_to="2019-03-31"),
            "category + place + dates": page(category="killing", place="sagaing",
                                             date_from="2018-01-01", date_to="2020-12-31"),
            "a late page (cursor)": lambda s: listing.list_incidents(
                s, actor, case_id, limit=PAGE, cursor=cursor).items,
        }  # fmt: skip
        base_cpu = None
        for name, work in runs.items():
            wall, cpu, statements, rows = timed(database, work, args.repeat)
            base_cpu = base_cpu or cpu
            print(f"  {name:30} {wall:8.1f} ms wall {cpu:8.1f} ms CPU ({cpu / base_cpu:4.1f}x)"
                  f"  {statements:3} statements  {rows:3} rows")  # fmt: skip

        data = incidents.parse_input({
            "title": "Recorded through the logic layer", "start_date": "2017-08-30",
            "categories": ["killing"],
            "location": {"township": "Maungdaw", "country": "Myanmar", "lat": 20.9, "lon": 92.4},
        })  # fmt: skip
        with database.session() as session:
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.records):
                incidents.create_incident(session, actor, case_id, data)
            wall = (time.perf_counter() - wall) * 1e3 / args.records
            cpu = (time.process_time() - cpu) * 1e3 / args.records
        print(f"  record an incident (logic + custody entry) {wall:6.1f} ms wall "
              f"{cpu:6.1f} ms CPU each, over {args.records}")  # fmt: skip
        database.engine.dispose()


if __name__ == "__main__":
    main()
