"""`casefile keys rotate`: new KEK, every data key rewrapped, old key retired, blobs
untouched, and every item still readable afterwards."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from casefile import create_app
from casefile.cli import main
from casefile.db import Database
from casefile.model import CustodyAction, CustodyEntry, Evidence
from casefile.settings import load_settings
from casefile.vault import envelope
from tests.cli.instances import initialised
from tests.factories import bearer, make_case, make_user


@pytest.fixture
def instance(tmp_path, fresh_database_url):
    env, runner = initialised(tmp_path, fresh_database_url)
    settings = load_settings(env)
    database = Database.from_url(fresh_database_url)
    app = create_app(settings, database=database)
    yield {"env": env, "runner": runner, "app": app, "database": database,
           "kek_path": settings.kek_path, "storage": tmp_path / "storage"}
    database.engine.dispose()


def upload(app, database, files):
    with database.sessions() as session:
        lead = make_user(session, "lead@example.org")
        case = make_case(session, lead)
        headers = bearer(session, lead)
    client = app.test_client()
    ids = []
    for name, body in files:
        response = client.post(f"/api/v1/cases/{case.id}/evidence", headers=headers,
                               data={"file": (io.BytesIO(body), name)},
                               content_type="multipart/form-data")
        assert response.status_code == 201
        ids.append(response.get_json()["id"])
    return client, headers, ids


def test_rotation_rewraps_every_data_key_and_keeps_blobs(instance):
    files = [(f"f{n}.txt", f"statement {n}\n".encode() * 1000) for n in range(5)]
    client, headers, ids = upload(instance["app"], instance["database"], files)
    blobs_before = {p.name: p.read_bytes() for p in instance["storage"].rglob("*") if p.is_file()}
    old_ids = envelope.key_ids(envelope.Keyring.load(instance["kek_path"]))

    result = instance["runner"].invoke(main, ["keys", "rotate"], env=instance["env"])
    assert result.exit_code == 0, result.output
    assert "5 data keys rewrapped" in result.output

    rotated = envelope.Keyring.load(instance["kek_path"])
    assert len(envelope.key_ids(rotated)) == 1
    assert envelope.key_ids(rotated)[0] not in old_ids
    blobs_after = {p.name: p.read_bytes() for p in instance["storage"].rglob("*") if p.is_file()}
    assert blobs_after == blobs_before  # envelope encryption: blobs are not rewritten
    with instance["database"].sessions() as session:
        for item in session.query(Evidence):
            assert envelope.wrapped_by(item.wrapped_key) == rotated.primary_key_id
        entry = session.query(CustodyEntry).filter_by(action=CustodyAction.KEY_ROTATED).one()
        assert json.loads(entry.details)["data_keys_rewrapped"] == 5
    for item_id, (_, body) in zip(ids, files, strict=True):  # the server picks up the new KEK
        content = client.get(f"/api/v1/evidence/{item_id}/content", headers=headers)
        assert hashlib.sha256(content.data).hexdigest() == hashlib.sha256(body).hexdigest()


def test_rotation_resumes_after_an_interruption(instance):
    upload(instance["app"], instance["database"], [("a.txt", b"a" * 100), ("b.txt", b"b" * 100)])
    # Interrupted after the new key was written and one data key rewrapped.
    started = envelope.with_new_primary(envelope.Keyring.load(instance["kek_path"]))
    envelope.write_file(started, instance["kek_path"])
    with instance["database"].sessions() as session:
        first = session.query(Evidence).order_by(Evidence.id).first()
        first.wrapped_key = started.rewrap(first.wrapped_key, first.id.bytes)
        session.commit()
    result = instance["runner"].invoke(main, ["keys", "rotate"], env=instance["env"])
    assert result.exit_code == 0, result.output
    assert "1 data keys rewrapped, 1 already current" in result.output
    assert envelope.key_ids(envelope.Keyring.load(instance["kek_path"])) == [started.primary_key_id]


def test_rotation_refuses_an_environment_kek(instance):
    env = {**instance["env"], "CASEFILE_KEK": instance["kek_path"].read_text()}
    result = instance["runner"].invoke(main, ["keys", "rotate"], env=env)
    assert result.exit_code == 1
    assert "CASEFILE_KEK_FILE" in result.output
