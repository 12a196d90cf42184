"""A bulk-ingested batch is searchable at once (on both databases), and its index rows are the
ones `reindex` would write: the text segmented and judged Zawgyi on the worker threads before
the registering transaction, the batch's rows written in a few multi-row statements, give the
same terms, blind hashes and `zawgyi` flags as indexing each item alone."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from casefile.logic.evidence import ingest, ingest_run, registration
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.submission import EvidenceInput
from casefile.logic.search import index as search_index
from casefile.model import Evidence, SearchBlindTerm, SearchBody, SearchDocument, Sensitivity
from tests.search import test_search_api
from tests.search.test_search_api import SENTENCE, ZAWGYI, find, ids

_cheap_hashes, world = test_search_api._cheap_hashes, test_search_api.world

FILES = {
    "report.txt": f"Field report\nThe soldiers burned the market at Maung Nu. {SENTENCE}\n",
    "zawgyi.txt": f"Witness list\n{ZAWGYI}\n",
    "photo.bin": "",  # bytes with no text: found by its file name and sidecar fields
    "sealed.txt": "Statement naming the informant Ko Aung Kyaw at the jetty\n",
}
SIDECAR = {
    "photo.bin": EvidenceInput(
        title="Photograph of the riverbank", collected_by="Ma Thida", location="Tula Toli"
    ),
    "sealed.txt": EvidenceInput(
        title="Protected statement", sensitivity=Sensitivity.RESTRICTED
    ),
}


def rows(session, item_id: uuid.UUID) -> tuple[bool, str | None, list[bytes]]:
    """An item's index rows: restricted, its terms, its blind hashes."""
    document = session.scalars(
        select(SearchDocument).where(SearchDocument.doc_id == item_id)
    ).one()
    body = session.get(SearchBody, document.id)
    hashes = session.scalars(
        select(SearchBlindTerm.term_hash)
        .where(SearchBlindTerm.document_id == document.id)
        .order_by(SearchBlindTerm.term_hash)
    ).all()
    return document.restricted, body.body if body else None, list(hashes)


@pytest.fixture
def ingested(world, tmp_path, monkeypatch):
    """The files ingested as the investigator, two per transaction: {file name: item}."""
    monkeypatch.setattr(ingest_run, "REGISTER_BATCH", 2)
    drive = tmp_path / "drive"
    drive.mkdir()
    for name, text in FILES.items():
        (drive / name).write_bytes(text.encode() if text else uuid.uuid4().bytes)
    plan = ingest.plan([drive])
    files = [
        source if source.relative not in SIDECAR else
        type(source)(source.path, source.relative, source.given, source.size,
                     SIDECAR[source.relative])
        for source in plan.files
    ]
    app = world.client.application
    summary = ingest.ingest(
        world.session, world.users.investigator, world.case.id, files,
        store=app.extensions["casefile.blobs"], keyring=lambda: world.keyring,
    )
    assert summary.added == len(FILES) and not summary.failed
    world.session.expire_all()
    items = world.session.scalars(select(Evidence).where(Evidence.case_id == world.case.id))
    return {item.original_filename or "sealed.txt": item for item in items}


def test_an_ingested_batch_is_found_by_its_words(world, ingested):
    report, zawgyi, photo = ingested["report.txt"], ingested["zawgyi.txt"], ingested["photo.bin"]
    assert ids(find(world, world.viewer, "soldiers market")) == [str(report.id)]
    assert ids(find(world, world.viewer, "မီးရှို့")) == [str(report.id)]  # inside a sentence
    assert ids(find(world, world.viewer, report.ern)) == [str(report.id)]
    # Zawgyi text: flagged, and found by the Unicode spelling of its word.
    assert "zawgyi" in zawgyi.flags and "zawgyi" not in report.flags
    assert ids(find(world, world.viewer, "ကျောင်းသား")) == [str(zawgyi.id)]
    assert ids(find(world, world.viewer, "riverbank Thida")) == [str(photo.id)]
    assert ids(find(world, world.viewer, "photo.bin")) == [str(photo.id)]


def test_an_ingested_restricted_item_is_found_blindly_by_its_grantee_only(world, ingested):
    sealed = ingested["sealed.txt"]
    restricted, body, hashes = rows(world.session, sealed.id)
    assert restricted and body is None and hashes
    for headers in (world.viewer, world.lead):
        assert find(world, headers, "informant")["results"] == []
    assert ids(find(world, world.investigator, "informant jetty")) == [str(sealed.id)]


def test_ingested_index_rows_are_those_reindex_writes(world, ingested):
    session = world.session
    before = {item.id: (rows(session, item.id), list(item.flags)) for item in ingested.values()}
    for item in ingested.values():
        search_index.index_evidence(session, world.keyring, item)
    session.commit()
    session.expire_all()
    after = {
        item_id: (rows(session, item_id), list(session.get(Evidence, item_id).flags))
        for item_id in before
    }
    assert after == before
    assert all(body or hashes for (_, body, hashes), _ in after.values())


def test_an_item_without_title_or_name_is_indexed_by_its_number(world, tmp_path):
    """Registering makes the title ("Item N") of an item sent without one: its terms are
    made there too, and are those `reindex` writes."""
    app = world.client.application
    stream = IntakeStream(app.extensions["casefile.blobs"], world.keyring)
    stream.write(f"{ZAWGYI}\n".encode())
    registered = registration.register_upload(
        world.session, world.users.investigator, world.case.id, stream, EvidenceInput(),
        filename=None, declared_mime="text/plain",
        store=app.extensions["casefile.blobs"], keyring=world.keyring,
    )
    item = registered.item
    assert item.title.startswith("Item ")
    assert ids(find(world, world.viewer, item.title)) == [str(item.id)]
    before = rows(world.session, item.id), list(item.flags)
    assert "zawgyi" in before[1]
    search_index.index_evidence(world.session, world.keyring, item)
    world.session.commit()
    world.session.expire_all()
    assert (rows(world.session, item.id), list(world.session.get(Evidence, item.id).flags)) == (
        before
    )
