"""Every page in Burmese says nothing in English: labels, flags, units, activity sentences.

Each page is rendered with the Flask test client for a lead (and instance administrator) who
chose Burmese, on a case with items (one restricted, flagged ones, the collector's full
account), custody entries and a transfer. The page's text (what a reader sees, plus the
title, aria-label and data-label attributes that screen readers and phones show) must not
contain any of a list of English words taken from the templates and labels. User data is taken
out first: it is what people typed, in whatever language they typed it (the values this test
sends, e-mail addresses, ERNs, hashes, and the recorded details shown as stored in <pre>).
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from casefile.model import Role
from tests.factories import add_member, bearer, make_case, make_user
from tests.vault.test_redaction import two_page_pdf
from tests.web.test_account_web import PO_FILE, burmese
from tests.web.test_auth_web import cheap_password_hashes, sign_in, submit, text

# English words of the interface (templates, labels.py, forms.py) that a Burmese page must
# not show. Whole words, case-sensitive.
ENGLISH = [
    "Evidence", "Cases", "Case", "Members", "Member", "Activity", "Account", "Accounts",
    "Sign out", "Language", "Change", "Size", "bytes", "byte", "kB", "MB", "Flags", "Type",
    "Restricted", "Standard", "Copy", "Filter", "Sensitivity", "Received", "Download",
    "Verify", "Role", "Lead", "Lawyer", "Investigator", "Viewer", "Title", "Original",
    "Declared", "Collected", "collected", "Collector", "Place", "Source", "Latitude",
    "Longitude", "Capture", "Consent", "Preview", "Delete", "Reason", "Entries", "Name",
    "Email", "State", "Active", "Yes", "No", "On", "Off", "Actions", "Save", "Remove",
    "mismatch", "polyglot", "bidi", "controls", "metadata", "Metadata", "empty", "uploaded",
    "viewed", "recorded", "handed", "added", "opened", "Open", "Recorded", "details", "When",
    "Where", "Seal", "Time", "What", "happened", "Leaf", "hash", "Integrity", "checkpoint",
    "Password", "password", "Two-factor", "token", "Tokens", "Create", "Administrator",
    "Since", "Browser", "Address", "Expires", "Revoke", "Skip", "Main", "Sort", "Any",
    "All", "from", "until", "Record", "transfer", "items", "item", "None", "found",
    "Embedded", "Chain", "custody", "report", "Legal", "hold", "Forum", "Court", "pattern",
    "Working", "languages", "My", "Description", "Map", "Incident", "Incidents", "Points",
    "Show", "Killing", "Persecution", "Borders", "tiles", "taken", "collector", "incident",
    "Translation", "Translations", "translation", "Translator", "Redact", "Redacted",
    "redacted", "version", "Boxes", "box", "Page", "Certification", "Left", "Width", "Height",
    "Encrypted", "keys", "key", "optional", "public", "recipients", "plain",
]
WORDS = re.compile(r"(?<![\w-])(" + "|".join(re.escape(word) for word in ENGLISH) + r")(?![\w-])")

# What the test itself typed: user data, shown as typed.
TYPED = [
    "Witness statement W-12", "Interview notes, Kutupalong", "Field team 3",
    "Kutupalong camp", "WhatsApp forward", "https://example.org/post/1", "OpenArchive Save",
    "consent recorded on tape", "Clearance operations in northern Rakhine",
    "Myanmar clearance operations", "ICC-01/19", "Daw Khin", "Certified.",
    # The scanned PDF's own metadata and text, and the redacted version's stored title and
    # file name (made from the original's when it was made: data, in no reader's language).
    "scan.pdf (redacted)", "scan-redacted.pdf", "scan.pdf", "Investigator X",
    "Confidential title", "Situation report", "WITNESSALPHA", "MMR-OTP-{batch:04d}-{seq:04d}",
    "Investigator K.", "Evidence unit, The Hague", "original SD card for forensic imaging",
    "CF-SEAL-00042", "Cox's Bazar", "SD card", "sealed bag, intact", "scripts",
    "statement.txt", "photo.jpg", "restricted-witness.txt", "a.txt", "test",
    "Burning of Tula Toli", "Tula Toli", "riverbank", "33rd Light Infantry Division",
    "Tatmadaw", "Rohingya villagers", "seen from the river", "Soldiers set the houses on fire.",
    "Request under article 15",
]
IDENTIFIERS = re.compile(
    r"[\w.+-]+@[\w.-]+|MMR-OTP-\d{4}-\d{4}|\b[0-9a-f]{8,}\b|\b(?:text|image|application)/[\w.+-]+"
    r"|\bSHA-256\b|\bERN\b|\bUTC\b|\bPDF\b|\bJSON\b|\bURL\b|\bCasefile\b|\bEnglish\b"
)
GLOSS = re.compile(r"([\u1000-\u109f])\s*\([A-Za-z][\w -]*\)")
ATTRIBUTES = ("title", "aria-label", "data-label", "placeholder", "alt")


class ShownText(HTMLParser):
    """The text a reader meets: text nodes outside <script>, <style>, <pre> and <code>, and
    the attributes that are read or shown."""

    SKIP = frozenset({"script", "style", "pre", "code", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping.append(tag)
        if tag == "code":
            return  # an identifier or hash (its title is its value)
        for name, value in attrs:
            if name in ATTRIBUTES and value and not self.skipping:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def english_on(html: str) -> list[str]:
    parser = ShownText()
    parser.feed(html)
    shown = "\n".join(parser.parts)
    for typed in sorted(TYPED, key=len, reverse=True):
        shown = shown.replace(typed, " ")
    shown = IDENTIFIERS.sub(" ", shown)
    # A Burmese term may carry the English one after it, in brackets, for people who know the
    # field in English: "စစ်ဆေးမှတ် (checkpoint)". A gloss, not an untranslated string.
    shown = GLOSS.sub(r"\1", shown)
    return sorted({match.group(1) for match in WORDS.finditer(shown)})


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def pages(client: FlaskClient, session: Session) -> dict[str, str]:
    """A case with all there is to show, and the address of each page, for a Burmese lead."""
    lead = make_user(session, "lead@example.org", admin=True)
    member = make_user(session, "member@example.org")
    case = make_case(session, lead, "Clearance operations in northern Rakhine")
    add_member(session, case, lead, member, Role.INVESTIGATOR)
    auth = bearer(session, lead)
    session.commit()

    def api_upload(name: str, body: bytes, **fields: str) -> str:
        response = client.post(
            f"/api/v1/cases/{case.id}/evidence",
            headers=auth,
            data={**fields, "file": (io.BytesIO(body), name)},
            content_type="multipart/form-data",
        )
        assert response.status_code == 201, response.get_json()
        return str(response.get_json()["id"])

    statement = api_upload(
        "statement.txt",
        b"Witness statement W-12, taken in Kutupalong.\n" * 40,
        title="Witness statement W-12",
        description="Interview notes, Kutupalong",
        collected_by="Field team 3",
        collected_at="2026-11-02T10:00:00+00:00",
        location="Kutupalong camp",
        lat="21.2",
        lon="92.15",
        source="WhatsApp forward",
        original_url="https://example.org/post/1",
        capture_tool="OpenArchive Save",
        language="my",
        consent_notes="consent recorded on tape",
        declared_hashes="md5:" + "0" * 32,
    )
    photo = api_upload("photo.jpg", b"not a picture at all\n", title="photo.jpg")
    restricted = api_upload(
        "restricted-witness.txt", b"names of witnesses\n", sensitivity="restricted"
    )
    scan = api_upload("scan.pdf", two_page_pdf(), title="scan.pdf")
    translated = client.post(
        f"/api/v1/evidence/{statement}/translations",
        headers=auth,
        data={"language": "fr", "translator": "Daw Khin", "certification": "Certified.",
              "file": (io.BytesIO(b"traduction"), "fr.txt")},
        content_type="multipart/form-data",
    )
    assert translated.status_code == 201, translated.get_json()
    redacted = client.post(
        f"/api/v1/evidence/{scan}/redactions",
        headers=auth,
        json={"boxes": [{"page": 1, "x": 0.1, "y": 0.1, "width": 0.3, "height": 0.05}],
              "reason": "witness_identity"},
    )
    assert redacted.status_code == 201, redacted.get_json()
    transfer = client.post(
        f"/api/v1/cases/{case.id}/custody/transfers",
        headers=auth,
        json={
            "from": "Investigator K.",
            "to": "Evidence unit, The Hague",
            "when": "2026-11-20T09:30:00+00:00",
            "where": "Cox's Bazar",
            "media": "SD card",
            "reason": "original SD card for forensic imaging",
            "condition": "sealed bag, intact",
            "seal_number": "CF-SEAL-00042",
            "item_ids": [statement],
        },
    )
    assert transfer.status_code == 201, transfer.get_json()
    unit = client.post(f"/api/v1/cases/{case.id}/perpetrators", headers=auth, json={
        "name": "33rd Light Infantry Division", "kind": "unit", "affiliation": "Tatmadaw"})
    assert unit.status_code == 201, unit.get_json()
    incident = client.post(f"/api/v1/cases/{case.id}/incidents", headers=auth, json={
        "title": "Burning of Tula Toli", "narrative": "Soldiers set the houses on fire.",
        "start_date": "2017-08-30", "end_date": "2017-08-31", "date_precision": "day",
        "location": {"place": "riverbank", "village_ward": "Tula Toli", "township": "Maungdaw",
                     "country": "Myanmar", "lat": 20.94, "lon": 92.39},
        "categories": ["killing", "arson_destruction", "sgbv"],
        "victims": {"count": 300, "group": "Rohingya villagers"},
        "perpetrators": [unit.get_json()["id"]],
    })
    assert incident.status_code == 201, incident.get_json()
    incident_id = incident.get_json()["id"]
    linked = client.post(f"/api/v1/incidents/{incident_id}/evidence", headers=auth, json={
        "evidence_id": statement, "relation": "corroborates", "note": "seen from the river"})
    assert linked.status_code == 201, linked.get_json()
    changed = client.patch(f"/api/v1/incidents/{incident_id}", headers=auth,
                           json={"version": 1, "status": "under_investigation"})
    assert changed.status_code == 200, changed.get_json()

    filing = client.post(f"/api/v1/cases/{case.id}/filings", headers=auth, json={
        "title": "Request under article 15", "type": "request_or_submission",
        "classification": "public", "court_document_number": "ICC-01/19"})
    assert filing.status_code == 201, filing.get_json()
    filing_id = filing.get_json()["id"]
    exhibit = client.post(f"/api/v1/filings/{filing_id}/exhibits", headers=auth,
                          json={"evidence_id": statement})
    assert exhibit.status_code == 201, exhibit.get_json()
    exported = client.post(f"/api/v1/filings/{filing_id}/exports", headers=auth)
    assert exported.status_code == 202, exported.get_json()
    from pyrage import x25519  # noqa: PLC0415

    encrypted = client.post(f"/api/v1/filings/{filing_id}/exports", headers=auth, json={
        "age_recipients": [str(x25519.Identity.generate().to_public())]})
    assert encrypted.status_code == 202, encrypted.get_json()  # "encrypted with age to 1 key"

    sign_in(client, "lead@example.org")
    chosen = submit(client, "/cases", {"locale": "my"}, action="/language")
    assert chosen.status_code == 303
    # Entries the lead's own reading adds: viewed, downloaded.
    client.get(f"/evidence/{statement}")
    client.get(f"/evidence/{statement}/download")
    return {
        "cases": "/cases",
        "case": f"/cases/{case.id}",
        "evidence": f"/cases/{case.id}/evidence",
        "map": f"/cases/{case.id}/map",
        "item": f"/evidence/{statement}",
        "flagged item": f"/evidence/{photo}",
        "restricted item": f"/evidence/{restricted}",
        "activity": f"/cases/{case.id}/activity",
        "transfer": f"/cases/{case.id}/transfers",
        "account": "/account",
        "two-factor enrolment": "/account/totp",
        "accounts": "/admin/users",
        "new case": "/cases/new",
        "incidents": f"/cases/{case.id}/incidents",
        "incident": f"/incidents/{incident_id}",
        "new incident": f"/cases/{case.id}/incidents/new",
        "edit incident": f"/incidents/{incident_id}/edit",
        "filing with an export": f"/filings/{filing_id}",
        "scanned item": f"/evidence/{scan}",
        "translation form": f"/evidence/{statement}/translations",
        "redaction page": f"/evidence/{scan}/redact",
        "translation": f"/evidence/{translated.get_json()['id']}",
        "redacted version": f"/evidence/{redacted.get_json()['id']}",
    }


def test_no_english_words_on_burmese_pages(client: FlaskClient, pages: dict[str, str]) -> None:
    found = {}
    for name, path in pages.items():
        response = client.get(path)
        assert response.status_code == 200, (name, path, response.status_code)
        html = text(response)
        assert '<html lang="my">' in html, name
        english = english_on(html)
        if english:
            found[name] = english
    anonymous = client.application.test_client()
    login = text(anonymous.get("/login", headers={"Accept-Language": "my"}))
    if english_on(login):
        found["login"] = english_on(login)
    assert not found, "English words on Burmese pages:\n" + "\n".join(
        f"  {name}: {', '.join(words)}" for name, words in found.items()
    )


def burmese_plural(msgid: str) -> str:
    with PO_FILE.open("rb") as source:
        message = read_po(source).get(msgid)
    assert message is not None and isinstance(message.string, tuple), msgid
    [only] = message.string  # Burmese has one plural form
    return str(only)


def test_sizes_flags_and_collector_labels_read_in_burmese(
    client: FlaskClient, pages: dict[str, str]
) -> None:
    item = text(client.get(pages["item"]))
    assert burmese("Latitude") in item and burmese("Consent notes") in item
    assert burmese("declared hash mismatch") in item
    assert "2026 နိုဝင်ဘာ 2 UTC 10:00:00" in item  # collected_at, in Babel's Burmese form
    assert burmese_plural("%(count)s byte") % {"count": "1,800"} in item  # 45 bytes, 40 times
    assert "(" + burmese("%(size)s kB") % {"size": "1.8"} + ")" in item
    listing = text(client.get(pages["evidence"]))
    assert burmese("type mismatch") in listing
    assert listing.count('id="filter-sensitivity"') == 1
    assert listing.count('id="sensitivity"') == 1  # the upload form's; the filter has its own
    assert '<label for="filter-sensitivity">' in listing


def test_english_sizes_use_plural_forms(client: FlaskClient, pages: dict[str, str]) -> None:
    submit(client, "/cases", {"locale": "en"}, action="/language")
    item = text(client.get(pages["item"]))
    assert "1,800 bytes (1.8 kB)" in item
    assert "November 2, 2026, 10:00:00\u202fAM UTC" in item  # collected_at, Babel's English
    flagged = text(client.get(pages["flagged item"]))
    assert "21 bytes" in flagged and "type mismatch" in flagged
