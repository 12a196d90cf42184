"""/healthz and /readyz: unauthenticated, cheap, and saying nothing secret; /readyz 503 when
the database, the blob store or the keys cannot be used."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from casefile import create_app
from casefile.db import Database

CLOSED_PORT_URL = "postgresql+psycopg://casefile:hunter2@127.0.0.1:9/casefile?connect_timeout=3"


def body_text(response) -> str:
    return response.get_data(as_text=True)


def test_healthz_is_ok_without_signing_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_ok_when_database_store_and_keys_work(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "status": "ok",
        "checks": {"database": "ok", "blob_store": "ok", "keys": "ok"},
    }


def test_readyz_is_503_when_the_database_is_unreachable(settings, caplog):
    database = Database.from_url(CLOSED_PORT_URL)
    try:
        client = create_app(settings, database=database).test_client()
        with caplog.at_level(logging.WARNING, logger="casefile"):
            response = client.get("/readyz")
        healthz = client.get("/healthz")
    finally:
        database.engine.dispose()
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "checks": {"database": "failed", "blob_store": "ok", "keys": "ok"},
    }
    text = body_text(response)
    for secret in ("hunter2", "127.0.0.1", "casefile:", "psycopg", "refused", "Traceback"):
        assert secret not in text
    assert "readiness check database failed" in caplog.text  # the cause is in the log
    assert healthz.status_code == 200  # the process itself is up


@pytest.mark.parametrize("damage", ["missing", "not_a_folder"])
def test_readyz_is_503_when_the_store_folder_is_unusable(client, settings, damage):
    storage = Path(settings.storage_url.removeprefix("file://"))
    shutil.rmtree(storage)
    if damage == "not_a_folder":
        storage.write_text("not a folder")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {
        "database": "ok", "blob_store": "failed", "keys": "ok",
    }
    assert str(storage) not in body_text(response)


def test_readyz_is_503_when_the_key_encryption_key_is_gone(client, settings):
    (settings.instance_path / "kek.json").unlink()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {
        "database": "ok", "blob_store": "ok", "keys": "failed",
    }


def test_readyz_is_503_when_the_key_encryption_key_is_damaged(client, settings):
    kek = settings.instance_path / "kek.json"
    keyset = json.loads(kek.read_text())
    keyset["key"][0]["keyData"]["value"] = "AAAA"
    kek.write_text(json.dumps(keyset))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["keys"] == "failed"
    assert "AAAA" not in body_text(response)
