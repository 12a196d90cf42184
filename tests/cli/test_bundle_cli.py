"""`casefile bundle CASE ERN... -o OUT` and `casefile verify-bundle PATH [--key KEY]` against
a real instance: the bundle verifies offline with the instance's published key, a tampered
one fails in one line naming what failed, and a refused bundle leaves nothing."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from casefile.cli import main
from casefile.db import make_engine
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

    def run(*args, stdin=None, environment=None):
        return runner.invoke(main, list(args), input=stdin, env=environment or env,
                             catch_exceptions=False)

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
    engine = make_engine(fresh_database_url)
    with engine.connect() as connection:
        erns = list(connection.scalars(text("SELECT ern FROM evidence ORDER BY seq")))
    engine.dispose()
    key = signing_key.load(tmp_path / "instance" / signing_key.FILE_NAME)
    return {"run": run, "case": case_id, "erns": erns, "key": key, "tmp": tmp_path,
            "db": fresh_database_url}


def published_key(instance, bundle) -> str:
    origin = (bundle / "data/custody/checkpoint.txt").read_text().splitlines()[0]
    return verifier_key(origin, instance["key"].public_key())


def test_bundle_then_verify_bundle_offline(instance, tmp_path):
    run = instance["run"]
    out = tmp_path / "memorial"
    result = run("bundle", instance["case"], *instance["erns"], "-o", str(out), "--as", LEAD,
                 "--classification", "confidential")
    assert result.exit_code == 0, result.output
    assert "bundle written:" in result.output and "2 exhibits" in result.output
    key = published_key(instance, out)
    # Offline: no instance, no database, no configuration in the environment at all.
    offline = {"CASEFILE_CONFIG": "", "CASEFILE_DATABASE_URL": "postgresql://nowhere/none",
               "CASEFILE_INSTANCE": str(tmp_path / "no-instance")}
    checked = run("verify-bundle", str(out), "--key", key, environment=offline)
    assert checked.exit_code == 0, checked.output
    assert "bundle verified: 2 exhibits" in checked.output
    assert not (tmp_path / "no-instance").exists()
    engine = make_engine(instance["db"])
    with engine.connect() as connection:
        actions = list(connection.scalars(text(
            "SELECT action FROM custody_entries WHERE action = 'exported'")))
    engine.dispose()
    assert len(actions) == 2
    # Tampered: exit 1, the failure named on stderr's one line and in the report.
    original = next(out.glob("data/exhibits/0001_*/original.pdf"))
    original.write_bytes(original.read_bytes() + b" ")
    failed = run("verify-bundle", str(out), "--key", key, environment=offline)
    assert failed.exit_code == 1
    assert "FAIL" in failed.output and "original.pdf: SHA256 does not match" in failed.output
    assert "casefile: bundle does not verify:" in failed.output


def test_a_zip_bundle_and_a_key_file(instance, tmp_path):
    out = tmp_path / "memorial.zip"
    result = instance["run"]("bundle", instance["case"], instance["erns"][0], "-o", str(out),
                             "--as", LEAD, "--zip")
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600  # the evidence, for the operator alone
    import zipfile  # noqa: PLC0415

    with zipfile.ZipFile(out) as archive:
        checkpoint = archive.read("memorial/data/custody/checkpoint.txt").decode()
    origin = checkpoint.splitlines()[0]
    key_file = tmp_path / "published.txt"
    key_file.write_text(verifier_key(origin, instance["key"].public_key()) + "\n")
    checked = instance["run"]("verify-bundle", str(out), "--key", str(key_file))
    assert checked.exit_code == 0, checked.output


def test_an_unknown_ern_is_one_line_and_leaves_nothing(instance, tmp_path):
    out = tmp_path / "nothing"
    result = instance["run"]("bundle", instance["case"], instance["erns"][0], "MMR-NOPE-1",
                             "-o", str(out), "--as", LEAD)
    assert result.exit_code == 1
    assert result.output.strip() == "casefile: evidence MMR-NOPE-1 not found"
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_zip_encrypted_with_age_for_two_recipients(instance, tmp_path):
    import io  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    import pyrage  # noqa: PLC0415
    from pyrage import x25519  # noqa: PLC0415

    registry, counsel = x25519.Identity.generate(), x25519.Identity.generate()
    out = tmp_path / "memorial.zip"
    result = instance["run"](
        "bundle", instance["case"], *instance["erns"], "-o", str(out), "--as", LEAD, "--zip",
        "--age-recipient", str(registry.to_public()), "--age-recipient", str(counsel.to_public()),
    )
    assert result.exit_code == 0, result.output
    encrypted = tmp_path / "memorial.zip.age"
    assert f"bundle written: {encrypted}" in result.output
    assert "encrypted with age to 2 recipient(s)" in result.output
    assert not out.exists()  # no plaintext zip beside it
    assert sorted(p.name for p in tmp_path.iterdir() if "memorial" in p.name) == [
        "memorial.zip.age"]
    plain = pyrage.decrypt(encrypted.read_bytes(), [counsel])
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:
        assert "memorial/data/consolidated.pdf" in archive.namelist()
        checkpoint = archive.read("memorial/data/custody/checkpoint.txt").decode()
    decrypted = tmp_path / "decrypted.zip"
    decrypted.write_bytes(plain)
    key = verifier_key(checkpoint.splitlines()[0], instance["key"].public_key())
    checked = instance["run"]("verify-bundle", str(decrypted), "--key", key)
    assert checked.exit_code == 0, checked.output
    assert "bundle verified: 2 exhibits" in checked.output
    # The custody log says to whom the transport copy was encrypted.
    import json  # noqa: PLC0415

    engine = make_engine(instance["db"])
    with engine.connect() as connection:
        details = [json.loads(row) for row in connection.scalars(text(
            "SELECT details FROM custody_entries WHERE action = 'exported' ORDER BY seq"))]
    engine.dispose()
    assert len(details) == 2
    assert all(d["bundle"]["age_recipients"] == [str(registry.to_public()),
                                                 str(counsel.to_public())] for d in details)


@pytest.mark.parametrize(("extra", "message"), [
    (["--zip", "--age-recipient", "age1nope"],
     ("casefile: no bundle written: 'age1nope' is not an age public key (age1... of 62 "
      "characters)")),
    (["--age-recipient", "age1nope"],
     "casefile: --age-recipient needs --zip: only a zip is encrypted"),
])
def test_a_bad_age_recipient_is_one_line_and_nothing_is_signed_or_written(
    instance, tmp_path, extra, message
):
    engine = make_engine(instance["db"])
    with engine.connect() as connection:
        before = [connection.scalar(text(f"SELECT count(*) FROM {table}"))
                  for table in ("custody_entries", "custody_checkpoints")]
    out = tmp_path / "memorial.zip"
    result = instance["run"]("bundle", instance["case"], instance["erns"][0], "-o", str(out),
                             "--as", LEAD, *extra)
    assert result.exit_code == 1
    assert result.output.strip() == message
    with engine.connect() as connection:
        assert [connection.scalar(text(f"SELECT count(*) FROM {table}"))
                for table in ("custody_entries", "custody_checkpoints")] == before
    engine.dispose()
    assert sorted(p.name for p in tmp_path.iterdir() if "memorial" in p.name) == []


def test_an_age_bundle_never_puts_plaintext_on_the_disk(instance, tmp_path, monkeypatch):
    """`bundle --zip --age-recipient`: at every exhibit and when the custody entries commit,
    the output folder holds one hidden partial file of ciphertext and nothing else (what a
    SIGKILL would leave); the result decrypts to a bag that bagit and verify-bundle accept."""
    import io  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    import bagit  # noqa: PLC0415
    import pyrage  # noqa: PLC0415
    from pyrage import x25519  # noqa: PLC0415

    from casefile.bundle import writer  # noqa: PLC0415
    from casefile.logic.export import items as export_items  # noqa: PLC0415

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    seen = []

    def snapshot():
        seen.append({p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()})

    real_exhibit, real_record = writer._exhibit, export_items.record_export

    def watched_exhibit(*args, **kwargs):
        snapshot()
        return real_exhibit(*args, **kwargs)

    def watched_record(*args, **kwargs):
        snapshot()
        return real_record(*args, **kwargs)

    monkeypatch.setattr(writer, "_exhibit", watched_exhibit)
    monkeypatch.setattr(export_items, "record_export", watched_record)
    registry = x25519.Identity.generate()
    result = instance["run"](
        "bundle", instance["case"], *instance["erns"], "-o", str(out_dir / "memorial.zip"),
        "--as", LEAD, "--zip", "--age-recipient", str(registry.to_public()),
    )
    assert result.exit_code == 0, result.output
    assert len(seen) == len(instance["erns"]) + 1
    for files in seen:
        [(path, data)] = files.items()
        assert path.parent == out_dir and path.name.startswith(".memorial.zip.age.partial-")
        assert data == b"" or data.startswith(b"age-encryption.org/v1\n")
        assert b"PK\x03\x04" not in data and b"bagit.txt" not in data
        assert fakes.png()[:64] not in data
    assert sorted(p.name for p in out_dir.iterdir()) == ["memorial.zip.age"]
    plain = pyrage.decrypt((out_dir / "memorial.zip.age").read_bytes(), [registry])
    decrypted = tmp_path / "decrypted.zip"
    decrypted.write_bytes(plain)
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:
        checkpoint = archive.read("memorial/data/custody/checkpoint.txt").decode()
        archive.extractall(tmp_path / "unzipped")
    bagit.Bag(str(tmp_path / "unzipped" / "memorial")).validate()
    key = verifier_key(checkpoint.splitlines()[0], instance["key"].public_key())
    checked = instance["run"]("verify-bundle", str(decrypted), "--key", key)
    assert checked.exit_code == 0, checked.output


def test_the_bundle_command_builds_its_app_without_the_http_side(instance, tmp_path, monkeypatch):
    """No web pages, API, uploads or error handlers (their imports cost the start ~0.2 s of
    CPU): the bundle needs the database, the keys and the store only, and is complete."""
    import casefile  # noqa: PLC0415

    built = []
    create_app = casefile.create_app

    def spy(*args, **kwargs):
        app = create_app(*args, **kwargs)
        built.append(app)
        return app

    monkeypatch.setattr(casefile, "create_app", spy)
    out = tmp_path / "memorial"
    result = instance["run"]("bundle", instance["case"], *instance["erns"], "-o", str(out),
                             "--as", LEAD)
    assert result.exit_code == 0, result.output
    assert len(built) == 1
    assert built[0].blueprints == {}
    assert {"casefile.db", "casefile.custody_keys", "casefile.blobs", "casefile.keyring"} <= set(
        built[0].extensions)
    checked = instance["run"]("verify-bundle", str(out), "--key", published_key(instance, out))
    assert checked.exit_code == 0, checked.output
