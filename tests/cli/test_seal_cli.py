"""`casefile keys seal-restricted` (and `casefile init`): restricted items stored before
sealing existed get their metadata sealed and blindly indexed; resumable; a deleted item's
leftover metadata is removed."""

from __future__ import annotations

import io
import uuid

import pytest
from sqlalchemy import delete, func, select

from casefile import create_app
from casefile.cli import main
from casefile.db import Database
from casefile.logic.evidence import metadata
from casefile.model import Evidence, IndexToken, Sensitivity
from casefile.settings import load_settings
from casefile.vault.envelope import Keyring
from tests.cli.instances import initialised
from tests.factories import bearer, make_case, make_user

COLLECTORS = ["Daw Aye Aye", "U Tun Tun", "Ko Zaw Zaw"]


@pytest.fixture
def instance(tmp_path, fresh_database_url):
    env, runner = initialised(tmp_path, fresh_database_url)
    settings = load_settings(env)
    database = Database.from_url(fresh_database_url)
    app = create_app(settings, database=database)
    yield {"env": env, "runner": runner, "app": app, "database": database,
           "keyring": Keyring.load(settings.kek_path)}
    database.engine.dispose()


def upload_restricted(instance) -> tuple[object, dict, object, list[str]]:
    with instance["database"].sessions() as session:
        lead = make_user(session, "lead@example.org")
        case = make_case(session, lead)
        headers = bearer(session, lead)
    client = instance["app"].test_client()
    ids = []
    for number, collector in enumerate(COLLECTORS):
        response = client.post(
            f"/api/v1/cases/{case.id}/evidence", headers=headers,
            data={"file": (io.BytesIO(f"witness {number}".encode()), f"witness-{number}.txt"),
                  "title": f"Witness {collector}", "collected_by": collector,
                  "sensitivity": "restricted"},
            content_type="multipart/form-data")
        assert response.status_code == 201
        ids.append(response.get_json()["id"])
    return client, headers, case, ids


def unseal_as_before(instance) -> None:
    """Put every restricted row back the way it was stored before sealing existed."""
    with instance["database"].sessions() as session:
        for item in session.scalars(select(Evidence).where(
                Evidence.sensitivity == Sensitivity.RESTRICTED)):
            if item.sealed_metadata is None:
                continue
            shown = metadata.reveal(instance["keyring"], item)
            item.title, item.description = shown.title, shown.description
            item.original_filename = shown.original_filename
            item.collector, item.extracted = shown.collector, shown.extracted
            item.sealed_metadata = None
        session.execute(delete(IndexToken))
        session.commit()


def in_clear(instance) -> int:
    with instance["database"].sessions() as session:
        return session.scalar(select(func.count()).select_from(Evidence).where(
            Evidence.collector["collected_by"].as_string().in_(COLLECTORS))) or 0


def test_seal_restricted_seals_rows_stored_in_the_clear(instance):
    client, headers, _, ids = upload_restricted(instance)
    unseal_as_before(instance)
    assert in_clear(instance) == 3

    result = instance["runner"].invoke(main, ["keys", "seal-restricted"], env=instance["env"])
    assert result.exit_code == 0, result.output
    assert "3 sealed" in result.output
    assert in_clear(instance) == 0
    with instance["database"].sessions() as session:
        for item_id, collector in zip(ids, COLLECTORS, strict=True):
            item = session.get(Evidence, uuid.UUID(item_id))
            assert item.title == metadata.PLACEHOLDER_TITLE and item.collector == {}
            assert metadata.reveal(instance["keyring"], item).collector == {
                "collected_by": collector}
        found = session.execute(metadata.matching(
            session, instance["keyring"], "collected_by", "tun tun")).scalars().all()
        assert [str(item_id) for item_id in found] == [ids[1]]
    for item_id, collector in zip(ids, COLLECTORS, strict=True):
        body = client.get(f"/api/v1/evidence/{item_id}", headers=headers).get_json()
        assert (body["title"], body["metadata"]) == (f"Witness {collector}", "sealed")

    again = instance["runner"].invoke(main, ["keys", "seal-restricted"], env=instance["env"])
    assert again.exit_code == 0 and "0 sealed" in again.output


def test_init_seals_them_too(instance):
    upload_restricted(instance)
    unseal_as_before(instance)
    result = instance["runner"].invoke(main, ["init"], env=instance["env"])
    assert result.exit_code == 0, result.output
    assert "3 sealed" in result.output
    assert in_clear(instance) == 0


def test_an_interrupted_run_carries_on_where_it_stopped(instance, monkeypatch):
    upload_restricted(instance)
    unseal_as_before(instance)
    monkeypatch.setattr(metadata, "BATCH", 1)

    def interrupt(count: int) -> None:
        raise KeyboardInterrupt

    with instance["database"].sessions() as session, pytest.raises(KeyboardInterrupt):
        metadata.seal_restricted(session, instance["keyring"], progress=interrupt)
    assert in_clear(instance) == 2  # the first batch was committed
    with instance["database"].sessions() as session:
        report = metadata.seal_restricted(session, instance["keyring"])
    assert (report.sealed, report.wiped) == (2, 0)
    assert in_clear(instance) == 0


def test_a_deleted_items_leftover_metadata_is_removed(instance):
    client, headers, _, ids = upload_restricted(instance)
    response = client.delete(f"/api/v1/evidence/{ids[0]}", headers=headers,
                             json={"reason": "withdrawn consent"})
    assert response.status_code == 200
    unseal_as_before(instance)  # the deleted one has nothing left to unseal
    with instance["database"].sessions() as session:  # as a row deleted before sealing
        item = session.get(Evidence, uuid.UUID(ids[0]))
        item.sealed_metadata = None
        item.title, item.collector = "Witness Daw Aye Aye", {"collected_by": COLLECTORS[0]}
        session.commit()
    result = instance["runner"].invoke(main, ["keys", "seal-restricted"], env=instance["env"])
    assert result.exit_code == 0, result.output
    assert "2 sealed, 1 deleted" in result.output
    assert in_clear(instance) == 0
    with instance["database"].sessions() as session:
        item = session.get(Evidence, uuid.UUID(ids[0]))
        assert (item.title, item.collector, item.sealed_metadata) == (
            metadata.PLACEHOLDER_TITLE, {}, None)


def test_without_a_kek_it_says_so_in_one_line(instance, tmp_path):
    (tmp_path / "instance" / "kek.json").unlink()
    result = instance["runner"].invoke(main, ["keys", "seal-restricted"], env=instance["env"])
    assert result.exit_code != 0
    assert "key-encryption key" in result.output
