"""Resumable uploads (tus 1.0.0: core, creation, checksum, termination).

The protocol is exercised end to end with the `tuspy` client against `casefile serve` (the
gunicorn server that ships, tests/live_server.py) on a real (committed) database, and its
rules in detail through the test client. Bodies are held in memory, never in files, so that
the no-plaintext-on-disk checks find only what the server wrote.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import secrets
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from sqlalchemy import func, select, update
from tusclient.client import TusClient

from casefile import create_app, request_scope
from casefile.api import tus_headers
from casefile.db import Database, utcnow
from casefile.logic.cases import members
from casefile.logic.evidence import metadata as item_metadata
from casefile.logic.evidence import registration, tus
from casefile.model import CustodyAction, CustodyEntry, Evidence, Role
from casefile.model.tus_upload import TusChunk, TusUpload
from casefile.vault import envelope
from casefile.vault.blobstore import open_store
from tests.factories import add_member, bearer, make_case, make_user
from tests.live_server import Live as LiveServer
from tests.live_server import contains, instance_env, serving
from tests.server.live import read_response
from tests.stores import StoreView
from tests.web.test_auth_web import cheap_password_hashes

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def metadata(**fields: str) -> str:
    return ",".join(f"{key} {b64(value)}" for key, value in fields.items())


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {b64(hashlib.new(algorithm, data).digest())}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def holding(paths: list[Path], marker: bytes) -> list[str]:
    """The files among `paths` that contain `marker`."""
    return [str(path) for path in paths if contains(path, marker)]


def modified_since(root: Path, since: float) -> list[Path]:
    found = []
    for folder, _, names in os.walk(root, onerror=lambda _error: None):
        for name in names:
            path = Path(folder) / name
            try:
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime >= since:
                    found.append(path)
            except OSError:
                continue
    return found


# --- end to end: tuspy against a live server -----------------------------------------------


@dataclasses.dataclass
class Live:
    server: LiveServer
    case_id: uuid.UUID
    tokens: dict[str, dict[str, str]]  # who → Authorization header
    stored: StoreView
    storage_folder: Path  # the local store's folder (empty when the store is S3)
    database: Database

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def patched(self, at_least: int = 0) -> list[tuple[str, int]]:
        """(path, status) of every PATCH the server answered, from its access log."""
        return self.server.logged("PATCH", at_least=at_least)

    def client(self, who: str = "investigator") -> TusClient:
        return TusClient(f"{self.url}/api/v1/cases/{self.case_id}/uploads", self.tokens[who])

    def get(self, path: str, who: str = "investigator") -> requests.Response:
        return requests.get(f"{self.url}{path}", headers=self.tokens[who], timeout=30)

    def tus(self, method: str, url: str, who: str = "investigator", **headers: str) -> Any:
        return requests.request(
            method, url, headers={**TUS, **self.tokens[who], **headers}, timeout=30
        )

    def patch(
        self, url: str, offset: int, body: bytes, who: str = "investigator", **headers: str
    ) -> requests.Response:
        return requests.patch(
            url,
            data=body,
            headers={
                **TUS,
                **self.tokens[who],
                "Upload-Offset": str(offset),
                "Content-Type": OFFSET_STREAM,
                **headers,
            },
            timeout=30,
        )


@pytest.fixture
def live(fresh_database_url: str, tmp_path: Path, settings: Any) -> Iterator[Live]:
    """`casefile serve` on an instance of its own (these settings' keys and blob store, a
    database of its own), with a case and its members' API tokens."""
    database = Database.from_url(fresh_database_url)
    with database.sessions() as session:
        lead = make_user(session, "lead@example.org")
        users = {
            name: make_user(session, f"{name}@example.org")
            for name in ("investigator", "colleague", "viewer", "outsider")
        }
        case = make_case(session, lead)
        add_member(session, case, lead, users["investigator"], Role.INVESTIGATOR)
        add_member(session, case, lead, users["colleague"], Role.INVESTIGATOR)
        add_member(session, case, lead, users["viewer"], Role.VIEWER)
        tokens = {name: bearer(session, user) for name, user in users.items()}
        case_id = case.id
    try:
        with serving(instance_env(settings, fresh_database_url, tmp_path), tmp_path) as server:
            yield Live(
                server=server,
                case_id=case_id,
                tokens=tokens,
                stored=StoreView(open_store(settings.storage_url, settings)),
                storage_folder=tmp_path / "storage",
                database=database,
            )
    finally:
        database.engine.dispose()


def evidence_of(uploader: Any) -> str:
    return uploader.request.response_headers["x-casefile-evidence"]


