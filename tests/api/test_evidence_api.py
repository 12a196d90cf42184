"""Evidence routes of the JSON API: streamed upload, metadata, verified content, custody.

Bodies are built here as raw multipart bytes held in memory: Werkzeug's test client would
spool a large body to a temporary file of its own, which the no-plaintext-on-disk test
must not mistake for the server's doing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import os
import secrets
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image
from PIL.ExifTags import IFD
from reportlab.pdfgen import canvas
from sqlalchemy import func, select
from werkzeug.exceptions import ClientDisconnected
from werkzeug.test import EnvironBuilder

from casefile import create_app
from casefile.logic.evidence.intake import IntakeStream
from casefile.logic.evidence.reading import IntegrityFailure
from casefile.model import CustodyAction, CustodyEntry, Evidence, Role
from casefile.verifier.custody_verifier import verify_report
from tests.factories import add_member, bearer, make_case, make_user
from tests.stores import StoreView
from tests.web.test_auth_web import cheap_password_hashes, csrf_token, sign_in

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture(name="storage")
def _storage(tmp_path):
    """Where make_settings points the app's blob store (when it is the local one)."""
    return tmp_path / "storage"


@pytest.fixture
def settings(settings_on_each_store):
    """The whole of this module runs on the local store and on S3."""
    return settings_on_each_store


@pytest.fixture
def world(session):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead, title="Tula Toli")
    other = make_case(session, lead, title="Inn Din")
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    add_member(session, case, lead, viewer, Role.VIEWER)
    add_member(session, other, lead, investigator, Role.INVESTIGATOR)
    return SimpleNamespace(
        case=case,
        other=other,
        lead=bearer(session, lead),
        investigator=bearer(session, investigator),
        viewer=bearer(session, viewer),
        outsider=bearer(session, outsider),
    )


@pytest.fixture
def aborted(monkeypatch):
    """The state of every intake stream a request aborted: [] when no body was read."""
    states: list[str] = []
    real = IntakeStream.abort

    def spy(self):
        states.append(self.state)
        real(self)

    monkeypatch.setattr(IntakeStream, "abort", spy)
    return states


# --- building requests and files ------------------------------------------------------------


def multipart(
    fields: dict[str, str] | None = None,
    files: list[tuple[str, bytes | None, bytes, str | None]] | None = None,
    trailing: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    """A multipart/form-data body in memory. A file is (field, raw filename, content, type);
    `fields` come before the files, `trailing` fields after them."""
    boundary = f"casefile-{secrets.token_hex(16)}"
    out = io.BytesIO()

    def write_fields(pairs):
        for name, value in pairs.items():
            out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                      .encode())
            out.write(value.encode("utf-8") + b"\r\n")

    write_fields(fields or {})
    for field, filename, content, content_type in files or []:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"'.encode())
        if filename is not None:
            out.write(b'; filename="' + filename + b'"')
        out.write(b"\r\n")
        if content_type is not None:
            out.write(f"Content-Type: {content_type}\r\n".encode())
        out.write(b"\r\n" + content + b"\r\n")
    write_fields(trailing or {})
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def upload(
    client,
    case_id,
    headers,
    content: bytes,
    *,
    filename: bytes | str | None = "item",
    content_type: str | None = "application/octet-stream",
    **fields: str,
):
    raw_name = filename.encode() if isinstance(filename, str) else filename
    body, mimetype = multipart(fields, [("file", raw_name, content, content_type)])
    return client.post(
        f"/api/v1/cases/{case_id}/evidence", data=body, content_type=mimetype, headers=headers
    )


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    """A photo as a phone would take it: camera, original time and GPS near Tula Toli."""
    exif = Image.Exif()
    exif[0x010F] = "Samsung"  # Make
    exif[0x0110] = "SM-A505F"  # Model
    exif.get_ifd(IFD.Exif)[0x9003] = "2017:08:30 09:15:00"  # DateTimeOriginal
    gps = exif.get_ifd(IFD.GPSInfo)
    gps[1] = "N"
    gps[2] = (20.0, 56.0, 24.0)  # 20.94 N
    gps[3] = "E"
    gps[4] = (92.0, 34.0, 12.0)  # 92.57 E
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 60)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def pdf_bytes(pages: int = 3, text: str = "Witness statement") -> bytes:
    out = io.BytesIO()
    document = canvas.Canvas(out)
    document.setTitle("Statement W-17")
    document.setAuthor("Field team")
    for number in range(pages):
        document.drawString(72, 720, f"{text}, page {number + 1}")
        document.showPage()
    document.save()
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- looking at what was stored -------------------------------------------------------------


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def item_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Evidence))


