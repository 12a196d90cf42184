"""Downloads are named `ERN_original-name.ext` (sanitised; the ERN first), with an ASCII
`filename=` and an RFC 5987 `filename*=` for names that are not ASCII; the bytes unchanged.
The API's content route and the web download answer alike."""

from __future__ import annotations

import hashlib
import re
import uuid
from types import SimpleNamespace
from urllib.parse import unquote

import pytest

from casefile.logic.evidence import naming
from casefile.model import Evidence, Role
from tests.api.test_evidence_api import pdf_bytes, upload
from tests.factories import add_member, bearer, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes, sign_in

ERN = "MMR-OTP-0001-0001"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session):
    lead = make_user(session, "lead@example.org")
    investigator = make_user(session, "investigator@example.org")
    case = make_case(session, lead, title="Tula Toli")
    add_member(session, case, lead, investigator, Role.INVESTIGATOR)
    return SimpleNamespace(
        case=case, investigator=bearer(session, investigator), lead=bearer(session, lead)
    )


def disposition(header: str) -> dict[str, str]:
    """The parameters of a Content-Disposition header, filename* decoded."""
    assert header.startswith("attachment;"), header
    found: dict[str, str] = {}
    for match in re.finditer(r';\s*(filename\*?)=("([^"]*)"|[^;]*)', header):
        name = match.group(1)
        value = match.group(3) if match.group(3) is not None else match.group(2)
        if name == "filename*":
            assert value.startswith("UTF-8''"), value
            value = unquote(value[len("UTF-8''"):], encoding="utf-8", errors="strict")
        found[name] = value
    return found


def download_both(client, world, item_id):
    """The API's and the web's download of the item: the same header, the same bytes."""
    api = client.get(f"/api/v1/evidence/{item_id}/content", headers=world.investigator)
    assert api.status_code == 200
    sign_in(client, "investigator@example.org")
    web = client.get(f"/evidence/{item_id}/download")
    assert web.status_code == 200
    assert web.headers["Content-Disposition"] == api.headers["Content-Disposition"]
    assert web.data == api.data
    return api


def put(client, world, content, filename, content_type="application/octet-stream"):
    response = upload(client, world.case.id, world.investigator, content,
                      filename=filename, content_type=content_type)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.mark.parametrize(
    ("filename", "content", "ascii_name", "utf8_name"),
    [
        pytest.param("statement.txt", b"a statement\n", f"{ERN}_statement.txt", None,
                     id="ascii"),
        pytest.param("ထွက်ဆိုချက်.pdf", pdf_bytes(1), f"{ERN}.pdf",
                     f"{ERN}_ထွက်ဆိုချက်.pdf", id="burmese"),
        pytest.param("Report ထွက်ဆိုချက် 2.txt", b"mixed\n", f"{ERN}_Report 2.txt",
                     f"{ERN}_Report ထွက်ဆိုချက် 2.txt", id="mixed"),
        pytest.param("../../x.txt", b"climb\n", f"{ERN}_x.txt", None, id="path"),
        pytest.param("invoice\u202etxt.exe", b"rtl\n", f"{ERN}_invoicetxt.exe", None, id="rtl"),
        pytest.param("..hidden.txt", b"dots\n", f"{ERN}_hidden.txt", None, id="leading-dots"),
        pytest.param("CON.txt", b"reserved\n", f"{ERN}__CON.txt", None, id="windows-reserved"),
        pytest.param("..", b"no name left\n", f"{ERN}.txt", None, id="nothing-left"),
    ],
)
def test_download_is_named_after_the_ern_and_the_original_name(  # noqa: PLR0917
    client, world, filename, content, ascii_name, utf8_name
):
    item_id = put(client, world, content, filename)
    response = download_both(client, world, item_id)
    header = response.headers["Content-Disposition"]
    assert header.isascii() and "\r" not in header and "\n" not in header
    params = disposition(header)
    assert params["filename"] == ascii_name
    assert params.get("filename*") == utf8_name
    assert hashlib.sha256(response.data).hexdigest() == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        pytest.param("a\r\nb\x1bc\u2066\x7f.txt", f"{ERN}_abc.txt", id="controls"),
        pytest.param("C:\\Users\\aung\\..\\x.txt", f"{ERN}_x.txt", id="windows-path"),
        pytest.param("/etc/passwd", f"{ERN}_passwd", id="absolute-path"),
    ],
)
def test_a_stored_name_never_breaks_the_header_or_names_a_path(
    client, world, session, stored, expected
):
    """Names that cannot come through a multipart header (CR LF, backslashes) can through tus
    metadata or a bulk ingest's file system: as stored, they never split the response header
    nor name a folder."""
    item_id = put(client, world, b"split\n", "placeholder.txt")
    item = session.get(Evidence, uuid.UUID(item_id))
    item.original_filename = stored
    session.commit()
    params = disposition(download_both(client, world, item_id).headers["Content-Disposition"])
    assert params == {"filename": expected}


def test_a_long_name_is_cut_keeping_the_ern_and_extension(client, world):
    item_id = put(client, world, b"long\n", "ထ" * 300 + ".txt")
    params = disposition(download_both(client, world, item_id).headers["Content-Disposition"])
    name = params["filename*"]
    assert name.startswith(f"{ERN}_ထ") and name.endswith(".txt")
    assert len(name.encode()) <= naming.MAX_BYTES


@pytest.mark.parametrize(
    ("mime", "expected"),
    [("application/pdf", f"{ERN}.pdf"), ("audio/x-wav", f"{ERN}.wav"),
     ("image/jpeg", f"{ERN}.jpg"), ("text/plain", f"{ERN}.txt"),
     ("application/octet-stream", ERN), ("application/x-empty", ERN)],
)
def test_without_an_original_name_the_extension_comes_from_the_detected_type(mime, expected):
    item = SimpleNamespace(ern=ERN, mime=mime)
    assert naming.download_names(item, None) == (expected, expected)
    assert naming.download_names(item, "") == (expected, expected)


def test_a_restricted_items_sealed_name_names_its_download_only_for_those_who_may_see_it(
    client, world, session
):
    response = upload(client, world.case.id, world.investigator, b"witness W-17\n",
                      filename="w17-maungdaw.txt", content_type="text/plain",
                      sensitivity="restricted")
    assert response.status_code == 201
    item_id = response.get_json()["id"]
    item = session.get(Evidence, uuid.UUID(item_id))
    assert item.original_filename is None  # sealed: not in the plain column
    got = client.get(f"/api/v1/evidence/{item_id}/content", headers=world.investigator)
    assert disposition(got.headers["Content-Disposition"]) == {
        "filename": f"{ERN}_w17-maungdaw.txt"
    }
    lead = client.get(f"/api/v1/evidence/{item_id}/content", headers=world.lead)
    assert lead.status_code == 404 and "maungdaw" not in lead.get_data(as_text=True)
    assert not any("maungdaw" in value for value in lead.headers.values())
