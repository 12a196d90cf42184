"""`casefile export FILING -o OUT [--zip] --as EMAIL` against a real instance: the same job as
the web page and the API, run in-process (an export row, `exported` and `downloaded` custody
entries), the bundle written to the operator's path (a folder or a zip) that `casefile
verify-bundle` accepts; refusals in one line, exit 1, nothing written."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from casefile import create_app, jobs, request_scope
from casefile.cli import main
from casefile.db import Database
from casefile.logic.export import jobs as export_jobs
from casefile.logic.filings import exhibits, filings
from casefile.model import CustodyAction, CustodyEntry, Evidence, Export, ExportStatus, User
from casefile.settings import load_settings
from casefile.vault import signing_key
from casefile.verifier.signed_note import verifier_key
from tests.bundle import fakes
from tests.cli.instances import cli_env
from tests.factories import PASSWORD

LEAD = "lead@example.org"


@pytest.fixture
def instance(tmp_path, fresh_database_url):
    env = cli_env(tmp_path, fresh_database_url)
    runner = CliRunner()

    def run(*args, stdin=None):
        return runner.invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)

    assert run("init").exit_code == 0
    run("users", "create", LEAD, "--password-stdin", stdin=PASSWORD + "\n")
    created = run("cases", "create", "--as", LEAD, "--title", "The Gambia v. Myanmar",
                  "--forum", "icj")
    case_id = re.search(r"created case (\S+)", created.output).group(1)
    files = tmp_path / "files"
    files.mkdir()
    (files / "a-statement.pdf").write_bytes(fakes.three_page_pdf())
    (files / "b-map.png").write_bytes(fakes.png())
    assert run("ingest", case_id, str(files), "--as", LEAD).exit_code == 0
    database = Database.from_url(fresh_database_url)
    with database.sessions() as session:
        lead = session.scalar(select(User).where(User.email == LEAD))
        items = session.scalars(select(Evidence).order_by(Evidence.seq)).all()
        filing = filings.create_filing(session, lead, items[0].case_id, filings.FilingInput(
            title="Memorial of The Gambia", type="memorial", classification="public",
            court_document_number="ICJ-178-2026"))
        for item in items:
            exhibits.add_exhibit(session, lead, filing.id,
                                 exhibits.ExhibitInput(evidence_id=item.id))
        empty = filings.create_filing(session, lead, items[0].case_id, filings.FilingInput(
            title="Empty", type="memorial", classification="public"))
        session.commit()
        filing_id, empty_id = str(filing.id), str(empty.id)
    key = signing_key.load(tmp_path / "instance" / signing_key.FILE_NAME)
    yield {"run": run, "filing": filing_id, "empty": empty_id, "database": database,
           "key": key}
    database.engine.dispose()


def published_key(instance, origin_file) -> str:
    origin = origin_file.read_text().splitlines()[0]
    return verifier_key(origin, instance["key"].public_key())


@pytest.mark.parametrize("as_zip", [False, True])
def test_export_writes_the_bundle_and_records_the_job(instance, tmp_path, as_zip):
    run = instance["run"]
    out = tmp_path / ("memorial.zip" if as_zip else "memorial")
    args = ["export", instance["filing"], "-o", str(out), "--as", LEAD]
    result = run(*args, *(["--zip"] if as_zip else []))
    assert result.exit_code == 0, result.output
    digest = re.search(r"tag manifest SHA-256 ([0-9a-f]{64})", result.output).group(1)
    assert f"bundle written: {out}" in result.output
    assert "export: 2/2 exhibits" in result.output  # the progress lines (stderr, mixed here)
    assert out.is_file() if as_zip else (out / "bagit.txt").is_file()
    assert not list(tmp_path.glob(".memorial*"))  # no partial left beside it
    with instance["database"].sessions() as session:
        [export] = session.scalars(select(Export)).all()
        assert export.status == ExportStatus.DONE and export.tagmanifest_sha256 == digest
        exported = session.scalars(select(CustodyEntry).where(
            CustodyEntry.action == CustodyAction.EXPORTED)).all()
        downloaded = [entry for entry in session.scalars(select(CustodyEntry).where(
            CustodyEntry.action == CustodyAction.DOWNLOADED)) if str(export.id) in entry.details]
    assert len(exported) == 2 and len(downloaded) == 2
    assert all(str(export.id) in entry.details for entry in exported)
    if as_zip:
        verified = run("verify-bundle", str(out))
    else:
        key = published_key(instance, out / "data/custody/checkpoint.txt")
        verified = run("verify-bundle", str(out), "--key", key)
    assert verified.exit_code == 0, verified.output


def test_export_refusals_are_one_line(instance, tmp_path):
    run = instance["run"]
    empty = run("export", instance["empty"], "-o", str(tmp_path / "x"), "--as", LEAD)
    assert empty.exit_code == 1
    assert empty.output.strip().count("\n") == 0 and "no exhibits" in empty.output
    taken = tmp_path / "taken"
    taken.mkdir()
    exists = run("export", instance["filing"], "-o", str(taken), "--as", LEAD)
    assert exists.exit_code == 1 and "exists already" in exists.output
    stranger = run("export", instance["filing"], "-o", str(tmp_path / "y"), "--as",
                   "nobody@example.org")
    assert stranger.exit_code == 1 and "no account" in stranger.output
    with instance["database"].sessions() as session:
        assert session.scalars(select(Export)).all() == []
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_casefile_worker_runs_queued_exports_and_stops_on_sigterm(instance, tmp_path):
    """A job queued by a server (SqliteHuey in the instance folder), run by `casefile worker`
    in a process of its own, which SIGTERM stops."""
    env = cli_env(tmp_path, instance["database"].engine.url.render_as_string(
        hide_password=False))
    settings = load_settings({**os.environ, **env}).with_secret_from_instance()
    app = create_app(settings)
    try:
        with app.app_context(), request_scope.database(app).sessions() as session:
            lead = session.scalar(select(User).where(User.email == LEAD))
            export = export_jobs.request_export(
                session, lead, uuid.UUID(instance["filing"]), store=request_scope.blobs(app),
                keyring=request_scope.keyring(app))
            session.commit()
            export_id = export.id
        jobs.jobs(app).enqueue_export(export_id)
    finally:
        request_scope.database(app).engine.dispose()
    worker = subprocess.Popen(
        [sys.executable, "-c", "import sys; from casefile.cli import main; sys.exit(main())",
         "worker"], env={**os.environ, **env}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline:
            with instance["database"].sessions() as session:
                status = session.get_one(Export, export_id).status
            if status in (ExportStatus.DONE, ExportStatus.FAILED):
                break
            time.sleep(0.5)
        assert status == ExportStatus.DONE
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=60)[0].decode()
    assert worker.returncode == 0, output
    assert "casefile worker: 1 exports queued" in output


def test_export_encrypted_with_age(instance, tmp_path):
    import pyrage  # noqa: PLC0415
    from pyrage import x25519  # noqa: PLC0415

    registry, counsel = x25519.Identity.generate(), x25519.Identity.generate()
    keys = [str(registry.to_public()), str(counsel.to_public())]
    result = instance["run"]("export", instance["filing"], "-o", str(tmp_path / "memorial.zip"),
                             "--as", LEAD, "--zip", "--age-recipient", keys[0],
                             "--age-recipient", keys[1])
    assert result.exit_code == 0, result.output
    assert "encrypted with age to 2 recipient(s)" in result.output
    encrypted = tmp_path / "memorial.zip.age"
    assert encrypted.is_file() and not (tmp_path / "memorial.zip").exists()
    assert b"PK\x03\x04" not in encrypted.read_bytes()[:64]
    plain = tmp_path / "memorial.zip"
    plain.write_bytes(pyrage.decrypt(encrypted.read_bytes(), [counsel]))
    verified = instance["run"]("verify-bundle", str(plain))
    assert verified.exit_code == 0, verified.output
    with instance["database"].sessions() as session:
        [export] = session.scalars(select(Export)).all()
        assert export_jobs.recipients_of(export) == keys
        assert export_jobs.file_name(export).endswith(".zip.age")
        exported = session.scalars(select(CustodyEntry).where(
            CustodyEntry.action == CustodyAction.EXPORTED)).all()
    assert len(exported) == 2
    assert all(json.loads(entry.details)["bundle"]["age_recipients"] == keys
               for entry in exported)


@pytest.mark.parametrize(("extra", "message"), [
    (["--zip", "--age-recipient", "age1nope"],
     "casefile: no bundle written: 'age1nope' is not an age public key"),
    (["--age-recipient", "age1nope"],
     "casefile: --age-recipient needs --zip: only a zip is encrypted"),
])
def test_a_bad_age_recipient_is_one_line_and_nothing_is_queued(instance, tmp_path, extra,
                                                               message):
    out = tmp_path / "memorial.zip"
    result = instance["run"]("export", instance["filing"], "-o", str(out), "--as", LEAD, *extra)
    assert result.exit_code == 1
    assert result.output.startswith(message) and result.output.strip().count("\n") == 0
    with instance["database"].sessions() as session:
        assert session.scalars(select(Export)).all() == []
    assert list(tmp_path.glob("memorial*")) == []