def test_tuspy_uploads_a_file_in_chunks_and_it_becomes_an_item(live):
    content = secrets.token_bytes(12 * MIB)
    uploader = live.client().uploader(
        file_stream=io.BytesIO(content),
        chunk_size=MIB,
        upload_checksum=True,  # sha1 of every chunk, verified before it is stored
        metadata={
            "filename": "drone-footage.mp4",
            "title": "Drone footage, Tula Toli",
            "collected_by": "Field team 3",
            "filetype": "video/mp4",
        },
    )
    uploader.upload()
    assert uploader.offset == len(content)
    item_id = evidence_of(uploader)

    item = live.get(f"/api/v1/evidence/{item_id}").json()
    assert item["sha256"] == sha256(content)
    assert item["size"] == len(content)
    assert item["title"] == "Drone footage, Tula Toli"
    assert item["original_filename"] == "drone-footage.mp4"
    assert item["declared_mime"] == "video/mp4"
    assert "type_mismatch" in item["flags"]  # random bytes are not video/mp4
    assert item["collector"]["collected_by"] == "Field team 3"
    download = live.get(f"/api/v1/evidence/{item_id}/content")
    assert download.status_code == 200
    assert download.content == content
    actions = [
        entry["action"]
        for entry in live.get(f"/api/v1/evidence/{item_id}/custody").json()["entries"]
    ]
    assert actions[0] == CustodyAction.INTAKE.value

    # Once registered, HEAD still answers with the item; the chunks are gone from the store.
    status = live.tus("HEAD", uploader.url)
    assert status.status_code == 200
    assert status.headers["Upload-Offset"] == status.headers["Upload-Length"] == str(len(content))
    assert status.headers["X-Casefile-Evidence"] == item_id
    assert status.headers["Cache-Control"] == "no-store"
    assert live.stored.contents() == [live.stored.blob(item_id)]
    # Twelve 1 MiB PATCHes, each answered 204 by the server.
    assert [code for _, code in live.patched(at_least=12)] == [204] * 12


def test_an_interrupted_upload_resumes_where_it_stopped(live):
    content = secrets.token_bytes(12 * MIB)
    first = live.client().uploader(file_stream=io.BytesIO(content), chunk_size=MIB)
    first.upload(stop_at=11 * MIB)  # then the link drops, at 92%
    assert first.offset == 11 * MIB

    # A PATCH cut off mid-body keeps only whole chunks (tus.CHUNK_BYTES), and this one is
    # shorter than one: nothing of it is kept, the offset stays where it was.
    path = first.url.removeprefix(live.url)
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        head = (
            f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {live.tokens['investigator']['Authorization']}\r\n"
            f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {11 * MIB}\r\n"
            f"Content-Type: {OFFSET_STREAM}\r\nContent-Length: {MIB}\r\n\r\n"
        )
        sock.sendall(head.encode() + content[11 * MIB : 11 * MIB + 300_000])
    status = live.tus("HEAD", first.url)
    assert status.headers["Upload-Offset"] == str(11 * MIB)

    # A new client (a new process, after the link came back) resumes from the server's offset.
    second = live.client().uploader(file_stream=io.BytesIO(content), chunk_size=MIB, url=first.url)
    assert second.offset == 11 * MIB  # asked the server (HEAD); it does not start from 0
    second.upload()
    item_id = evidence_of(second)
    assert live.get(f"/api/v1/evidence/{item_id}").json()["sha256"] == sha256(content)
    assert live.get(f"/api/v1/evidence/{item_id}/content").content == content
    # Every byte crossed the wire once: twelve 1 MiB PATCHes stored, none repeated (the one
    # cut off mid-body, if the server logged it, was not answered 204).
    stored = [entry for entry in live.patched(at_least=12) if entry[1] == 204]
    assert stored == [(path, 204)] * 12