def custody_count(session) -> int:
    return session.scalar(select(func.count()).select_from(CustodyEntry))


@dataclasses.dataclass
class Vault:
    session: Any
    stored: StoreView

    def state(self) -> tuple[int, int, list[str]]:
        """Item rows, custody entries, and every blob and leftover in the store."""
        return item_count(self.session), custody_count(self.session), self.stored.contents()

    def leftovers(self) -> list[str]:
        return list(self.stored.store.leftovers())


@pytest.fixture
def vault(session, stored):
    return Vault(session, stored)


def actions_for(session, item_id) -> list[str]:
    entries = session.scalars(
        select(CustodyEntry).where(CustodyEntry.item_id == item_id).order_by(CustodyEntry.seq)
    )
    return [entry.action.value for entry in entries]


# --- intake ---------------------------------------------------------------------------------


def test_upload_registers_an_item_with_ern_hash_type_and_collector(client, world, stored):
    content = png_bytes()
    response = upload(
        client, world.case.id, world.investigator, content,
        filename="photo.png", content_type="image/png",
        title="Burnt houses, ward 3", description="Taken from the ridge",
        collected_at="2017-08-30T09:15:00+06:30", collected_by="Investigator K.",
        location="Tula Toli", lat="20.94", lon="92.57", source="witness W-17",
        original_url="https://example.org/post/1", capture_tool="phone camera",
        language="my", consent_notes="consent recorded on video",
    )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["case_id"] == str(world.case.id)
    assert body["ern"] == "MMR-OTP-0001-0001"
    assert body["sha256"] == sha256(content)
    assert body["size"] == len(content)
    assert body["mime"] == "image/png"
    assert body["status"] == "active"
    assert body["sensitivity"] == "standard"
    assert body["flags"] == []
    assert body["title"] == "Burnt houses, ward 3"
    assert body["original_filename"] == "photo.png"
    assert body["collector"]["collected_by"] == "Investigator K."
    assert body["collector"]["location"] == "Tula Toli"
    assert body["collector"]["capture_tool"] == "phone camera"
    assert body["collector"]["lat"] == 20.94 and body["collector"]["lon"] == 92.57
    collected = dt.datetime.fromisoformat(body["collector"]["collected_at"])
    assert collected == dt.datetime(2017, 8, 30, 2, 45, tzinfo=dt.UTC)
    assert collected.utcoffset() == dt.timedelta(0)  # kept in UTC, and as it was sent:
    assert body["collector"]["collected_at_entered"] == "2017-08-30T09:15:00+06:30"
    # The blob is named by the item id, nowhere else.
    assert stored.contents() == [stored.blob(body["id"])]
    again = client.get(f"/api/v1/evidence/{body['id']}", headers=world.viewer)
    assert again.status_code == 200
    assert again.get_json() == body


def test_erns_are_gapless_per_case(client, world):
    erns = [
        upload(client, world.case.id, world.investigator, f"item {n}".encode()).get_json()["ern"]
        for n in range(3)
    ]
    assert erns == ["MMR-OTP-0001-0001", "MMR-OTP-0001-0002", "MMR-OTP-0001-0003"]
    elsewhere = upload(client, world.other.id, world.investigator, b"item in another case")
    assert elsewhere.get_json()["ern"] == "MMR-OTP-0001-0001"
    listing = client.get(f"/api/v1/cases/{world.case.id}/evidence", headers=world.lead)
    assert sorted(item["ern"] for item in listing.get_json()["items"]) == erns


def test_type_is_decided_by_content_and_a_mismatch_is_flagged(client, world):
    response = upload(client, world.case.id, world.investigator, pdf_bytes(),
                      filename="holiday.jpg", content_type="image/jpeg")
    assert response.status_code == 201
    body = response.get_json()
    assert body["mime"] == "application/pdf"
    assert body["declared_mime"] == "image/jpeg"
    assert "type_mismatch" in body["flags"]
    assert {"type_mismatch:declared_type", "type_mismatch:extension"} <= set(body["flags"])


