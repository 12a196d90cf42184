"""A court bundle of chosen items, end to end on the database (SQLite and PostgreSQL): the
plan authorized, a fresh checkpoint, the reports against it, the bytes read verified, one
`exported` entry per item after the files are written, and nothing when anything fails."""

from __future__ import annotations

import csv
import io
import json

import bagit
import pytest
from sqlalchemy import select

from casefile.bundle.writer import BundleError
from casefile.logic.custody import log as custody_log
from casefile.logic.custody.checkpoints import CustodyKeys
from casefile.logic.errors import NotFound
from casefile.logic.evidence import registration
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.submission import EvidenceInput
from casefile.logic.export import items as export_items
from casefile.logic.export import shared as export_shared
from casefile.model import CustodyAction, CustodyEntry, Role, Sensitivity
from casefile.vault.blobstore import LocalBlobStore
from casefile.verifier import bundle_verifier
from casefile.verifier.signed_note import generate_private_key
from tests.bundle import fakes
from tests.factories import add_member, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def store(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def keys():
    return CustodyKeys("casefile.test/custody", generate_private_key())


def add(session, actor, case, content, *, store, keyring, filename, **fields):
    stream = IntakeStream(store, keyring)
    stream.write(content)
    return registration.register_upload(
        session, actor, case.id, stream.finish(), EvidenceInput(**fields), filename=filename,
        declared_mime=None, store=store, keyring=keyring,
    ).item


@pytest.fixture
def vault(session, store, keyring, keys):
    lead = make_user(session, "lead@example.org")
    viewer = make_user(session, "viewer@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, viewer, Role.VIEWER)
    pdf = add(session, lead, case, fakes.three_page_pdf(), store=store, keyring=keyring,
              filename="statement.pdf", title="Statement of a witness", source="field team",
              language="en")
    image = add(session, lead, case, fakes.png(), store=store, keyring=keyring,
                filename="map.png", title="Map")
    hidden = add(session, lead, case, b"witness identity " * 100, store=store, keyring=keyring,
                 filename="identity.txt", title=fakes.BURMESE_TITLE, language="my",
                 sensitivity=Sensitivity.RESTRICTED)
    return {"lead": lead, "viewer": viewer, "case": case, "items": [pdf, image, hidden],
            "store": store, "keyring": keyring, "keys": keys}


def exported(session):
    return list(session.scalars(
        select(CustodyEntry).where(CustodyEntry.action == CustodyAction.EXPORTED)
        .order_by(CustodyEntry.seq)))


def test_a_bundle_of_items_verifies_and_each_item_gets_an_exported_entry(session, vault, tmp_path):
    store, keyring, keys = vault["store"], vault["keyring"], vault["keys"]
    erns = [item.ern for item in vault["items"]]
    prepared = export_items.prepare(session, vault["lead"], vault["case"].id, erns, keys=keys,
                                    keyring=keyring, store=store)
    written = export_items.export(session, vault["lead"], prepared, tmp_path / "bundle")
    out = tmp_path / "bundle"
    bagit.Bag(str(out)).validate()
    report = bundle_verifier.verify(out, keys.verifier_key)
    assert report.problems == [] and report.exhibits == 3
    rows = list(csv.DictReader(io.StringIO((out / "data/index.csv").read_text("utf-8"))))
    assert [r["ern"] for r in rows] == erns
    assert [r["number"] for r in rows] == ["Anx 1", "Anx 2", "Anx 3"]  # an ICC case
    assert rows[2]["title"] == fakes.BURMESE_TITLE  # a restricted item's sealed title, opened
    assert rows[2]["classification"] == "confidential"  # restricted: never public
    assert rows[0]["original_name"] == "statement.pdf" and rows[0]["source"] == "field team"
    custody = json.loads((out / rows[0]["custody_report"]).read_text("utf-8"))
    assert [e["action"] for e in custody["entries"]] == ["intake"]
    entries = exported(session)
    assert [e.item_id for e in entries] == [item.id for item in vault["items"]]
    checkpoint_size = int((out / "data/custody/checkpoint.txt").read_text().splitlines()[1])
    for entry, row in zip(entries, rows, strict=True):
        details = json.loads(entry.details)
        assert details["ern"] == row["ern"]
        assert details["bundle"] == {
            "external_identifier": prepared.plan.filing_id, "exhibit": row["number"],
            "tagmanifest_sha256": written.tagmanifest_sha256,
        }
        assert entry.seq >= checkpoint_size  # the checkpoint was signed first
    # The bundle's tag manifest is the one the entries name.
    import hashlib  # noqa: PLC0415

    assert hashlib.sha256((out / "tagmanifest-sha256.txt").read_bytes()).hexdigest() == (
        written.tagmanifest_sha256)


def test_a_restricted_item_without_a_grant_is_not_found_like_a_missing_one(session, vault):
    store, keyring, keys = vault["store"], vault["keyring"], vault["keys"]
    hidden = vault["items"][2]
    with pytest.raises(NotFound) as refused:
        export_items.prepare(session, vault["viewer"], vault["case"].id, [hidden.ern],
                             keys=keys, keyring=keyring, store=store)
    with pytest.raises(NotFound) as missing:
        export_items.prepare(session, vault["viewer"], vault["case"].id, ["MMR-NOPE-9999"],
                             keys=keys, keyring=keyring, store=store)
    assert str(refused.value).replace(hidden.ern, "X") == str(missing.value).replace(
        "MMR-NOPE-9999", "X")
    outsider = make_user(session, "outsider@example.org")
    with pytest.raises(NotFound):
        export_items.prepare(session, outsider, vault["case"].id, [vault["items"][0].ern],
                             keys=keys, keyring=keyring, store=store)


def corrupt(store, item):
    path = store.root / item.blob_id[:2] / item.blob_id[2:4] / item.blob_id
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("as_zip", [False, True])
def test_an_item_that_fails_its_check_stops_the_bundle_and_nothing_is_exported(
    session, vault, tmp_path, as_zip
):
    store, keyring, keys = vault["store"], vault["keyring"], vault["keys"]
    out = tmp_path / "out"
    out.mkdir()
    corrupt(store, vault["items"][1])
    prepared = export_items.prepare(session, vault["lead"], vault["case"].id,
                                    [item.ern for item in vault["items"]], keys=keys,
                                    keyring=keyring, store=store)
    ern = vault["items"][1].ern
    with pytest.raises(BundleError, match=f"exhibit Anx 2 \\({ern}\\) failed its integrity"):
        export_items.export(session, vault["lead"], prepared, out / "bundle", as_zip=as_zip)
    assert list(out.iterdir()) == []
    assert exported(session) == []
    failures = session.scalars(select(CustodyEntry).where(
        CustodyEntry.action == CustodyAction.INTEGRITY_FAILURE)).all()
    assert [entry.item_id for entry in failures] == [vault["items"][1].id]


def test_entries_that_cannot_be_committed_leave_no_bundle(session, vault, tmp_path, monkeypatch):
    store, keyring, keys = vault["store"], vault["keyring"], vault["keys"]
    prepared = export_items.prepare(session, vault["lead"], vault["case"].id,
                                    [vault["items"][0].ern], keys=keys, keyring=keyring,
                                    store=store)

    def refuse(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(custody_log, "append_many", refuse)
    with pytest.raises(RuntimeError):
        export_items.export(session, vault["lead"], prepared, tmp_path / "bundle")
    assert list(tmp_path.glob("*bundle*")) == []
    assert list(tmp_path.glob(".bundle*")) == []


def test_reports_built_as_the_writer_comes_to_each_item_stay_at_the_checkpoint(
    session, vault, tmp_path, monkeypatch
):
    """Each item's report is built when the writer reaches it, not in `prepare`: entries
    appended in between (the export itself records none until the end) are left out, as
    the checkpoint fixes, and every proof still verifies against it."""
    store, keyring, keys = vault["store"], vault["keyring"], vault["keys"]
    first, second = vault["items"][:2]
    built = []
    real = export_shared.reports.item_report_at
    monkeypatch.setattr(export_shared.reports, "item_report_at",
                        lambda *args: built.append(args[2]) or real(*args))
    prepared = export_items.prepare(session, vault["lead"], vault["case"].id,
                                    [first.ern, second.ern], keys=keys, keyring=keyring,
                                    store=store)
    custody_log.append(session, vault["lead"], CustodyAction.CUSTODY_TRANSFERRED,
                       case_id=vault["case"].id, item_id=second.id,
                       details={"from": "A", "to": "B", "reason": "after the checkpoint"})
    session.commit()
    assert built == []  # none held for the whole export
    export_items.export(session, vault["lead"], prepared, tmp_path / "bundle")
    assert built == [first.id, second.id]  # one each, in order
    out = tmp_path / "bundle"
    assert bundle_verifier.verify(out, keys.verifier_key).problems == []
    rows = list(csv.DictReader(io.StringIO((out / "data/index.csv").read_text("utf-8"))))
    custody = json.loads((out / rows[1]["custody_report"]).read_text("utf-8"))
    assert [e["action"] for e in custody["entries"]] == ["intake"]
    assert "after the checkpoint" not in (out / rows[1]["custody_report"]).read_text("utf-8")