def test_no_plaintext_reaches_disk_during_or_after_an_upload(live):
    """Checked on the server process itself: the files it holds open (unlinked ones too,
    which no folder shows) while a PATCH body is half received, its own TMPDIR, the store
    and the system's temporary folder."""
    marker = secrets.token_bytes(32)
    content = marker * (4 * MIB // len(marker))
    started = time.time() - 1
    temp_root = Path(tempfile.gettempdir())

    def nothing_on_disk() -> None:
        assert live.stored.holding(marker) == []
        assert holding(files_under(live.storage_folder), marker) == []
        assert holding(files_under(live.server.tmpdir), marker) == []
        assert holding(modified_since(temp_root, started), marker) == []
        assert live.server.open_files_holding(marker) == []
        # Only gunicorn's worker heartbeat is open under the TMPDIR: unlinked and empty (the
        # master and the worker each hold it).
        assert [file for file in live.server.open_under_tmpdir() if file[1] != 0] == []

    uploader = live.client().uploader(file_stream=io.BytesIO(content), chunk_size=MIB)
    uploader.upload(stop_at=2 * MIB)
    chunks = list(live.stored.store.blob_ids())
    assert len(chunks) == 2  # one encrypted blob per chunk received so far
    assert all(len(live.stored.raw(chunk)) > MIB for chunk in chunks)  # header and tags
    nothing_on_disk()

    # A PATCH whose body is half sent: the server is reading it now.
    path = uploader.url.removeprefix(live.url)
    with socket.create_connection(("127.0.0.1", live.port), timeout=30) as sock:
        sock.sendall(
            (
                f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: {live.tokens['investigator']['Authorization']}\r\n"
                f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {2 * MIB}\r\n"
                f"Content-Type: {OFFSET_STREAM}\r\nContent-Length: {MIB}\r\n\r\n"
            ).encode()
            + content[2 * MIB : 2 * MIB + MIB // 2]
        )
        # The worker reads the body as it arrives: look once it has read all that was sent.
        deadline = time.monotonic() + 10
        while live.server.unread(sock):
            assert time.monotonic() < deadline, "the server did not read the body sent"
            time.sleep(0.02)
        nothing_on_disk()
        sock.sendall(content[2 * MIB + MIB // 2 : 3 * MIB])
        status, _ = read_response(sock)
        assert status == 204

    resumed = live.client().uploader(
        file_stream=io.BytesIO(content), chunk_size=MIB, url=uploader.url
    )
    assert resumed.offset == 3 * MIB
    resumed.upload()
    item_id = evidence_of(resumed)
    nothing_on_disk()
    assert live.stored.contents() == [live.stored.blob(item_id)]
    assert live.get(f"/api/v1/evidence/{item_id}/content").content == content


def raw_patch_head(live: Live, path: str, offset: int, length: int, **extra: str) -> bytes:
    headers = "".join(f"{name}: {value}\r\n" for name, value in extra.items())
    return (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {live.tokens['investigator']['Authorization']}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
        f"Content-Type: {OFFSET_STREAM}\r\nContent-Length: {length}\r\n{headers}\r\n"
    ).encode()


def offset_becomes(live: Live, url: str, expected: int) -> int:
    """The upload's offset once it reaches `expected` (or after 20 s, whatever it is)."""
    deadline = time.monotonic() + 20
    while True:
        offset = int(live.tus("HEAD", url).headers["Upload-Offset"])
        if offset == expected or time.monotonic() > deadline:
            return offset
        time.sleep(0.05)


def test_a_cut_off_patch_keeps_its_whole_chunks(live):
    """A client that sends a whole file in one PATCH (tus-js-client's default) and loses its
    link resumes from the last whole chunk the server stored, not from the start."""
    content = secrets.token_bytes(20 * MIB + 4321)
    created = live.tus(
        "POST",
        f"{live.url}/api/v1/cases/{live.case_id}/uploads",
        **{"Upload-Length": str(len(content))},
    )
    assert created.status_code == 201
    url = f"{live.url}{created.headers['Location']}"
    path = created.headers["Location"]
    sent = 2 * tus.CHUNK_BYTES + MIB  # two whole chunks and part of a third, then the link drops
    with socket.create_connection(("127.0.0.1", live.port), timeout=30) as sock:
        sock.sendall(raw_patch_head(live, path, 0, len(content)) + content[:sent])
        deadline = time.monotonic() + 20
        while live.server.unread(sock):
            assert time.monotonic() < deadline, "the server did not read the body sent"
            time.sleep(0.02)
    assert offset_becomes(live, url, 2 * tus.CHUNK_BYTES) == 2 * tus.CHUNK_BYTES
    time.sleep(0.5)  # the partial third chunk is dropped, not recorded late
    assert live.tus("HEAD", url).headers["Upload-Offset"] == str(2 * tus.CHUNK_BYTES)
    assert len(live.stored.contents()) == 2

    # With a checksum over the body, a cut-off PATCH keeps nothing: it cannot be verified.
    rest = content[2 * tus.CHUNK_BYTES :]
    with socket.create_connection(("127.0.0.1", live.port), timeout=30) as sock:
        digest = checksum("sha256", rest)
        head = raw_patch_head(
            live, path, 2 * tus.CHUNK_BYTES, len(rest), **{"Upload-Checksum": digest}
        )
        sock.sendall(head + rest[: tus.CHUNK_BYTES // 2 + 10])
        deadline = time.monotonic() + 20
        while live.server.unread(sock):
            assert time.monotonic() < deadline, "the server did not read the body sent"
            time.sleep(0.02)
    time.sleep(0.5)
    assert live.tus("HEAD", url).headers["Upload-Offset"] == str(2 * tus.CHUNK_BYTES)
    assert len(live.stored.contents()) == 2

    resumed = live.patch(url, 2 * tus.CHUNK_BYTES, rest)
    assert resumed.status_code == 204, resumed.text
    item_id = resumed.headers["X-Casefile-Evidence"]
    item = live.get(f"/api/v1/evidence/{item_id}").json()
    assert item["sha256"] == sha256(content)
    assert item["size"] == len(content)
    assert live.stored.contents() == [live.stored.blob(item_id)]


def test_a_40_mib_patch_is_never_held_or_spooled_in_plaintext(live):
    """One PATCH of 40 MiB (over the 16 MiB max_request_mb): while half of it is in, no file
    the server holds open (unlinked ones too) or wrote holds plaintext."""
    marker = secrets.token_bytes(32)
    content = marker * (40 * MIB // len(marker))
    started = time.time() - 1
    created = live.tus(
        "POST",
        f"{live.url}/api/v1/cases/{live.case_id}/uploads",
        **{"Upload-Length": str(len(content))},
    )
    path = created.headers["Location"]
    with socket.create_connection(("127.0.0.1", live.port), timeout=60) as sock:
        sock.sendall(raw_patch_head(live, path, 0, len(content)) + content[: 20 * MIB])
        deadline = time.monotonic() + 20
        while live.server.unread(sock):
            assert time.monotonic() < deadline, "the server did not read the body sent"
            time.sleep(0.02)
        assert live.server.open_files_holding(marker) == []
        assert [file for file in live.server.open_under_tmpdir() if file[1] != 0] == []
        assert holding(files_under(live.server.tmpdir), marker) == []
        assert holding(modified_since(Path(tempfile.gettempdir()), started), marker) == []
        assert live.stored.holding(marker) == []
        sock.sendall(content[20 * MIB :])
        status, _ = read_response(sock)
        assert status == 204
    item_id = live.tus("HEAD", f"{live.url}{path}").headers["X-Casefile-Evidence"]
    assert live.get(f"/api/v1/evidence/{item_id}").json()["sha256"] == sha256(content)
    assert live.stored.holding(marker) == []
    assert live.server.open_files_holding(marker) == []


def test_protocol_errors_over_http(live):
    content = secrets.token_bytes(3 * MIB)
    uploader = live.client().uploader(file_stream=io.BytesIO(content), chunk_size=MIB)
    uploader.upload(stop_at=MIB)
    url = uploader.url
    stored = live.stored.contents()

    # An offset other than the server's: 409, nothing stored.
    for offset in (0, 2 * MIB):
        response = live.patch(url, offset, content[offset : offset + MIB])
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "offset_mismatch"
        assert response.headers["Tus-Resumable"] == "1.0.0"

    # A checksum that does not match the body: 460, nothing stored, the offset unchanged.
    chunk = content[MIB : 2 * MIB]
    response = live.patch(url, MIB, chunk, **{"Upload-Checksum": checksum("sha1", b"other")})
    assert response.status_code == 460
    assert response.reason == "Checksum Mismatch"
    assert response.json()["error"]["code"] == "checksum_mismatch"
    assert live.tus("HEAD", url).headers["Upload-Offset"] == str(MIB)
    assert live.stored.contents() == stored
    unsupported = live.patch(url, MIB, chunk, **{"Upload-Checksum": checksum("md5", chunk)})
    assert unsupported.status_code == 400
    good = live.patch(url, MIB, chunk, **{"Upload-Checksum": checksum("sha256", chunk)})
    assert good.status_code == 204
    assert good.headers["Upload-Offset"] == str(2 * MIB)

    # Someone else, even a member who may add evidence, finds no such upload.
    for method, extra in (
        ("HEAD", {}),
        ("DELETE", {}),
        ("PATCH", {"Upload-Offset": str(2 * MIB), "Content-Type": OFFSET_STREAM}),
    ):
        assert live.tus(method, url, "colleague", **extra).status_code == 404
        assert live.tus(method, url, "outsider", **extra).status_code == 404
    assert live.tus("HEAD", url).headers["Upload-Offset"] == str(2 * MIB)

    # A viewer may not start one; a non-member does not see the case.
    for who, expected in (("viewer", 403), ("outsider", 404)):
        refused = live.client(who).uploader(file_stream=io.BytesIO(content), chunk_size=MIB)
        with pytest.raises(Exception, match=str(expected)):
            refused.upload()

    # Termination: 204, then the upload and its encrypted chunks are gone.
    assert len(live.stored.contents()) == 2
    assert live.tus("DELETE", url).status_code == 204
    assert live.tus("HEAD", url).status_code == 404
    assert live.patch(url, 2 * MIB, content[2 * MIB :]).status_code == 404
    assert live.stored.contents() == []
    with live.database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(TusUpload)) == 0
        assert session.scalar(select(func.count()).select_from(Evidence)) == 0


# --- the rules in detail, through the test client --------------------------------------------


@pytest.fixture
def world(session):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    return SimpleNamespace(
        case=case,
        lead_user=lead,
        investigator_user=investigator,
        lead=bearer(session, lead),
        investigator=bearer(session, investigator),
        viewer=bearer(session, viewer),
        outsider=bearer(session, outsider),
    )


@pytest.fixture
def settings(settings_on_each_store):
    """The whole of this module runs on the local store and on S3."""
    return settings_on_each_store


def start(client, world, length: int, who: str = "investigator", **fields: str):
    headers = {**TUS, **getattr(world, who), "Upload-Length": str(length)}
    if fields:
        headers["Upload-Metadata"] = metadata(**fields)
    return client.post(f"/api/v1/cases/{world.case.id}/uploads", headers=headers)


def send(client, world, url: str, offset: int, body: bytes, *, who: str = "investigator", **extra):
    headers = {
        **TUS,
        **getattr(world, who),
        "Upload-Offset": str(offset),
        "Content-Type": OFFSET_STREAM,
        **extra,
    }
    return client.patch(url, headers=headers, data=body)


def upload_rows(session) -> int:
    return session.scalar(select(func.count()).select_from(TusUpload))


def test_options_tells_what_the_server_supports(client, world):
    for path in (f"/api/v1/cases/{world.case.id}/uploads", f"/api/v1/uploads/{uuid.uuid4()}"):
        response = client.options(path)  # no sign-in needed to learn the protocol
        assert response.status_code == 204
        assert response.headers["Tus-Version"] == "1.0.0"
        assert response.headers["Tus-Resumable"] == "1.0.0"
        extensions = response.headers["Tus-Extension"].split(",")
        assert {"creation", "checksum", "termination"} <= set(extensions)
        assert response.headers["Tus-Max-Size"] == str(8192 * MIB)
        assert response.headers["Tus-Checksum-Algorithm"] == "sha1,sha256"


def test_requests_without_the_tus_version_are_refused(client, world, session):
    url = start(client, world, 10).headers["Location"]
    auth = world.investigator
    for response in (
        client.post(
            f"/api/v1/cases/{world.case.id}/uploads", headers={**auth, "Upload-Length": "10"}
        ),
        client.head(url, headers=auth),
        client.patch(
            url,
            headers={
                **auth,
                "Tus-Resumable": "0.2.2",
                "Upload-Offset": "0",
                "Content-Type": OFFSET_STREAM,
            },
            data=b"x",
        ),
        client.delete(url, headers=auth),
    ):
        assert response.status_code == 412
        assert response.headers["Tus-Version"] == "1.0.0"
    assert upload_rows(session) == 1
    assert client.head(url, headers={**TUS, **auth}).headers["Upload-Offset"] == "0"


def test_creation_checks_its_headers_and_metadata(client, world, session):
    path = f"/api/v1/cases/{world.case.id}/uploads"
    base = {**TUS, **world.investigator}
    cases = [
        ({}, 400),  # no Upload-Length
        ({"Upload-Length": "-1"}, 400),
        ({"Upload-Length": "1e6"}, 400),
        ({"Upload-Defer-Length": "1"}, 400),
        ({"Upload-Length": str(8192 * MIB + 1)}, 413),
        ({"Upload-Length": "10", "Upload-Metadata": "filename not*base64"}, 400),
        (
            {
                "Upload-Length": "10",
                "Upload-Metadata": metadata(filename="a", filename2="b") + ",filename " + b64("c"),
            },
            400,
        ),  # a key twice
        ({"Upload-Length": "10", "Upload-Metadata": metadata(colour="r" * 1025)}, 422),
        ({"Upload-Length": "10", "Upload-Metadata": "relativePath " + b64(b"\xff\xfe")}, 422),
        (
            {
                "Upload-Length": "10",
                "Upload-Metadata": metadata(**{f"key{n}": "x" for n in range(33)}),
            },
            422,
        ),  # a client's own keys: 32 at most
        ({"Upload-Length": "10", "Upload-Metadata": metadata(sensitivity="secret")}, 422),
        ({"Upload-Length": "10", "Upload-Metadata": metadata(collected_at="yesterday")}, 422),
        ({"Upload-Length": "10", "Upload-Metadata": "title " + b64(b"\xff\xfe")}, 422),
        ({"Upload-Length": "10", "Upload-Metadata": metadata(title="a\x00b")}, 422),
    ]
    for extra, expected in cases:
        response = client.post(path, headers={**base, **extra})
        assert response.status_code == expected, (extra, response.get_data(as_text=True))
        assert "error" in response.get_json()
    assert upload_rows(session) == 0


def test_who_may_start_an_upload(client, world, session):
    assert start(client, world, 10, who="viewer").status_code == 403
    assert start(client, world, 10, who="outsider").status_code == 404
    anonymous = client.post(
        f"/api/v1/cases/{world.case.id}/uploads", headers={**TUS, "Upload-Length": "10"}
    )
    assert anonymous.status_code == 401
    other_case = client.post(
        f"/api/v1/cases/{uuid.uuid4()}/uploads",
        headers={**TUS, **world.investigator, "Upload-Length": "10"},
    )
    assert other_case.status_code == 404
    assert upload_rows(session) == 0
    created = start(client, world, 10)
    assert created.status_code == 201
    assert created.headers["Location"].startswith("/api/v1/uploads/")
    assert created.headers["Upload-Offset"] == "0"


def test_unknown_metadata_keys_are_kept_with_the_upload_not_the_item(client, world, session):
    """Uppy sends relativePath, tus-js-client's users filetype and their own keys: accepted,
    answered by HEAD as sent, and not made part of the item."""
    content = b"%PDF-1.4 " + secrets.token_bytes(2000)
    sent = {
        "filename": "statement.pdf",
        "filetype": "application/pdf",
        "relativePath": "field/2024-05/statement.pdf",
        "title": "Statement W-18",
        "colour": "r" * 1024,  # the longest value accepted for a key of the client's own
    }
    response = start(client, world, len(content), **sent)
    assert response.status_code == 201, response.get_data(as_text=True)
    url = response.headers["Location"]
    status = client.head(url, headers={**TUS, **world.investigator})
    assert tus_headers.parse_metadata(status.headers["Upload-Metadata"]) == sent
    item_id = send(client, world, url, 0, content).headers["X-Casefile-Evidence"]
    item = session.get(Evidence, uuid.UUID(item_id))
    assert item.title == "Statement W-18"
    assert item.original_filename == "statement.pdf"
    assert item.declared_mime == "application/pdf"
    assert "relativePath" not in item.collector and "colour" not in item.collector
    assert "field/2024-05" not in str(item.collector)
    # Known keys keep their validation.
    bad = start(client, world, 10, relativePath="a", sensitivity="secret")
    assert bad.status_code == 422
    assert "sensitivity" in bad.get_json()["error"]["fields"], bad.get_json()


@pytest.fixture
def small_limits(settings, database):
    """Items of at most 2 MiB; JSON and form bodies of at most 1 MiB."""
    app = create_app(
        dataclasses.replace(settings, evidence_max_mb=2, max_request_mb=1), database=database
    )
    return app.test_client()


def test_a_patch_may_be_as_large_as_the_largest_item(small_limits, world, session, stored):
    """PATCH bodies are not held to max_request_mb: a tus client sends a whole file in one
    PATCH by default. The upload's length (at most Tus-Max-Size) bounds them, inclusively."""
    client = small_limits
    largest = 2 * MIB
    assert client.options(f"/api/v1/uploads/{uuid.uuid4()}").headers["Tus-Max-Size"] == str(largest)
    too_large = start(client, world, largest + 1)
    assert too_large.status_code == 413
    assert too_large.headers["Tus-Max-Size"] == str(largest)
    assert too_large.get_json()["error"]["code"] == "payload_too_large"

    content = secrets.token_bytes(largest)
    url = start(client, world, largest).headers["Location"]
    over = send(client, world, url, 0, content + b"!")  # one byte more than the upload needs
    assert over.status_code == 413
    assert over.headers["Tus-Max-Size"] == str(largest)
    assert stored.contents() == []
    whole = send(client, world, url, 0, content)  # exactly the largest: twice max_request_mb
    assert whole.status_code == 204, whole.get_data(as_text=True)
    item = session.get(Evidence, uuid.UUID(whole.headers["X-Casefile-Evidence"]))
    assert item.sha256 == sha256(content)
    assert item.size == largest

    # The same without a Content-Length (a streamed, chunked body): its end is found by reading
    # one byte past it, which the limit allows; one byte more than the largest is refused.
    for body, expected in ((content[::-1], 204), (content[::-1] + b"!", 413)):
        url = start(client, world, largest).headers["Location"]
        streamed = client.patch(
            url,
            headers={**TUS, **world.investigator, "Upload-Offset": "0"},
            content_type=OFFSET_STREAM,
            input_stream=io.BytesIO(body),
            # as gunicorn passes a chunked body: no length, the stream ends at its last chunk
            environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
        )
        assert streamed.status_code == expected, streamed.get_data(as_text=True)
        if expected == 204:
            item_id = uuid.UUID(streamed.headers["X-Casefile-Evidence"])
            assert session.get(Evidence, item_id).sha256 == sha256(body)
    assert streamed.headers["Tus-Max-Size"] == str(largest)


@pytest.fixture
def quarter_mib_chunks(monkeypatch) -> int:
    monkeypatch.setattr(tus, "CHUNK_BYTES", 256 * 1024)
    return 256 * 1024


def test_a_large_patch_is_stored_as_bounded_chunks(
    client, world, session, stored, quarter_mib_chunks
):
    quarter = quarter_mib_chunks
    items: list[str] = []  # the blobs of the items registered so far
    for with_checksum in (False, True):  # recorded as they come, or all at the end
        content = secrets.token_bytes(MIB + 1000)
        url = start(client, world, len(content)).headers["Location"]
        body = content[: MIB + 10]
        extra = {"Upload-Checksum": checksum("sha256", body)} if with_checksum else {}
        first = send(client, world, url, 0, body, **extra)
        assert first.status_code == 204
        assert first.headers["Upload-Offset"] == str(MIB + 10)
        upload_id = uuid.UUID(url.rsplit("/", 1)[1])
        rows = session.execute(
            select(TusChunk.seq, TusChunk.start, TusChunk.size, TusChunk.blob_id)
            .where(TusChunk.upload_id == upload_id)
            .order_by(TusChunk.seq)
        ).all()
        assert [tuple(row[:3]) for row in rows] == [
            (0, 0, quarter), (1, quarter, quarter), (2, 2 * quarter, quarter),
            (3, 3 * quarter, quarter), (4, MIB, 10),
        ]  # fmt: skip
        assert sorted(stored.contents()) == sorted(
            [stored.blob(row.blob_id) for row in rows] + items
        )
        assert all(len(stored.raw(row.blob_id)) > row.size for row in rows)  # sealed chunks
        session.commit()
        last = send(client, world, url, MIB + 10, content[MIB + 10 :])
        item = session.get(Evidence, uuid.UUID(last.headers["X-Casefile-Evidence"]))
        assert item.sha256 == sha256(content)
        items.append(stored.blob(item.id.hex))
        assert sorted(stored.contents()) == sorted(items)  # the chunks are gone
        session.commit()


def test_a_checksum_mismatch_keeps_none_of_a_large_patch(
    client, world, session, stored, quarter_mib_chunks
):
    content = secrets.token_bytes(MIB)
    url = start(client, world, len(content)).headers["Location"]
    wrong = send(client, world, url, 0, content, **{"Upload-Checksum": checksum("sha1", b"x")})
    assert wrong.status_code == 460
    assert client.head(url, headers={**TUS, **world.investigator}).headers["Upload-Offset"] == "0"
    assert stored.contents() == []
    assert session.scalar(select(func.count()).select_from(TusChunk)) == 0


def test_patch_rules(client, world, stored):
    content = secrets.token_bytes(100_000)
    url = start(client, world, len(content)).headers["Location"]
    auth = {**TUS, **world.investigator}
    wrong_type = client.patch(
        url,
        headers={**auth, "Upload-Offset": "0"},
        data=content,
        content_type="application/octet-stream",
    )
    assert wrong_type.status_code == 415
    no_offset = client.patch(url, headers=auth, data=content, content_type=OFFSET_STREAM)
    assert no_offset.status_code == 400
    too_long = send(client, world, url, 0, content + b"!")
    assert too_long.status_code == 413
    assert stored.contents() == []  # nothing kept, not even encrypted
    malformed = send(client, world, url, 0, content, **{"Upload-Checksum": "sha1 !!!"})
    assert malformed.status_code == 400
    short_digest = send(client, world, url, 0, content, **{"Upload-Checksum": "sha256 " + b64("x")})
    assert short_digest.status_code == 400
    empty = send(client, world, url, 0, b"")
    assert empty.status_code == 204
    assert empty.headers["Upload-Offset"] == "0"
    assert stored.contents() == []
    first = send(
        client,
        world,
        url,
        0,
        content[:40_000],
        **{"Upload-Checksum": checksum("sha256", content[:40_000])},
    )
    assert first.status_code == 204
    assert first.headers["Upload-Offset"] == "40000"
    assert "X-Casefile-Evidence" not in first.headers
    last = send(client, world, url, 40_000, content[40_000:])
    assert last.status_code == 204
    item_id = last.headers["X-Casefile-Evidence"]
    # A complete upload takes no more bytes, and says the same thing when asked again.
    assert send(client, world, url, 100_000, b"more").status_code == 413
    again = send(client, world, url, 100_000, b"")
    assert again.status_code == 204
    assert again.headers["X-Casefile-Evidence"] == item_id
    assert send(client, world, url, 40_000, content[40_000:]).status_code == 409


def test_metadata_reaches_the_item_and_its_custody_entry(client, world, session):
    content = b"%PDF-1.4 witness statement\n" + secrets.token_bytes(1000)
    response = start(
        client,
        world,
        len(content),
        filename="../../etc/passwd\x00.pdf",
        filetype="application/pdf",
        title="Statement W-17",
        description="Taken in Cox's Bazar",
        collected_at="2024-05-01T10:30:00Z",
        location="Kutupalong",
        sensitivity="restricted",
        declared_hashes="md5:" + "0" * 32,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    url = response.headers["Location"]
    status = client.head(url, headers={**TUS, **world.investigator})
    assert "Upload-Metadata" in status.headers
    shown = tus_headers.parse_metadata(status.headers["Upload-Metadata"])
    assert shown["title"] == "Statement W-17"
    # A restricted upload's fields are sealed under its data key while it is in progress.
    session.expire_all()
    upload = session.get(TusUpload, uuid.UUID(url.rsplit("/", 1)[1]))
    assert upload.fields == {} and upload.sealed_fields
    assert b"Kutupalong" not in upload.sealed_fields
    item_id = send(client, world, url, 0, content).headers["X-Casefile-Evidence"]
    item = session.get(Evidence, uuid.UUID(item_id))
    # A restricted item's description is sealed too: a grantee reads it through reveal().
    shown = item_metadata.reveal(request_scope.keyring(client.application), item)
    assert item.title == item_metadata.PLACEHOLDER_TITLE and item.collector == {}
    assert shown.title == "Statement W-17"
    assert shown.original_filename == "../../etc/passwd\ufffd.pdf"  # metadata only, not a path
    assert item.declared_mime == "application/pdf"
    assert item.sensitivity.value == "restricted"
    assert shown.collector["location"] == "Kutupalong"
    assert "declared_hash_mismatch" in item.flags
    session.expire_all()
    assert session.get(TusUpload, upload.id).sealed_fields is None  # done: the item holds it
    entry = session.scalars(select(CustodyEntry).where(CustodyEntry.item_id == item.id)).one()
    assert entry.action == CustodyAction.INTAKE


def test_an_empty_upload_is_registered_when_created(client, world, session):
    response = start(client, world, 0, filename="empty.txt")
    assert response.status_code == 201
    item = session.get(Evidence, uuid.UUID(response.headers["X-Casefile-Evidence"]))
    assert item.size == 0
    assert "zero_bytes" in item.flags


def test_the_same_bytes_again_link_to_the_existing_item(client, world, session):
    content = secrets.token_bytes(5000)
    ids = []
    for who in ("investigator", "lead"):
        url = start(client, world, len(content), who=who).headers["Location"]
        response = send(client, world, url, 0, content, who=who)
        ids.append(response.headers["X-Casefile-Evidence"])
        duplicate = response.headers.get("X-Casefile-Duplicate")
    assert ids[0] == ids[1]
    assert duplicate == "true"
    assert session.scalar(select(func.count()).select_from(Evidence)) == 1


def test_a_failed_completion_can_be_asked_for_again(client, world, session, monkeypatch, stored):
    content = secrets.token_bytes(3000)
    url = start(client, world, len(content)).headers["Location"]
    real = registration.register_upload
    calls = []

    def failing_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(registration, "register_upload", failing_once)
    failed = send(client, world, url, 0, content)
    assert failed.status_code == 500
    assert failed.get_json()["error"]["code"] == "internal_error"
    status = client.head(url, headers={**TUS, **world.investigator})
    assert status.headers["Upload-Offset"] == str(len(content))
    assert "X-Casefile-Evidence" not in status.headers
    assert len(stored.contents()) == 1  # the chunk is kept, for another try

    retried = send(client, world, url, len(content), b"")
    assert retried.status_code == 204
    item = session.get(Evidence, uuid.UUID(retried.headers["X-Casefile-Evidence"]))
    assert item.sha256 == sha256(content)
    assert stored.contents() == [stored.blob(item.id.hex)]


def test_adding_evidence_is_authorized_on_every_chunk(client, world, session):
    content = secrets.token_bytes(3000)
    url = start(client, world, len(content)).headers["Location"]
    assert send(client, world, url, 0, content[:1000]).status_code == 204
    investigator = world.investigator_user.id
    members.change_role(session, world.lead_user, world.case.id, investigator, Role.VIEWER)
    assert send(client, world, url, 1000, content[1000:]).status_code == 403
    assert client.head(url, headers={**TUS, **world.investigator}).status_code == 200
    members.change_role(session, world.lead_user, world.case.id, investigator, Role.INVESTIGATOR)
    finished = send(client, world, url, 1000, content[1000:])
    assert finished.status_code == 204
    assert "X-Casefile-Evidence" in finished.headers


def test_a_tampered_chunk_is_not_registered(client, world, session, stored):
    content = secrets.token_bytes(200_000)
    url = start(client, world, len(content)).headers["Location"]
    assert send(client, world, url, 0, content[:100_000]).status_code == 204
    (chunk,) = stored.store.blob_ids()
    data = bytearray(stored.raw(chunk))
    data[len(data) // 2] ^= 0x01
    stored.replace(chunk, bytes(data))
    response = send(client, world, url, 100_000, content[100_000:])
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "integrity_failure"
    assert session.scalar(select(func.count()).select_from(Evidence)) == 0
    assert client.delete(url, headers={**TUS, **world.investigator}).status_code == 204
    assert stored.contents() == []


def test_chunks_cannot_be_swapped_between_positions(client, world, session):
    content = secrets.token_bytes(2000)
    url = start(client, world, len(content)).headers["Location"]
    assert send(client, world, url, 0, content[:1000]).status_code == 204
    assert send(client, world, url, 1000, content[1000:1500]).status_code == 204
    first, second = session.scalars(select(TusChunk.blob_id).order_by(TusChunk.seq)).all()
    # Chunk 0 now names chunk 1's blob and the other way round, sizes to match.
    for seq, blob_id, size in ((0, "0" * 32, 1000), (1, first, 1000), (0, second, 500)):
        session.execute(
            update(TusChunk).where(TusChunk.seq == seq).values(blob_id=blob_id, size=size)
        )
    session.commit()
    response = send(client, world, url, 1500, content[1500:])
    assert response.get_json()["error"]["code"] == "integrity_failure"
    assert session.scalar(select(func.count()).select_from(Evidence)) == 0


def test_purge_expired_removes_abandoned_uploads_and_their_chunks(client, world, session, app):
    store = app.extensions["casefile.blobs"]
    urls = []
    for _ in range(2):
        url = start(client, world, 5000).headers["Location"]
        assert send(client, world, url, 0, secrets.token_bytes(1000)).status_code == 204
        urls.append(url)
    stale_id = uuid.UUID(urls[0].rsplit("/", 1)[1])
    stale_blob = session.scalars(
        select(TusChunk.blob_id).where(TusChunk.upload_id == stale_id)
    ).one()
    assert tus.chunk_blob_ids(session) >= {stale_blob}
    session.execute(
        update(TusUpload)
        .where(TusUpload.id == stale_id)
        .values(expires_at=utcnow() - tus.UPLOAD_TTL)
    )
    session.commit()
    assert client.head(urls[0], headers={**TUS, **world.investigator}).status_code == 404

    assert tus.purge_expired(session, store) == 1
    assert not store.exists(stale_blob)
    assert session.get(TusUpload, stale_id) is None
    assert stale_blob not in tus.chunk_blob_ids(session)
    assert len(tus.chunk_blob_ids(session)) == 1
    assert client.head(urls[1], headers={**TUS, **world.investigator}).status_code == 200
    assert tus.purge_expired(session, store) == 0


def test_uploads_in_progress_survive_a_kek_rotation(client, world, session, settings):
    content = secrets.token_bytes(3000)
    url = start(client, world, len(content)).headers["Location"]
    assert send(client, world, url, 0, content[:1000]).status_code == 204
    rotated = envelope.with_new_primary(envelope.Keyring.load(settings.kek_path))
    assert tus.rewrap_keys(session, rotated) == 1
    envelope.write_file(envelope.only_primary(rotated), settings.kek_path)  # the old key is retired
    finished = send(client, world, url, 1000, content[1000:])
    assert finished.status_code == 204, finished.get_data(as_text=True)
    item = session.get(Evidence, uuid.UUID(finished.headers["X-Casefile-Evidence"]))
    assert item.sha256 == sha256(content)


def test_upload_metadata_parsing():
    assert tus_headers.parse_metadata(None) == {}
    assert tus_headers.parse_metadata("") == {}
    parsed = tus_headers.parse_metadata(f"filename {b64('a,b.mp4')},flag, title {b64('Tula Toli')}")
    assert parsed == {"filename": "a,b.mp4", "flag": "", "title": "Tula Toli"}
    assert tus_headers.parse_metadata(tus_headers.encode_metadata(parsed)) == parsed
    assert tus_headers.parse_metadata("filename " + b64(b"\xffbad")) == {"filename": "\ufffdbad"}
    with pytest.raises(tus_headers.MalformedUpload):
        tus_headers.parse_metadata("a " + b64("1") + ",a " + b64("2"))
    assert tus_headers.parse_checksum(None) is None
    assert tus_headers.parse_checksum(checksum("sha1", b"x")).algorithm == "sha1"
    upper = "SHA256 " + b64(hashlib.sha256(b"x").digest())
    assert tus_headers.parse_checksum(upper).algorithm == "sha256"
    for bad in ("md5 " + b64(hashlib.md5(b"x").digest()), "sha1", "sha1 " + b64("short")):  # noqa: S324
        with pytest.raises(tus_headers.MalformedUpload):
            tus_headers.parse_checksum(bad)