def test_exif_with_gps_is_extracted_from_a_photo(client, world):
    response = upload(client, world.case.id, world.investigator, jpeg_with_exif(),
                      filename="IMG_0042.jpg", content_type="image/jpeg")
    assert response.status_code == 201
    body = response.get_json()
    assert body["mime"] == "image/jpeg"
    assert body["flags"] == []
    exif = body["extracted"]["exif"]
    assert exif["make"] == "Samsung" and exif["model"] == "SM-A505F"
    assert exif["original_time"] == "2017:08:30 09:15:00"
    assert exif["gps"] == {"lat": "20.940000", "lon": "92.570000"}


def test_pdf_page_count_info_and_text_are_extracted(client, world):
    response = upload(client, world.case.id, world.investigator, pdf_bytes(pages=3),
                      filename="statement.pdf", content_type="application/pdf")
    assert response.status_code == 201
    pdf = response.get_json()["extracted"]["pdf"]
    assert pdf["pages"] == 3
    assert pdf["info"]["title"] == "Statement W-17"
    assert "Witness statement, page 1" in pdf["text_excerpt"]


def test_no_plaintext_reaches_disk(client, world, storage, stored, temp_files):
    marker = secrets.token_bytes(32)
    content = marker * (3 * MIB // len(marker))
    started = time.time() - 1
    response = upload(client, world.case.id, world.investigator, content, filename="big.bin")
    assert response.status_code == 201
    item_id = response.get_json()["id"]
    assert response.get_json()["sha256"] == sha256(content)

    blob = stored.raw(item_id)
    assert len(blob) > len(content)  # ciphertext: header and a tag per segment
    assert marker not in blob
    holding = [str(path) for path in files_under(storage) if _holds(path, marker)]
    temp_root = Path(tempfile.gettempdir())
    holding += [str(path) for path in _modified_since(temp_root, started) if _holds(path, marker)]
    assert holding == []
    assert temp_files == []

    # And the bytes come back intact.
    download = client.get(f"/api/v1/evidence/{item_id}/content", headers=world.investigator)
    assert download.status_code == 200
    assert sha256(download.get_data()) == sha256(content)


def _modified_since(root: Path, since: float) -> list[Path]:
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


def _holds(path: Path, marker: bytes) -> bool:
    """Whether the file holds `marker`, read in overlapping chunks."""
    try:
        with path.open("rb") as handle:
            tail = b""
            while chunk := handle.read(MIB):
                if marker in tail + chunk:
                    return True
                tail = chunk[-len(marker) :]
    except OSError:
        return False
    return False


# --- content and custody --------------------------------------------------------------------


def test_content_is_returned_exactly_as_an_attachment_and_logged(client, world):
    content = secrets.token_bytes(200_000)
    item_id = upload(client, world.case.id, world.investigator, content).get_json()["id"]
    for _ in range(2):
        response = client.get(f"/api/v1/evidence/{item_id}/content", headers=world.viewer)
        assert response.status_code == 200
        data = response.get_data()
        assert data == content and sha256(data) == sha256(content)
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert "MMR-OTP-0001-0001" in response.headers["Content-Disposition"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.mimetype == "application/octet-stream"
        assert response.headers["X-Casefile-SHA256"] == sha256(content)

    report = client.get(f"/api/v1/evidence/{item_id}/custody", headers=world.viewer)
    assert report.status_code == 200
    body = report.get_json()
    assert [entry["action"] for entry in body["entries"]] == ["intake", "downloaded", "downloaded"]
    assert body["entries"][0]["details"]["sha256"] == sha256(content)
    assert body["entries"][1]["actor"]["label"].endswith("<viewer@example.org>")
    for entry in body["entries"]:
        assert entry["item"] == item_id
        assert entry["inclusion_proof"]["leaf_index"] == entry["seq"]
    key = client.get("/api/v1/custody/public-key").get_data(as_text=True).strip()
    verdict = verify_report(body, key)
    assert verdict.valid, verdict.problems
    assert verdict.entries_checked == 3


def test_custody_report_with_an_edited_entry_fails_verification(client, world):
    item_id = upload(client, world.case.id, world.investigator, b"statement").get_json()["id"]
    body = client.get(f"/api/v1/evidence/{item_id}/custody", headers=world.lead).get_json()
    body["entries"][0]["details"]["sha256"] = "0" * 64
    key = client.get("/api/v1/custody/public-key").get_data(as_text=True).strip()
    assert not verify_report(body, key).valid


# --- duplicates, empty files, declared hashes -----------------------------------------------


def test_same_bytes_in_the_same_case_are_linked_not_stored_twice(client, world, vault):
    content = b"video frame dump " * 1000
    first = upload(client, world.case.id, world.investigator, content, filename="a.bin")
    assert first.status_code == 201
    first_body = first.get_json()
    assert "duplicate" not in first_body["flags"]
    blobs = vault.stored.contents()

    second = upload(client, world.case.id, world.lead, content, filename="copy-of-a.bin")
    assert second.status_code == 200
    body = second.get_json()
    assert body["id"] == first_body["id"] and body["ern"] == first_body["ern"]
    assert "duplicate" in body["flags"]
    assert vault.stored.contents() == blobs
    assert vault.leftovers() == []
    assert item_count(vault.session) == 1
    assert actions_for(vault.session, uuid.UUID(body["id"])) == ["intake", "submitted_again"]
    # The stored item itself is not marked: "duplicate" describes the submission.
    kept = client.get(f"/api/v1/evidence/{body['id']}", headers=world.lead).get_json()
    assert "duplicate" not in kept["flags"]

    elsewhere = upload(client, world.other.id, world.investigator, content)
    assert elsewhere.status_code == 201
    assert elsewhere.get_json()["id"] != body["id"]
    assert "duplicate" not in elsewhere.get_json()["flags"]
    assert len(vault.stored.contents()) == 2


def test_an_empty_file_is_accepted_and_flagged(client, world):
    response = upload(client, world.case.id, world.investigator, b"", filename="empty.txt",
                      content_type="text/plain")
    assert response.status_code == 201
    body = response.get_json()
    assert body["size"] == 0
    assert body["sha256"] == sha256(b"")
    assert "zero_bytes" in body["flags"]
    download = client.get(f"/api/v1/evidence/{body['id']}/content", headers=world.investigator)
    assert download.status_code == 200 and download.get_data() == b""


def test_matching_declared_hashes_raise_no_flag(client, world):
    content = b"acquisition image"
    declared = (f"MD5:{hashlib.md5(content).hexdigest()}, "  # noqa: S324 - what collectors log
                f"sha1:{hashlib.sha1(content).hexdigest()}")  # noqa: S324
    response = upload(client, world.case.id, world.investigator, content, filename="image.txt",
                      content_type="text/plain", declared_hashes=declared)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["flags"] == []
    assert set(body["declared_hashes"]) == {"md5", "sha1"}


def test_a_mismatching_declared_hash_is_flagged_and_logged(client, world, session):
    content = b"acquisition image"
    wrong = hashlib.md5(b"something else").hexdigest()  # noqa: S324
    response = upload(client, world.case.id, world.investigator, content,
                      declared_hashes=f"md5:{wrong}")
    assert response.status_code == 201
    body = response.get_json()
    assert "declared_hash_mismatch" in body["flags"]
    intake = session.scalars(
        select(CustodyEntry).where(CustodyEntry.item_id == uuid.UUID(body["id"]))
    ).one()
    report = client.get(f"/api/v1/evidence/{body['id']}/custody", headers=world.lead).get_json()
    details = report["entries"][0]["details"]
    assert intake.action == CustodyAction.INTAKE
    assert details["declared_hash_mismatch"] == ["md5"]
    assert details["declared_hashes"] == {"md5": wrong}
    assert details["md5"] == hashlib.md5(content).hexdigest()  # noqa: S324
    assert "declared_hash_mismatch" in details["flags"]


def test_only_sha256_is_computed_unless_a_collector_declared_more(client, world):
    response = upload(client, world.case.id, world.investigator, b"field notes")
    assert response.status_code == 201
    item = response.get_json()["id"]
    report = client.get(f"/api/v1/evidence/{item}/custody", headers=world.lead).get_json()
    details = report["entries"][0]["details"]
    assert details["sha256"] == hashlib.sha256(b"field notes").hexdigest()
    assert "md5" not in details and "sha1" not in details


def post(client, world, body, mimetype):
    return client.post(f"/api/v1/cases/{world.case.id}/evidence", data=body,
                       content_type=mimetype, headers=world.investigator)


def test_declared_hashes_after_the_file_are_refused_and_nothing_is_stored(client, world, vault):
    # The digests to check are computed while the file streams in: the declaration must
    # come first (as S3's POST uploads want the file last). Nothing is kept otherwise.
    content = b"acquisition image"
    before = vault.state()
    body, mimetype = multipart(
        {"title": "Image"}, [("file", b"image.dd", content, None)],
        trailing={"declared_hashes": f"md5:{hashlib.md5(content).hexdigest()}"},  # noqa: S324
    )
    response = post(client, world, body, mimetype)
    assert response.status_code == 422
    assert "before the file part" in response.get_json()["error"]["fields"]["declared_hashes"]
    assert vault.state() == before
    assert vault.leftovers() == []
    # ...and other fields may come after the file: only the declaration must precede it
    body, mimetype = multipart(
        {"declared_hashes": f"md5:{hashlib.md5(content).hexdigest()}"},  # noqa: S324
        [("file", b"image.dd", content, None)], trailing={"title": "Image, later"},
    )
    response = post(client, world, body, mimetype)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["title"] == "Image, later"
    assert response.get_json()["flags"] == []


@pytest.mark.parametrize(
    "declared",
    [
        "md5:xyz",
        "crc32:cbf43926",
        "md5",
        "sha256:" + "a" * 63,
        "md5:" + "g" * 32,
    ],
)
def test_bad_declared_hashes_are_refused_and_nothing_is_stored(
    client, world, vault, aborted, declared
):
    before = vault.state()
    response = upload(client, world.case.id, world.investigator, b"content",
                      declared_hashes=declared)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert "declared_hashes" in error["fields"]
    assert vault.state() == before
    assert aborted == ["open"]
    assert vault.leftovers() == []


# --- file names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (b"../../etc/passwd", "../../etc/passwd"),
        (b"a\x00b.txt", "a\ufffdb.txt"),
        pytest.param(b"\xff\xfe\xc3(report).txt", "\ufffd\ufffd\ufffd(report).txt",
                     id="invalid-utf8"),
        ("ဗမာ စာ.txt".encode(), "ဗမာ စာ.txt"),
    ],
)
def test_file_names_are_metadata_only(client, world, storage, stored, raw, kept):  # noqa: PLR0917
    response = upload(client, world.case.id, world.investigator, b"some text", filename=raw,
                      content_type="text/plain")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    if kept is not None:
        assert body["original_filename"] == kept
    else:
        assert body["original_filename"].endswith("(report).txt")
        assert "\x00" not in body["original_filename"]
    assert stored.contents() == [stored.blob(body["id"])]  # named by its id alone
    assert not (storage.parent / "etc").exists()


