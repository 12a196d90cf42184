"""`casefile reindex [--case CASE]`: rebuilds the search index of existing items (standard
and restricted, blindly), with progress; one case or all; a bad case id in one line."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import delete, func, select

from casefile import create_app
from casefile.cli import main
from casefile.db import Database
from casefile.model import SearchBlindTerm, SearchDocument
from casefile.settings import load_settings
from tests.cli.instances import initialised
from tests.factories import bearer, make_case, make_user


@pytest.fixture
def instance(tmp_path, fresh_database_url):
    env, runner = initialised(tmp_path, fresh_database_url)
    settings = load_settings(env)
    database = Database.from_url(fresh_database_url)
    app = create_app(settings, database=database)
    yield {"env": env, "runner": runner, "app": app, "database": database}
    database.engine.dispose()


def add(client, headers, case, title, **fields):
    response = client.post(
        f"/api/v1/cases/{case.id}/evidence", headers=headers,
        data={"file": (io.BytesIO(title.encode()), "note.txt"), "title": title, **fields},
        content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def found(client, headers, q):
    response = client.get("/api/v1/search", query_string={"q": q}, headers=headers)
    assert response.status_code == 200
    return sorted(result["id"] for result in response.get_json()["results"])


def run(instance, *args):
    return instance["runner"].invoke(main, list(args), env=instance["env"],
                                     catch_exceptions=False)


def documents(instance) -> int:
    with instance["database"].sessions() as session:
        return session.scalar(select(func.count()).select_from(SearchDocument)) or 0


def test_reindex_rebuilds_the_index_of_existing_items(instance):
    with instance["database"].sessions() as session:
        lead = make_user(session, "lead@example.org")
        first, second = make_case(session, lead, "First"), make_case(session, lead, "Second")
        headers = bearer(session, lead)
    client = instance["app"].test_client()
    plain = add(client, headers, first, "ရွာကိုမီးရှို့ခဲ့သည်")
    hidden = add(client, headers, first, "Riverbank မီးရှို့ witness", sensitivity="restricted")
    other = add(client, headers, second, "Second case မီးရှို့")
    assert found(client, headers, "မီးရှို့") == sorted([plain, hidden, other])

    with instance["database"].sessions() as session:  # an instance from before search
        session.execute(delete(SearchBlindTerm))
        session.execute(delete(SearchDocument))
        session.commit()
    assert found(client, headers, "မီးရှို့") == []

    result = run(instance, "reindex", "--case", str(first.id))
    assert result.exit_code == 0, result.output
    assert "search index rebuilt: 2 items" in result.output
    assert "indexing items" in result.output  # the progress display (on stderr)
    assert found(client, headers, "မီးရှို့") == sorted([plain, hidden])

    result = run(instance, "reindex")
    assert result.exit_code == 0, result.output
    assert "search index rebuilt: 3 items" in result.output
    assert found(client, headers, "မီးရှို့") == sorted([plain, hidden, other])
    assert found(client, headers, "riverbank") == [hidden]
    assert documents(instance) == 3  # run again: rewritten, not doubled


def test_reindex_of_an_unknown_case_is_one_line(instance):
    result = instance["runner"].invoke(
        main, ["reindex", "--case", "00000000-0000-0000-0000-000000000000"],
        env=instance["env"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        "casefile: no case 00000000-0000-0000-0000-000000000000"]
