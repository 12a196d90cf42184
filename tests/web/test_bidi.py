"""Bidirectional-text controls in a title or file name: flagged at intake, shown isolated in
<bdi> on lists and the item page, and made visible (⟨U+202E⟩) in a warning."""

from __future__ import annotations

import re

import pytest

from casefile.vault import bidi
from tests.api.test_evidence_api import multipart
from tests.factories import bearer, make_case, make_user
from tests.web.test_auth_web import cheap_password_hashes, sign_in

RLO = "\u202e"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session):
    lead = make_user(session, "lead@example.org")
    case = make_case(session, lead)
    return case, bearer(session, lead)


def upload(client, case, token, filename: str, **fields: str):
    content = b"MZ\x90\x00" + filename.encode() + repr(fields).encode()  # distinct per call
    body, content_type = multipart(fields, [("file", filename.encode(), content, None)])
    response = client.post(
        f"/api/v1/cases/{case.id}/evidence", data=body, content_type=content_type, headers=token
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.mark.parametrize(
    "control", ["\u202a", "\u202b", "\u202c", "\u202d", RLO, "\u2066", "\u2067", "\u2068",
                "\u2069", "\u200e", "\u200f", "\u061c"],
)  # fmt: skip
def test_every_bidi_control_is_recognised_and_revealed(control):
    text = f"a{control}b"
    assert bidi.has_controls(text)
    assert bidi.reveal(text) == f"a\u27e8U+{ord(control):04X}\u27e9b"
    assert not bidi.has_controls("ဗမာ عربى plain")  # right-to-left script itself is fine


def test_a_disguised_file_name_is_flagged_isolated_and_revealed(client, world):
    case, token = world
    disguised = f"invoice{RLO}fdp.exe"  # shows as "invoiceexe.pdf"
    item = upload(client, case, token, disguised)
    plain = upload(client, case, token, "statement.txt", title="Plain statement")
    assert "bidi_controls" in item["flags"]
    assert "bidi_controls" not in plain["flags"]
    assert item["original_filename"] == disguised  # kept as received

    sign_in(client, "lead@example.org")
    page = client.get(f"/evidence/{item['id']}").get_data(as_text=True)
    assert f"<bdi>{disguised}</bdi>" in page  # title (from the name) and the name
    assert page.count(f"<bdi>{disguised}</bdi>") == 2
    warning = re.search(r'<div class="flash error" role="alert" id="bidi-warning">.*?</div>',
                        page, re.DOTALL)
    assert warning is not None
    assert "<code>invoice\u27e8U+202E\u27e9fdp.exe</code>" in warning.group(0)
    assert RLO not in warning.group(0)

    calm = client.get(f"/evidence/{plain['id']}").get_data(as_text=True)
    assert 'id="bidi-warning"' not in calm
    assert "<bdi>Plain statement</bdi>" in calm

    listing = client.get(f"/cases/{case.id}/evidence").get_data(as_text=True)
    assert f"<td><bdi>{disguised}</bdi></td>" in listing
    assert '<span class="flag bad">bidi controls</span>' in listing


def test_a_title_with_controls_is_flagged_too(client, world):
    case, token = world
    item = upload(client, case, token, "a.bin", title=f"Witness {RLO}A List")
    assert "bidi_controls" in item["flags"]