# --- bad requests change nothing ------------------------------------------------------------


def test_no_file_part_is_refused(client, world, vault):
    before = vault.state()
    body, mimetype = multipart({"title": "no file"})
    response = client.post(f"/api/v1/cases/{world.case.id}/evidence", data=body,
                           content_type=mimetype, headers=world.investigator)
    assert response.status_code == 422
    assert "file" in response.get_json()["error"]["fields"]
    assert vault.state() == before


@pytest.mark.parametrize(
    "files",
    [
        [("file", b"a.txt", b"first", "text/plain"), ("file", b"b.txt", b"second", "text/plain")],
        [("file", b"a.txt", b"first", "text/plain"), ("other", b"b.txt", b"second", "text/plain")],
        [("attachment", b"a.txt", b"first", "text/plain")],
    ],
)
def test_file_parts_other_than_exactly_one_named_file_are_refused(
    client, world, vault, aborted, files
):
    before = vault.state()
    body, mimetype = multipart({}, files)
    response = client.post(f"/api/v1/cases/{world.case.id}/evidence", data=body,
                           content_type=mimetype, headers=world.investigator)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_error"
    assert vault.state() == before
    assert vault.leftovers() == []
    assert aborted == ["open"] * len(files)


def test_a_body_without_its_closing_boundary_is_refused(client, world, vault, aborted):
    body, mimetype = multipart({}, [("file", b"clip.mp4", secrets.token_bytes(200_000), None)])
    cut = body[: body.rindex(b"\r\n--")]  # the file's bytes arrive, the form never ends
    before = vault.state()
    response = client.post(f"/api/v1/cases/{world.case.id}/evidence", data=cut,
                           content_type=mimetype, headers=world.investigator)
    assert 400 <= response.status_code < 500
    assert vault.state() == before
    assert aborted == ["open"]


@pytest.mark.parametrize(
    "bad",
    [
        ({"colour": "red"}, "colour"),
        ({"collected_at": "yesterday"}, "collected_at"),
        ({"collected_at": "2017-08-30T09:15:00"}, "collected_at"),  # no zone: ambiguous
        ({"sensitivity": "secret"}, "sensitivity"),
        ({"lat": "91"}, "lat"),
        ({"lon": "east"}, "lon"),
        ({"title": "x" * 501}, "title"),
        ({"description": "x" * 20001}, "description"),  # refused whole, never cut
        ({"source": "x" * 2001}, "source"),
        ({"declared_hashes": "sha256:abc"}, "declared_hashes"),
    ],
)
def test_invalid_fields_are_refused_and_nothing_is_stored(client, world, vault, aborted, bad):
    fields, field = bad
    before = vault.state()
    response = upload(client, world.case.id, world.investigator, b"content", **fields)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    assert vault.state() == before
    assert aborted == ["open"]


@pytest.mark.parametrize(
    "refusal",
    [
        ("viewer", 403, "forbidden"),
        ("outsider", 404, "not_found"),
        (None, 401, "unauthenticated"),
    ],
    ids=["viewer", "outsider", "anonymous"],
)
def test_who_may_not_upload_changes_nothing(client, world, vault, aborted, refusal):
    who, status, code = refusal
    before = vault.state()
    headers = getattr(world, who) if who else {}
    response = upload(client, world.case.id, headers, secrets.token_bytes(600_000))
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert vault.state() == before
    assert aborted == []  # refused before a byte of the body was read


def test_an_unknown_case_is_not_found(client, world, vault, aborted):
    before = vault.state()
    response = upload(client, uuid.uuid4(), world.lead, b"content")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert vault.state() == before
    assert aborted == []  # the body was never read


def test_session_upload_without_a_csrf_token_is_refused(client, world, vault,
                                                        aborted):
    sign_in(client, "investigator@example.org")
    before = vault.state()
    response = upload(client, world.case.id, {}, b"content")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"
    forged = upload(client, world.case.id, {"X-CSRFToken": "forged"}, b"content")
    assert forged.status_code == 400
    assert vault.state() == before
    assert aborted == []  # refused before the body was read

    token = csrf_token(client, "/account")
    accepted = upload(client, world.case.id, {"X-CSRFToken": token}, b"content")
    assert accepted.status_code == 201
    assert accepted.get_json()["ern"] == "MMR-OTP-0001-0001"


# --- size limits and broken connections -----------------------------------------------------


def test_evidence_is_not_held_to_the_form_memory_limit(settings, database, world):
    # max_request_mb caps JSON and form fields; a file part streams past it in any shape
    # (the decoder's own buffer limit applies to each read, file data included).
    app = create_app(dataclasses.replace(settings, max_request_mb=1), database=database)
    client = app.test_client()
    for _ in range(6):  # random bytes: CR/LF near a read's end make the decoder hold bytes
        content = secrets.token_bytes(4 * MIB)
        response = upload(client, world.case.id, world.investigator, content)
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["sha256"] == sha256(content)
    too_long = upload(client, world.case.id, world.investigator, b"x", title="t" * (2 * MIB))
    assert too_long.status_code == 413  # a field over the limit is still refused


@pytest.fixture
def small_app(settings, database):
    return create_app(dataclasses.replace(settings, evidence_max_mb=1), database=database)


def test_an_upload_over_the_limit_is_refused(small_app, world, vault, aborted):
    client = small_app.test_client()
    before = vault.state()
    response = upload(client, world.case.id, world.investigator, secrets.token_bytes(2 * MIB))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert vault.state() == before
    assert vault.leftovers() == []
    assert aborted == []  # refused on its Content-Length, before reading
    # Just under the limit is fine.
    fits = upload(client, world.case.id, world.investigator, secrets.token_bytes(MIB - 4096))
    assert fits.status_code == 201


def _call(app, environ) -> tuple[str, bytes]:
    status: list[str] = []

    def start_response(line, headers, exc_info=None):
        del headers, exc_info
        status.append(line)

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return status[0], body


def test_a_chunked_upload_over_the_limit_is_cut_off(small_app, world, vault,
                                                    aborted):
    """No Content-Length to refuse up front: the limit applies as the body streams in."""
    body, mimetype = multipart({}, [("file", b"big.bin", secrets.token_bytes(2 * MIB), None)])
    before = vault.state()
    environ = EnvironBuilder(
        path=f"/api/v1/cases/{world.case.id}/evidence", method="POST",
        headers={**world.investigator, "Content-Type": mimetype},
    ).get_environ()  # fmt: skip
    environ["CONTENT_TYPE"] = mimetype  # EnvironBuilder makes up a boundary of its own
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.input_terminated"] = True
    status, body = _call(small_app, environ)
    assert status.startswith("413"), body
    assert b'"payload_too_large"' in body
    assert vault.state() == before
    assert vault.leftovers() == []
    assert aborted == ["open"]  # streamed in up to the limit, then dropped


class _Disconnecting(io.RawIOBase):
    """A request body that stops partway: the client went away."""

    def __init__(self, data: bytes, cut: int, *, raise_error: bool) -> None:
        super().__init__()
        self._data, self._cut, self._position, self._raise = data, cut, 0, raise_error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._cut:
            if self._raise:
                raise ClientDisconnected
            return 0
        chunk = self._data[self._position : min(self._cut, self._position + len(buffer))]
        buffer[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)


@pytest.mark.parametrize("raise_error", [True, False], ids=["raises", "short-read"])
def test_a_client_that_disconnects_mid_body_leaves_nothing(
    app, world, vault, aborted, raise_error
):
    body, mimetype = multipart(
        {"title": "interrupted"}, [("file", b"clip.mp4", secrets.token_bytes(3 * MIB), None)]
    )
    before = vault.state()
    environ = EnvironBuilder(
        path=f"/api/v1/cases/{world.case.id}/evidence", method="POST",
        headers={**world.investigator, "Content-Type": mimetype},
    ).get_environ()  # fmt: skip
    environ["CONTENT_TYPE"] = mimetype  # EnvironBuilder makes up a boundary of its own
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["wsgi.input"] = io.BufferedReader(
        _Disconnecting(body, len(body) // 2, raise_error=raise_error)
    )
    status, body = _call(app, environ)
    assert 400 <= int(status.split()[0]) < 500, body
    assert vault.state() == before
    assert vault.leftovers() == []
    assert aborted == ["open"]  # half the file had streamed in


# --- restricted items -----------------------------------------------------------------------


def test_a_restricted_item_is_seen_only_by_those_granted(client, world, session):
    response = upload(client, world.case.id, world.investigator, b"witness identity sheet",
                      sensitivity="restricted", title="W-17 identity")
    assert response.status_code == 201
    item_id = response.get_json()["id"]
    assert response.get_json()["sensitivity"] == "restricted"
    standard = upload(client, world.case.id, world.investigator, b"public photo").get_json()

    mine = client.get(f"/api/v1/evidence/{item_id}", headers=world.investigator)
    assert mine.status_code == 200
    listing = client.get(f"/api/v1/cases/{world.case.id}/evidence", headers=world.investigator)
    assert {item["id"] for item in listing.get_json()["items"]} == {item_id, standard["id"]}

    for who in ("lead", "viewer"):
        headers = getattr(world, who)
        for path in ("", "/content", "/custody"):
            hidden = client.get(f"/api/v1/evidence/{item_id}{path}", headers=headers)
            assert hidden.status_code == 404, (who, path)
            assert hidden.get_json()["error"]["code"] == "not_found"
        listing = client.get(f"/api/v1/cases/{world.case.id}/evidence", headers=headers)
        assert [item["id"] for item in listing.get_json()["items"]] == [standard["id"]]
    assert actions_for(session, uuid.UUID(item_id)) == ["intake"]  # no download happened
    outsider = client.get(f"/api/v1/evidence/{standard['id']}", headers=world.outsider)
    assert outsider.status_code == 404


# --- tampering ------------------------------------------------------------------------------


def _read_all(client, path, headers) -> bytes:
    response = client.get(path, headers=headers)
    assert response.status_code == 200  # headers go out before the first check fails
    return response.get_data()


def test_a_flipped_byte_in_a_blob_stops_the_download_and_is_logged(client, world, stored,
                                                                   session):
    content = secrets.token_bytes(50_000)
    item_id = upload(client, world.case.id, world.investigator, content).get_json()["id"]
    data = bytearray(stored.raw(item_id))
    data[len(data) // 2] ^= 0x01
    stored.replace(item_id, bytes(data))

    with pytest.raises(IntegrityFailure):
        _read_all(client, f"/api/v1/evidence/{item_id}/content", world.investigator)
    assert actions_for(session, uuid.UUID(item_id)) == ["intake", "downloaded",
                                                         "integrity_failure"]
    report = client.get(f"/api/v1/evidence/{item_id}/custody", headers=world.lead).get_json()
    assert report["entries"][-1]["action"] == "integrity_failure"
    assert report["entries"][-1]["details"]["ern"] == "MMR-OTP-0001-0001"


def _drain(response, into: bytearray) -> None:
    for chunk in response.response:
        into += chunk


def test_a_truncated_blob_is_caught(client, world, stored, session):
    content = secrets.token_bytes(3 * MIB)  # several 1 MiB segments: drop the last one
    item_id = upload(client, world.case.id, world.investigator, content).get_json()["id"]
    stored.replace(item_id, stored.raw(item_id)[: 2 * MIB + 100])

    response = client.get(f"/api/v1/evidence/{item_id}/content", headers=world.lead)
    assert response.status_code == 200
    received = bytearray()
    with pytest.raises(IntegrityFailure):
        _drain(response, received)
    assert 0 < len(received) < len(content)  # the intact segments went out, then it stopped
    assert received == content[: len(received)]
    assert actions_for(session, uuid.UUID(item_id))[-1] == "integrity_failure"


def test_swapped_blobs_do_not_decrypt_as_each_other(client, world, stored, session):
    first = upload(client, world.case.id, world.investigator, b"A" * 4096).get_json()["id"]
    second = upload(client, world.case.id, world.investigator, b"B" * 4096).get_json()["id"]
    first_bytes, second_bytes = stored.raw(first), stored.raw(second)
    assert len(first_bytes) == len(second_bytes)
    stored.replace(first, second_bytes)
    stored.replace(second, first_bytes)

    for item_id in (first, second):
        with pytest.raises(IntegrityFailure):
            _read_all(client, f"/api/v1/evidence/{item_id}/content", world.investigator)
        assert actions_for(session, uuid.UUID(item_id))[-1] == "integrity_failure"


def test_a_missing_blob_is_an_integrity_failure(client, world, stored, session):
    item_id = upload(client, world.case.id, world.investigator, b"lost").get_json()["id"]
    stored.remove(item_id)
    with pytest.raises(IntegrityFailure):
        _read_all(client, f"/api/v1/evidence/{item_id}/content", world.investigator)
    assert actions_for(session, uuid.UUID(item_id))[-1] == "integrity_failure"


# --- client-controlled strings that end up in bounded columns -------------------------------
# (PostgreSQL enforces VARCHAR lengths and refuses NUL; SQLite does neither.)


def test_a_long_file_name_without_a_title_is_accepted(client, world):
    name = "x" * 600 + ".txt"
    response = upload(client, world.case.id, world.investigator, b"text", filename=name,
                      content_type="text/plain")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["original_filename"] == name
    assert 0 < len(body["title"]) <= 500
    assert name.startswith(body["title"])


@pytest.mark.parametrize("declared", ["image/" + "x" * 300, "image/png\x00", "not a type"])
def test_a_malformed_declared_type_is_not_kept(client, world, declared):
    response = upload(client, world.case.id, world.investigator, png_bytes(),
                      content_type=declared)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["mime"] == "image/png"
    assert body["declared_mime"] is None


@pytest.mark.parametrize("field", ["title", "description", "collected_by", "consent_notes"])
def test_a_nul_in_a_metadata_field_is_refused(client, world, vault, aborted, field):
    before = vault.state()
    response = upload(client, world.case.id, world.investigator, b"text", **{field: "a\x00b"})
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert vault.state() == before
    assert aborted == ["open"]
