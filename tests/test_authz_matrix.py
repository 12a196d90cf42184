"""The authorization matrix: every route the app has (HTML and JSON API), every kind of
caller, one expected outcome each.

Rows are keyed by (method, URL rule). `test_every_route_has_a_matrix_row` fails when a route
exists without a row (or a row without a route), so a new route cannot ship unreviewed.

Outcomes: OK (2xx, a web form's 422 refusal, or a redirect that is not to the sign-in
page), LOGIN (API: 401 JSON; HTML: a redirect to /login), FORBIDDEN (403), NOT_FOUND
(404). PUBLIC rows accept anyone and only must not answer 403, 404 or 5xx. The API is
driven with bearer tokens, the HTML UI with a signed-in browser session (CSRF checks are
switched off in this module's app: they are tested elsewhere and would otherwise hide the
authorization answer behind a 400).

Each actor's request runs inside a savepoint that is rolled back afterwards, so one world of
users and one case serve all actors of a row and no request sees another's changes. One app
serves the whole module (per backend): building one costs ~0.1 s, mostly Werkzeug compiling
the URL rules, which would otherwise be most of this module's run time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import time
import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit

import pytest
from pypdf import PdfReader
from reportlab.pdfgen import canvas

from casefile import create_app, request_scope
from casefile.db import Database
from casefile.logic.accounts import accounts, login_sessions, tokens
from casefile.logic.custody import checkpoints as custody_checkpoints
from casefile.logic.export import jobs as export_jobs
from casefile.logic.filings import exhibits, filings
from casefile.logic.frameworks import charges
from casefile.logic.frameworks import links as proof_links
from casefile.logic.frameworks.charges import ChargeInput
from casefile.logic.frameworks.links import ProofLinkInput
from casefile.logic.incidents import incidents, links
from casefile.logic.tags import incident_tags, tagging, vocabulary
from casefile.model import ExportStatus, Role, Strength
from tests.factories import PASSWORD, add_member, make_case, make_settings, make_user

OK, LOGIN, FORBIDDEN, NOT_FOUND = "ok", "login", "403", "404"
PUBLIC = frozenset({OK, LOGIN})  # anyone; a flow may send to /login, never refuse

ANONYMOUS, ADMIN, OUTSIDER = "anonymous", "admin", "outsider"
VIEWER, INVESTIGATOR, LAWYER, LEAD = "viewer", "investigator", "lawyer", "lead"
DISABLED = "disabled"  # a disabled instance administrator who is also a lead of the case
ACTORS = (ANONYMOUS, ADMIN, OUTSIDER, VIEWER, INVESTIGATOR, LAWYER, LEAD, DISABLED)
SIGNED_IN = (ADMIN, OUTSIDER, VIEWER, INVESTIGATOR, LAWYER, LEAD)
NON_LEAD_MEMBERS = (VIEWER, INVESTIGATOR, LAWYER)

Expect = Mapping[str, str | frozenset[str]]


def _expect(**outcomes: str | frozenset[str]) -> dict[str, str | frozenset[str]]:
    table = {ANONYMOUS: LOGIN, DISABLED: LOGIN}
    table.update(outcomes)
    assert set(table) == set(ACTORS), f"incomplete row: {sorted(set(ACTORS) - set(table))}"
    return table


def signed_in() -> Expect:
    return _expect(**dict.fromkeys(SIGNED_IN, OK))


def case_reader() -> Expect:
    return _expect(
        **{ADMIN: NOT_FOUND, OUTSIDER: NOT_FOUND, LEAD: OK}, **dict.fromkeys(NON_LEAD_MEMBERS, OK)
    )


def case_manager() -> Expect:
    """Leads only: membership, deletion of evidence, legal hold."""
    return _expect(
        **{ADMIN: NOT_FOUND, OUTSIDER: NOT_FOUND, LEAD: OK},
        **dict.fromkeys(NON_LEAD_MEMBERS, FORBIDDEN),
    )


def grant_manager() -> Expect:
    """A restricted item's access: leads manage it, seen or not; members who see the item
    (the viewer granted it, the investigator who uploaded it and may give it to leads only)
    are refused; to a member who does not see it, it does not exist."""
    return _expect(
        **{ADMIN: NOT_FOUND, OUTSIDER: NOT_FOUND, LEAD: OK, LAWYER: NOT_FOUND},
        **dict.fromkeys((VIEWER, INVESTIGATOR), FORBIDDEN),
    )


def contributor() -> Expect:
    """Adding evidence, recording a hand-over of physical media: every member but a viewer."""
    return _expect(
        **{ADMIN: NOT_FOUND, OUTSIDER: NOT_FOUND, VIEWER: FORBIDDEN},
        **dict.fromkeys((INVESTIGATOR, LAWYER, LEAD), OK),
    )


def admin_only() -> Expect:
    return _expect(**{ADMIN: OK}, **dict.fromkeys(set(SIGNED_IN) - {ADMIN}, FORBIDDEN))


def owned_by_lead() -> Expect:
    """The target (an API token, a resumable upload) is the lead's; to anyone else it does
    not exist."""
    return _expect(**{LEAD: OK}, **dict.fromkeys(set(SIGNED_IN) - {LEAD}, NOT_FOUND))


def public() -> Expect:
    return dict.fromkeys(ACTORS, PUBLIC)


@dataclasses.dataclass(frozen=True)
class Row:
    method: str
    rule: str
    expect: Expect
    body: Mapping[str, object] | None = None  # form fields (HTML) or JSON (API)
    query: str = ""
    values: Mapping[str, str] = dataclasses.field(default_factory=dict)  # path param → world key
    upload: bool = False  # a multipart body with a file part named `file`
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    raw: bytes | None = None  # a body sent as it is, with headers' Content-Type
    extra_items: frozenset[str] = frozenset()  # items the body names (not the URL)

    @property
    def api(self) -> bool:
        return self.rule.startswith("/api/")

    @property
    def items(self) -> frozenset[str]:
        """The world's items of evidence this row's URL (or body) names."""
        names = set(PARAM.findall(self.rule)) & {"evidence_id", "item_id"}
        if "<uuid:link_id>" in self.rule or self.proof:
            names.add("evidence_id")  # the link's item (incident and proof links alike)
        named = frozenset(self.values.get(name, DEFAULT_VALUES[name]) for name in names)
        return named | self.extra_items

    @property
    def proof(self) -> bool:
        """Whether the row needs a charge and a proof link in the world."""
        return "/proof-" in self.rule or "/charges/" in self.rule

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule}"


CASE = "/cases/<uuid:case_id>"
API_CASE = "/api/v1" + CASE
NEW_CASE_FORM = {"title": "T", "forum": "icc", "ern_pattern": "CF-{seq:06d}", "languages": "en"}
NEW_MEMBER = {"email": "{outsider_email}", "role": "viewer"}
TUS = {"Tus-Resumable": "1.0.0"}
TRANSFER_FORM = {"from_party": "Field team", "to_party": "Registry", "when": "2024-05-01T10:30",
                 "reason": "secure storage", "media": "SD card"}
TRANSFER = {"from": "Field team", "to": "Registry", "when": "2024-05-01T10:30:00Z",
            "reason": "secure storage", "media": "SD card"}
INCIDENT = "/api/v1/incidents/<uuid:incident_id>"
NEW_INCIDENT = {"title": "Burning of Tula Toli", "categories": ["arson_destruction"],
                "location": {"township": "Maungdaw", "country": "Myanmar"}}
LINK = {"evidence_id": "{evidence_id}", "relation": "depicts", "note": "seen from the river"}
ITEM = frozenset({"evidence_id"})
INCIDENT_FORM = {"title": "Burning of Tula Toli", "date_precision": "day", "status": "reported",
                 "categories": "arson_destruction", "country": "Myanmar", "township": "Maungdaw"}

FILING = "/filings/<uuid:filing_id>"
API_FILING = "/api/v1" + FILING
NEW_FILING = {"title": "Submission", "type": "request_or_submission", "classification": "public"}


def filing_editor() -> Expect:
    """Filings and their exhibits: lawyers and leads; investigators and viewers read only."""
    return _expect(
        **{ADMIN: NOT_FOUND, OUTSIDER: NOT_FOUND, VIEWER: FORBIDDEN, INVESTIGATOR: FORBIDDEN},
        **dict.fromkeys((LAWYER, LEAD), OK),
    )


ROWS = (
    # --- HTML: sign-in and preferences (public) ---
    Row("GET", "/login", public()),
    Row("POST", "/login", public(), body={}),
    Row("GET", "/login/totp", public()),
    Row("POST", "/login/totp", public(), body={"code": "123456"}),
    Row("POST", "/logout", public(), body={}),  # ends whatever session there is, if any
    Row("POST", "/language", public(), body={"locale": "my", "next": "/cases"}),
    # --- HTML: cases ---
    Row("GET", "/", signed_in()),
    Row("GET", "/cases", signed_in()),
    Row("GET", "/cases/new", signed_in()),
    Row("POST", "/cases/new", signed_in(), body=NEW_CASE_FORM),
    Row("GET", CASE, case_reader()),
    Row("POST", CASE + "/members", case_manager(), body=NEW_MEMBER),
    Row("POST", CASE + "/members/<uuid:user_id>/role", case_manager(), body={"role": "lawyer"}),
    Row("POST", CASE + "/members/<uuid:user_id>/remove", case_manager(), body={}),
    # --- HTML: a case's custody log ---
    Row("GET", CASE + "/activity", case_reader()),
    Row("POST", CASE + "/activity/verify", case_reader(), body={}),
    Row("GET", CASE + "/activity/verify", case_reader()),  # a reload: back to the log
    Row("GET", CASE + "/custody.json", case_reader()),
    Row("GET", CASE + "/custody.pdf", case_reader()),
    Row("GET", CASE + "/transfers", contributor()),
    Row("POST", CASE + "/transfers", contributor(), body=TRANSFER_FORM),
    # --- HTML: evidence ---
    Row("GET", CASE + "/evidence", case_reader()),
    Row("GET", CASE + "/map", case_reader()),
    Row("POST", CASE + "/evidence", contributor(), body={"source": "Field team"}, upload=True),
    Row("GET", "/evidence/<uuid:item_id>", case_reader()),
    Row("POST", "/evidence/<uuid:item_id>/verify", case_reader(), body={}),
    Row("GET", "/evidence/<uuid:item_id>/download", case_reader()),
    Row("GET", "/evidence/<uuid:item_id>/preview", case_reader()),
    Row("GET", "/evidence/<uuid:item_id>/pages/<int:number>.png", case_reader(),
        values={"item_id": "pdf_id"}),
    Row("GET", "/evidence/<uuid:item_id>/custody.json", case_reader()),
    Row("GET", "/evidence/<uuid:item_id>/custody.pdf", case_reader()),
    Row("POST", "/evidence/<uuid:item_id>/delete", case_manager(), body={"reason": "duplicate"}),
    Row("POST", "/evidence/<uuid:item_id>/access", grant_manager(),
        body={"person": "{lawyer_email}"}, values={"item_id": "restricted_id"}),
    Row("POST", "/evidence/<uuid:item_id>/access/<uuid:user_id>/withdraw", grant_manager(),
        body={}, values={"item_id": "restricted_id"}),  # the viewer's grant
    Row("GET", "/evidence/<uuid:item_id>/edit", contributor()),
    Row("POST", "/evidence/<uuid:item_id>/edit", contributor(),
        body={"version": "{item_version}", "title": "Renamed"}),
    # Derivatives (translations, redactions): who may add evidence and sees the original.
    Row("GET", "/evidence/<uuid:item_id>/translations", contributor()),
    Row("POST", "/evidence/<uuid:item_id>/translations", contributor(),
        body={"language": "fr", "translator": "Translator"}, upload=True),
    Row("GET", "/evidence/<uuid:item_id>/redact", contributor(), values={"item_id": "pdf_id"}),
    Row("POST", "/evidence/<uuid:item_id>/redact", contributor(), values={"item_id": "pdf_id"},
        body={"reason": "other", "page": "1", "left": "10", "top": "10", "width": "20",
              "height": "5"}),
    Row("POST", CASE + "/legal-hold", case_manager(), body={"reason": "litigation"}),
    # --- HTML: tags, bulk actions, the list as CSV ---
    Row("GET", CASE + "/tags", case_reader()),
    Row("POST", CASE + "/tags", case_manager(), body={"name": "Arson"}),
    Row("POST", CASE + "/tags/<uuid:tag_id>", case_manager(), body={"name": "Killings"}),
    Row("POST", "/evidence/<uuid:item_id>/tags", contributor(), body={"tag": "Arson"}),
    Row("POST", "/evidence/<uuid:item_id>/tags/<uuid:tag_id>/remove", contributor(), body={}),
    Row("POST", CASE + "/evidence/bulk", contributor(),
        body={"scope": "matching", "action": "tag", "tag": "Arson"},
        extra_items=frozenset({"evidence_id"})),
    Row("GET", CASE + "/evidence.csv", case_reader()),
    Row("POST", "/incidents/<uuid:incident_id>/tags", contributor(), body={"tag": "Arson"}),
    Row("POST", "/incidents/<uuid:incident_id>/tags/<uuid:tag_id>/remove", contributor(),
        body={}),
    # --- HTML: incidents ---
    Row("GET", CASE + "/incidents", case_reader()),
    Row("POST", CASE + "/incidents/perpetrators", contributor(),
        body={"name": "LID 33", "kind": "unit"}),
    Row("GET", CASE + "/incidents/new", contributor()),
    Row("POST", CASE + "/incidents/new", contributor(), body=INCIDENT_FORM),
    Row("GET", "/incidents/<uuid:incident_id>", case_reader()),
    Row("GET", "/incidents/<uuid:incident_id>/edit", contributor()),
    Row("POST", "/incidents/<uuid:incident_id>/edit", contributor(),
        body={**INCIDENT_FORM, "version": "1", "title": "Renamed"}),
    Row("POST", "/incidents/<uuid:incident_id>/evidence", contributor(),
        body={"evidence": "{evidence_id}", "relation": "depicts"}, extra_items=ITEM),
    Row("POST", "/incidents/<uuid:incident_id>/evidence/<uuid:link_id>/remove", contributor(),
        body={}),
    # --- HTML: charges and the proof matrix ---
    Row("GET", CASE + "/charges", case_reader()),
    Row("POST", CASE + "/charges", case_manager(), body={"crime": "rome-statute|7(1)(a)"}),
    Row("POST", CASE + "/charges/<uuid:charge_id>/remove", case_manager(), body={}),
    Row("GET", CASE + "/proof-matrix", case_reader()),
    Row("GET", CASE + "/proof-matrix.csv", case_reader()),
    Row("GET", CASE + "/proof-matrix.pdf", case_reader()),
    Row("POST", CASE + "/proof-matrix/links", contributor(), body={}),
    Row("GET", CASE + "/proof-matrix/links/<uuid:link_id>", contributor()),
    Row("POST", CASE + "/proof-matrix/links/<uuid:link_id>", contributor(),
        body={"strength": "lead", "note": "n"}),
    Row("POST", CASE + "/proof-matrix/links/<uuid:link_id>/remove", contributor(), body={}),
    # --- HTML: filings and exhibits ---
    Row("GET", CASE + "/filings", case_reader()),
    Row("GET", CASE + "/filings/new", filing_editor()),
    Row("POST", CASE + "/filings/new", filing_editor(), body=NEW_FILING),
    Row("GET", FILING, case_reader()),
    Row("GET", FILING + "/edit", filing_editor()),
    Row("POST", FILING + "/edit", filing_editor(), body={**NEW_FILING, "language": "en"}),
    Row("POST", FILING + "/exhibits", filing_editor(), body={"evidence_id": "{pdf_id}"}),
    Row("POST", FILING + "/exhibits/<uuid:exhibit_id>/remove", filing_editor(), body={}),
    Row("POST", FILING + "/exhibits/<uuid:exhibit_id>/move", filing_editor(),
        body={"step": "1"}),
    Row("POST", FILING + "/exhibits/order", filing_editor(),
        body={"exhibits_version": "2", "exhibit_ids": "{exhibit_id}"}),
    Row("POST", FILING + "/status", filing_editor(), body={"status": "final"}),
    Row("POST", FILING + "/exports", filing_editor(), body={}),
    Row("GET", "/exports/<uuid:export_id>/download", filing_editor()),
    # --- HTML: my account (forms sent empty: only who may reach them is at stake here) ---
    Row("GET", "/account", signed_in()),
    Row("POST", "/account/password", signed_in(), body={}),
    Row("GET", "/account/totp", signed_in()),
    Row("POST", "/account/totp", signed_in(), body={}),
    Row("POST", "/account/totp/disable", signed_in(), body={}),
    Row("POST", "/account/totp/cancel", signed_in(), body={}),
    Row("POST", "/account/totp/recovery-codes", signed_in(), body={}),
    Row("POST", "/account/tokens", signed_in(), body={"token-name": "laptop"}),
    Row("POST", "/account/tokens/<uuid:token_id>/revoke", owned_by_lead(), body={}),
    Row("POST", "/account/sessions/end-others", signed_in(), body={}),
    # --- HTML: account administration ---
    Row("GET", "/admin/users", admin_only()),
    Row("POST", "/admin/users", admin_only(),
        body={"email": "new@example.org", "password": PASSWORD, "display_name": "New"}),
    Row("POST", "/admin/users/<uuid:user_id>/disable", admin_only(), body={}),
    Row("POST", "/admin/users/<uuid:user_id>/enable", admin_only(), body={},
        values={"user_id": "disabled_id"}),
    Row("POST", "/admin/users/<uuid:user_id>/reset-2fa", admin_only(), body={}),
    Row("POST", "/admin/users/<uuid:user_id>/sign-out", admin_only(), body={}),
    Row("POST", "/admin/users/<uuid:user_id>/unlock", admin_only(), body={}),
    Row("POST", "/admin/users/<uuid:user_id>/reset-password", admin_only(), body={}),
    Row("GET", "/admin/frameworks", admin_only()),
    Row("POST", "/admin/frameworks", admin_only(), body={}),
    # --- API ---
    Row("GET", "/api/v1/openapi.json", public()),
    # --- health, for load balancers and monitoring (public; they say nothing secret) ---
    Row("GET", "/healthz", public()),
    Row("GET", "/readyz", public()),
    Row("GET", "/api/v1/me", signed_in()),
    Row("GET", "/api/v1/me/tokens", signed_in()),
    Row("POST", "/api/v1/me/tokens", signed_in(), body={"name": "laptop"}),
    Row("DELETE", "/api/v1/me/tokens/<uuid:token_id>", owned_by_lead()),
    Row("DELETE", "/api/v1/me/tokens", signed_in()),
    Row("POST", "/api/v1/me/password", signed_in(),
        body={"current": PASSWORD, "new": "a new passphrase for the matrix"}),
    Row("GET", "/api/v1/cases", signed_in()),
    Row("POST", "/api/v1/cases", signed_in(), body={"title": "T", "forum": "icc"}),
    Row("GET", API_CASE, case_reader()),
    Row("GET", API_CASE + "/members", case_reader()),
    Row("POST", API_CASE + "/members", case_manager(), body=NEW_MEMBER),
    Row("PATCH", API_CASE + "/members/<uuid:user_id>", case_manager(), body={"role": "lawyer"}),
    Row("DELETE", API_CASE + "/members/<uuid:user_id>", case_manager()),
    Row("GET", API_CASE + "/custody", case_reader()),
    Row("POST", API_CASE + "/custody/transfers", contributor(), body=TRANSFER),
    Row("POST", API_CASE + "/evidence", contributor(), body={"title": "Photo"}, upload=True),
    Row("GET", API_CASE + "/evidence", case_reader()),
    Row("GET", API_CASE + "/map", case_reader()),
    Row("GET", "/api/v1/evidence/<uuid:evidence_id>", case_reader()),
    Row("GET", "/api/v1/evidence/<uuid:evidence_id>/content", case_reader()),
    Row("GET", "/api/v1/evidence/<uuid:evidence_id>/custody", case_reader()),
    Row("DELETE", "/api/v1/evidence/<uuid:evidence_id>", case_manager(),
        body={"reason": "duplicate"}),
    Row("PATCH", "/api/v1/evidence/<uuid:evidence_id>", contributor(),
        body={"version": "{item_version}", "title": "Renamed"}),
    Row("POST", "/api/v1/evidence/<uuid:evidence_id>/translations", contributor(),
        body={"language": "fr", "translator": "Translator"}, upload=True),
    Row("POST", "/api/v1/evidence/<uuid:evidence_id>/redactions", contributor(),
        values={"evidence_id": "pdf_id"},
        body={"boxes": [{"page": 1, "x": 0.1, "y": 0.1, "width": 0.2, "height": 0.05}],
              "reason": "other"}),
    Row("POST", "/api/v1/evidence/<uuid:evidence_id>/grants", grant_manager(),
        body={"email": "{lawyer_email}"}, values={"evidence_id": "restricted_id"}),
    Row("DELETE", "/api/v1/evidence/<uuid:evidence_id>/grants/<uuid:user_id>", grant_manager(),
        values={"evidence_id": "restricted_id"}),  # the viewer's grant
    Row("PUT", API_CASE + "/legal-hold", case_manager(), body={"on": True, "reason": "litigation"}),
    Row("GET", "/api/v1/frameworks", signed_in()),
    Row("GET", API_CASE + "/charges", case_reader()),
    Row("POST", API_CASE + "/charges", case_manager(),
        body={"framework": "rome-statute", "crime": "7(1)(a)"}),
    Row("DELETE", API_CASE + "/charges/<uuid:charge_id>", case_manager()),
    Row("POST", API_CASE + "/proof-links", contributor(),
        body={"charge_id": "{charge_id}", "element": "2", "evidence_id": "{evidence_id}",
              "strength": "lead"}),
    Row("PATCH", API_CASE + "/proof-links/<uuid:link_id>", contributor(),
        body={"strength": "lead"}),
    Row("DELETE", API_CASE + "/proof-links/<uuid:link_id>", contributor()),
    Row("GET", API_CASE + "/proof-matrix", case_reader()),
    Row("OPTIONS", API_CASE + "/uploads", public(), headers=TUS),
    Row("POST", API_CASE + "/uploads", contributor(),
        headers={**TUS, "Upload-Length": "5", "Upload-Metadata": "filename YS50eHQ="}),
    Row("OPTIONS", "/api/v1/uploads/<uuid:upload_id>", public(), headers=TUS),
    Row("HEAD", "/api/v1/uploads/<uuid:upload_id>", owned_by_lead(), headers=TUS),
    Row("PATCH", "/api/v1/uploads/<uuid:upload_id>", owned_by_lead(), raw=b"hello",
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}),
    Row("DELETE", "/api/v1/uploads/<uuid:upload_id>", owned_by_lead(), headers=TUS),
    Row("GET", API_CASE + "/tags", case_reader()),
    Row("POST", API_CASE + "/tags", case_manager(), body={"name": "Arson"}),
    Row("PATCH", "/api/v1/tags/<uuid:tag_id>", case_manager(), body={"description": "fire"}),
    Row("POST", "/api/v1/evidence/<uuid:evidence_id>/tags", contributor(), body={"tag": "Arson"}),
    Row("DELETE", "/api/v1/evidence/<uuid:evidence_id>/tags/<uuid:tag_id>", contributor()),
    Row("POST", API_CASE + "/evidence/bulk", contributor(),
        body={"action": "tag", "filter": {}, "tag": "Arson"},
        extra_items=frozenset({"evidence_id"})),
    Row("GET", API_CASE + "/evidence.csv", case_reader()),
    Row("POST", "/api/v1/incidents/<uuid:incident_id>/tags", contributor(), body={"tag": "Arson"}),
    Row("DELETE", "/api/v1/incidents/<uuid:incident_id>/tags/<uuid:tag_id>", contributor()),
    Row("GET", "/api/v1/custody/public-key", public()),
    # --- API: filings and exhibits ---
    Row("POST", API_CASE + "/filings", filing_editor(), body=NEW_FILING),
    Row("GET", API_CASE + "/filings", case_reader()),
    Row("GET", API_FILING, case_reader()),
    Row("PATCH", API_FILING, filing_editor(), body={"title": "Renamed"}),
    Row("POST", API_FILING + "/exhibits", filing_editor(), body={"evidence_id": "{pdf_id}"}),
    Row("DELETE", API_FILING + "/exhibits/<uuid:exhibit_id>", filing_editor()),
    Row("PUT", API_FILING + "/exhibits/order", filing_editor(),
        body={"exhibits_version": 2, "exhibit_ids": ["{exhibit_id}"]}),
    Row("GET", API_FILING + "/warnings", case_reader()),
    Row("POST", API_FILING + "/exports", filing_editor()),
    Row("GET", API_FILING + "/exports", filing_editor()),
    Row("GET", "/api/v1/exports/<uuid:export_id>", filing_editor()),
    Row("GET", "/api/v1/exports/<uuid:export_id>/download", filing_editor()),
    Row("GET", "/api/v1/custody/checkpoint", signed_in()),
    Row("GET", "/api/v1/custody/checkpoints", signed_in()),
    Row("GET", "/api/v1/custody/consistency", signed_in(),
        query="old={checkpoint_size}&new={checkpoint_size}"),
    Row("GET", API_CASE + "/incidents", case_reader()),
    Row("POST", API_CASE + "/incidents", contributor(), body=NEW_INCIDENT),
    Row("GET", INCIDENT, case_reader()),
    Row("PATCH", INCIDENT, contributor(), body={"version": 1, "status": "corroborated"}),
    Row("POST", INCIDENT + "/evidence", contributor(), body=LINK, extra_items=ITEM),
    Row("DELETE", INCIDENT + "/evidence/<uuid:link_id>", contributor()),
    Row("GET", API_CASE + "/perpetrators", case_reader()),
    Row("POST", API_CASE + "/perpetrators", contributor(), body={"name": "LID 33", "kind": "unit"}),
    Row("GET", "/api/v1/places/myanmar", signed_in(), query="level=township&q=maung"),
    # Search in one case: its members; to anyone else the case does not exist. (Without a
    # case, anyone signed in searches their own cases: tests/search/.)
    Row("GET", "/api/v1/search", case_reader(), query="q=matrix&case_id={case_id}"),
    Row("GET", "/search", case_reader(), query="q=matrix&case_id={case_id}"),
)
MATRIX = {(row.method, row.rule): row for row in ROWS}
assert len(MATRIX) == len(ROWS), "a route appears twice in the matrix"

NO_ITEMS: frozenset[str] = frozenset()
DEFAULT_VALUES = {
    "case_id": "case_id",
    "user_id": "viewer_id",
    "token_id": "lead_spare_token",
    "evidence_id": "evidence_id",
    "item_id": "evidence_id",
    "upload_id": "upload_id",
    "number": "page_one",
    "tag_id": "tag_id",
    "incident_id": "incident_id",
    "charge_id": "charge_id",
    "link_id": "link_id",
    "filing_id": "filing_id",
    "exhibit_id": "exhibit_id",
    "export_id": "export_id",
}

PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


def declared_methods(rule) -> set[str]:
    """What a rule was declared with: not the HEAD Flask adds to each GET nor the automatic
    OPTIONS, but a HEAD or OPTIONS route of its own (tus has both)."""
    methods = set(rule.methods)
    if "GET" in methods:
        methods.discard("HEAD")
    if methods - {"OPTIONS"}:
        methods.discard("OPTIONS")
    return methods


# --- one app for the module, each test's own transaction ------------------------------------


class CurrentTestSessions:
    """Stands in for the module app's sessionmaker: each test points it at the sessionmaker
    bound to its own transaction (conftest's `database`), with what create_app configured."""

    def __init__(self) -> None:
        self.current = None
        self.configured: dict[str, object] = {}

    def configure(self, **options: object) -> None:
        self.configured.update(options)

    def use(self, sessions) -> None:
        if sessions is not None:
            sessions.configure(**self.configured)
        self.current = sessions

    def __call__(self, **options: object):
        assert self.current is not None, "no test is running"
        return self.current(**options)


@pytest.fixture(scope="module")
def module_app(engine, tmp_path_factory):
    sessions = CurrentTestSessions()
    app = create_app(
        make_settings(
            tmp_path_factory.mktemp("matrix"),
            # The disabled actor's refused token, sent for every row from one address, would
            # otherwise get that address throttled (tested in tests/logic/test_throttle.py).
            throttle_client_limits="1000000/day",
        ),
        database=Database(engine=engine, sessions=sessions),
    )
    app.config["WTF_CSRF_ENABLED"] = False  # see the module's docstring
    return app, sessions


@pytest.fixture
def app(module_app, database):
    """Overrides conftest's per-test app for this module."""
    shared, sessions = module_app
    sessions.use(database.sessions)
    yield shared
    sessions.use(None)


@pytest.fixture
def session(app, database):
    """Overrides conftest's: opened once the app has configured the test's sessions."""
    with database.sessions() as session:
        yield session


# --- the world every row runs against -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class World:
    values: dict[str, str]  # path values and body placeholders
    login_ids: dict[str, str]  # actor → flask-login id (user id and session version)
    session_ids: dict[str, str]  # actor → the server-side sign-in session its cookie names
    bearer: dict[str, str]  # actor → API token


def sign_in_session(session, user) -> str:
    """What a successful sign-in records server-side (after the disable, which ends them)."""
    return login_sessions.start(session, user, client_address=None, user_agent="matrix").token


def add_case_building(
    app, session, lead, case_id, values, *, tag: bool, incident: bool, link: bool, proof: bool
) -> None:
    """What a row about tags, incidents or the proof matrix needs in the world, by the lead."""
    if tag:  # a tag of the case's vocabulary, on the standard item
        made = vocabulary.create_tag(
            session, lead, case_id, vocabulary.TagInput(name="Killing")
        )
        values["tag_id"] = str(made.id)
        if "evidence_id" in values:
            tagging.tag_item(session, lead, uuid.UUID(values["evidence_id"]),
                             tagging.TagItemInput(tag="Killing"),
                             keyring=request_scope.keyring(app))
    if incident:  # an incident the lead recorded, and the standard item linked to it
        recorded = incidents.create_incident(
            session, lead, case_id, incidents.parse_input({"title": "Matrix incident"})
        )
        values["incident_id"] = str(recorded.id)
        if link:
            linked = links.link_item(session, lead, recorded.id, links.parse_link(
                {"evidence_id": values["evidence_id"], "relation": "context"}))
            values["link_id"] = str(linked.link.id)
        if tag:  # the tag on the incident too
            incident_tags.tag_incident(session, lead, recorded.id,
                                       tagging.TagItemInput(tag="Killing"))
    if proof:  # a charge and a proof link from its element 1 to the standard item, by the lead
        charge = charges.add_charge(
            session, lead, case_id, ChargeInput(framework="rome-statute", crime="7(1)(d)")
        )
        proof_link = proof_links.add_link(
            session,
            lead,
            case_id,
            ProofLinkInput(
                charge_id=charge.id,
                element="1",
                evidence_id=uuid.UUID(values["evidence_id"]),
                strength=Strength.SUPPORTS,
            ),
        )
        values["charge_id"], values["link_id"] = str(charge.id), str(proof_link.id)


def build_world(
    app,
    session,
    *,
    api: bool = True,
    checkpoint: bool = True,
    items: frozenset[str] = NO_ITEMS,
    upload: bool = False,
    tag: bool = False,
    incident: bool = False,
    link: bool = False,
    proof: bool = False,
    filing: bool = False,
    export: bool = False,
) -> World:
    """Seven accounts, one case with a member of each role; API tokens, items of evidence
    and a signed checkpoint only where the row needs them (each write costs every row time)."""
    if filing:  # its exhibit, and an item to add to it
        items = items | {"evidence_id", "pdf_id"}
    users = {
        ADMIN: make_user(session, "admin@example.org", admin=True),
        OUTSIDER: make_user(session, "outsider@example.org"),
        VIEWER: make_user(session, "viewer@example.org"),
        INVESTIGATOR: make_user(session, "investigator@example.org"),
        LAWYER: make_user(session, "lawyer@example.org"),
        LEAD: make_user(session, "lead@example.org"),
        DISABLED: make_user(session, "disabled@example.org", admin=True),
    }
    case = make_case(session, users[LEAD])
    for role, actor in (
        (Role.VIEWER, VIEWER),
        (Role.INVESTIGATOR, INVESTIGATOR),
        (Role.LAWYER, LAWYER),
        (Role.LEAD, DISABLED),
    ):
        add_member(session, case, users[LEAD], users[actor], role)
    bearer = {
        actor: tokens.create_token(session, user, name="matrix", days=1)[1]
        for actor, user in (users.items() if api or items else ())
    }
    spare, _ = tokens.create_token(session, users[LEAD], name="spare", days=1)
    accounts.set_disabled(session, None, users[DISABLED], disabled=True)
    values = {
        "case_id": str(case.id),
        "viewer_id": str(users[VIEWER].id),
        "disabled_id": str(users[DISABLED].id),
        "lead_spare_token": str(spare.id),
        "outsider_email": users[OUTSIDER].email,
        "lawyer_email": users[LAWYER].email,
        "page_one": "1",
    }
    if items:
        values.update(upload_items(app, values["case_id"], bearer, users[VIEWER].email, items))
    add_case_building(app, session, users[LEAD], case.id, values, tag=tag, incident=incident,
                      link=link, proof=proof)
    if filing:  # a filing of the lead's whose one exhibit is the standard item
        values.update(make_filing(session, users[LEAD], case.id, values["evidence_id"]))
    if export:  # the lead's finished export of that filing
        values["export_id"] = make_export(app, session, users[LEAD], values["filing_id"])
    if upload:  # a resumable upload the lead started: 5 bytes announced, none sent yet
        response = app.test_client().post(
            f"/api/v1/cases/{values['case_id']}/uploads",
            headers={**TUS, "Upload-Length": "5", "Authorization": f"Bearer {bearer[LEAD]}"},
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        values["upload_id"] = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    if checkpoint:  # a signed checkpoint over all of the above, for the custody routes to serve
        keys = app.extensions["casefile.custody_keys"]
        values["checkpoint_size"] = str(custody_checkpoints.make_checkpoint(session, keys).size)
    world = World(
        values=values,
        login_ids={actor: user.get_id() for actor, user in users.items()},
        session_ids={actor: sign_in_session(session, user) for actor, user in users.items()},
        bearer=bearer,
    )
    session.commit()
    return world


def make_filing(session, lead, case_id, evidence_id: str) -> dict[str, str]:
    filing = filings.create_filing(
        session, lead, case_id, filings.FilingInput.model_validate(NEW_FILING)
    )
    exhibit = exhibits.add_exhibit(
        session, lead, filing.id, exhibits.ExhibitInput(evidence_id=uuid.UUID(evidence_id))
    )
    assert filing.exhibits_version == 2  # what the reorder row sends
    return {"filing_id": str(filing.id), "exhibit_id": str(exhibit.id)}


def make_export(app, session, lead, filing_id: str) -> str:
    export = export_jobs.request_export(
        session, lead, uuid.UUID(filing_id), store=request_scope.blobs(app),
        keyring=request_scope.keyring(app),
    )
    status = export_jobs.run_export(
        session, export.id, keys=app.extensions["casefile.custody_keys"],
        keyring=request_scope.keyring(app), store=request_scope.blobs(app),
    )
    assert status == ExportStatus.DONE
    return str(export.id)


def one_page_pdf() -> bytes:
    out = io.BytesIO()
    document = canvas.Canvas(out)
    document.drawString(72, 720, "Situation report")
    document.showPage()
    document.save()
    return out.getvalue()


RESTRICTED_CONTENT = b"statement of witness W-17, who lives in Maungdaw"
RESTRICTED_NAME = "w17-maungdaw-statement.txt"


def upload_items(app, case_id: str, bearer, viewer_email: str, items) -> dict[str, str]:
    """Items uploaded as a client would: `evidence_id` a standard one, by the lead;
    `restricted_id` a restricted one, by the investigator (whose upload grants them access),
    which the lead then granted to the viewer. Nobody else holds a grant, not even the lead."""
    as_lead = {"Authorization": f"Bearer {bearer[LEAD]}"}
    client = app.test_client()
    ids = {}
    for key, uploader, content, filename, sensitivity in (
        ("evidence_id", LEAD, b"satellite image", "item.txt", "standard"),
        ("restricted_id", INVESTIGATOR, RESTRICTED_CONTENT, RESTRICTED_NAME, "restricted"),
        ("pdf_id", LEAD, one_page_pdf(), "item.pdf", "standard"),  # shown page by page
    ):
        if key not in items:
            continue
        response = client.post(
            f"/api/v1/cases/{case_id}/evidence",
            data={"file": (io.BytesIO(content), filename), "sensitivity": sensitivity,
                  "title": f"{filename} title", "collected_by": f"{filename} collector"},
            headers={"Authorization": f"Bearer {bearer[uploader]}"},
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        ids[key] = response.get_json()["id"]
        # The collector metadata's version, which an edit sends: of the item the rows name
        # (the standard one; the restricted one when it is the only item, rows pointed at it).
        ids.setdefault("item_version", response.get_json()["metadata_version"])
        if key == "restricted_id":
            body = response.get_json()
            ids["restricted_ern"], ids["restricted_sha256"] = body["ern"], body["sha256"]
    if "restricted_id" in ids:
        granted = client.post(
            f"/api/v1/evidence/{ids['restricted_id']}/grants",
            json={"email": viewer_email},
            headers=as_lead,
        )
        assert granted.status_code == 201, granted.get_data(as_text=True)
    return ids


def url_for_row(row: Row, world: World) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return world.values[row.values.get(name, DEFAULT_VALUES[name])]

    path = PARAM.sub(value, row.rule)
    return f"{path}?{row.query.format(**world.values)}" if row.query else path


def fill(body: Mapping[str, object] | None, world: World) -> dict[str, object] | None:
    if body is None:
        return None
    # A value that is exactly "{key}" names one of the world's values (also in a list).
    def one(value: object) -> object:
        if isinstance(value, list):
            return [one(each) for each in value]
        if isinstance(value, str) and re.fullmatch(r"\{\w+\}", value):
            return world.values[value[1:-1]]
        return value

    return {name: one(value) for name, value in body.items()}


def request_as(app, world: World, actor: str, row: Row, *, content: bytes | None = None):
    """`content`: the bytes of the file an upload row sends (default: a photo of the actor's)."""
    client = app.test_client()
    url, body = url_for_row(row, world), fill(row.body, world)
    if row.api:
        headers = {"Authorization": f"Bearer {world.bearer[actor]}"} if actor != ANONYMOUS else {}
        headers.update(row.headers)
        if row.raw is not None:
            return client.open(url, method=row.method, headers=headers, data=row.raw)
        if row.upload:
            return client.open(url, method=row.method, headers=headers,
                               data=with_file(body, actor, content))
        return client.open(url, method=row.method, headers=headers, json=body)
    if actor != ANONYMOUS:
        with client.session_transaction() as cookie:  # what a successful sign-in leaves
            cookie["_user_id"] = world.login_ids[actor]
            cookie["sid"] = world.session_ids[actor]
            cookie["_fresh"] = True
            cookie["seen"] = int(time.time())
    data = with_file(body, actor, content) if row.upload else body
    return client.open(url, method=row.method, data=data)


def with_file(
    body: dict[str, object] | None, actor: str, content: bytes | None = None
) -> dict[str, object]:
    data = f"photo by {actor}".encode() if content is None else content
    return {**(body or {}), "file": (io.BytesIO(data), "photo.txt")}


API_ERROR_CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}


def classify(response, *, api: bool) -> str:
    status = response.status_code
    if api and status in API_ERROR_CODES and response.request.method != "HEAD":
        body = response.get_json(silent=True) or {}
        if body.get("error", {}).get("code") != API_ERROR_CODES[status]:
            return f"HTTP {status} without the JSON error envelope"
    if 300 <= status < 400:
        if api:
            return f"redirect to {response.headers.get('Location')}"
        return LOGIN if urlsplit(response.headers["Location"]).path == "/login" else OK
    if status == 401 and api:
        return LOGIN
    # A web form that refused its input (422, docs/web-forms.md) was authorized, then read.
    if 200 <= status < 300 or (status == 422 and not api):
        return OK
    return {403: FORBIDDEN, 404: NOT_FOUND}.get(status, f"HTTP {status}")


# --- the tests ------------------------------------------------------------------------------


def test_every_route_has_a_matrix_row(app):
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in declared_methods(rule)
    }
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"routes without an authorization matrix row: {missing}"
    stale = sorted(set(MATRIX) - routes)
    assert not stale, f"matrix rows for routes that no longer exist: {stale}"


def test_the_public_routes_are_the_expected_few():
    public_rows = {row.id for row in ROWS if row.expect == public()}
    assert public_rows == {
        "GET /login", "POST /login", "GET /login/totp", "POST /login/totp", "POST /logout",
        "POST /language", "GET /api/v1/openapi.json", "GET /api/v1/custody/public-key",
        "OPTIONS /api/v1/cases/<uuid:case_id>/uploads", "OPTIONS /api/v1/uploads/<uuid:upload_id>",
        "GET /healthz", "GET /readyz",
    }


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_route_authorization(app, connection, session, row):
    world = build_world(
        app,
        session,
        api=row.api,
        checkpoint=row.rule.startswith("/api/v1/custody/"),
        items=row.items,
        upload="<uuid:upload_id>" in row.rule,
        tag="<uuid:tag_id>" in row.rule,
        incident="<uuid:incident_id>" in row.rule,
        link="<uuid:link_id>" in row.rule and not row.proof,
        proof=row.proof,
        filing="<uuid:filing_id>" in row.rule or "<uuid:export_id>" in row.rule,
        export="<uuid:export_id>" in row.rule,
    )

    got: dict[str, str] = {}
    for actor in ACTORS:
        savepoint = connection.begin_nested()
        try:
            got[actor] = classify(request_as(app, world, actor, row), api=row.api)
        finally:
            savepoint.rollback()

    wrong = {}
    for actor in ACTORS:
        expected = row.expect[actor]
        accepted = expected if isinstance(expected, frozenset) else {expected}
        if got[actor] not in accepted:
            wrong[actor] = f"expected {'/'.join(sorted(accepted))}, got {got[actor]}"
    assert not wrong, f"{row.id}: {wrong}"


def test_injected_session_is_what_a_real_sign_in_leaves(app, session):
    """The matrix signs in by writing the session; check that equals signing in for real."""
    user = make_user(session, "lawyer@example.org")
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    with client.session_transaction() as cookie:
        assert cookie["_user_id"] == user.get_id()
        assert isinstance(cookie["seen"], int)
        assert set(cookie) >= {"_user_id", "_fresh", "sid", "seen"}
        assert login_sessions.resume(
            session, cookie["sid"], user.id, idle=dt.timedelta(minutes=30)
        ) is not None


def test_disabled_actor_would_otherwise_be_allowed(app, session, connection):
    """The DISABLED column means something only if the same account, enabled, gets in."""
    world = build_world(app, session)
    admin_row = MATRIX[("GET", "/admin/users")]
    case_row = MATRIX[("GET", API_CASE)]
    accounts.set_disabled(
        session, None, accounts.find_by_email(session, "disabled@example.org"), disabled=False
    )
    again = accounts.find_by_email(session, "disabled@example.org")
    enabled = dataclasses.replace(
        world,
        login_ids={**world.login_ids, DISABLED: again.get_id()},
        # Disabling revoked the account's tokens for good: enabled, it needs a new one.
        bearer={
            **world.bearer,
            DISABLED: tokens.create_token(session, again, name="after", days=1)[1],
        },
    )
    assert classify(request_as(app, enabled, DISABLED, admin_row), api=False) == OK
    assert classify(request_as(app, enabled, DISABLED, case_row), api=True) == OK


def test_unknown_case_is_404_for_everyone(app, session):
    world = build_world(app, session)
    missing = dataclasses.replace(world, values={**world.values, "case_id": str(uuid.uuid4())})
    for rule in (API_CASE, API_CASE + "/members"):
        for actor in (ADMIN, OUTSIDER, VIEWER, LEAD):
            got = classify(request_as(app, missing, actor, MATRIX[("GET", rule)]), api=True)
            assert got == NOT_FOUND, (rule, actor)


ITEM_VIEWS = (
    ("GET", "/api/v1/evidence/<uuid:evidence_id>"),
    ("GET", "/api/v1/evidence/<uuid:evidence_id>/content"),
    ("GET", "/api/v1/evidence/<uuid:evidence_id>/custody"),
    ("GET", "/evidence/<uuid:item_id>"),
    ("GET", "/evidence/<uuid:item_id>/download"),
    ("GET", "/evidence/<uuid:item_id>/preview"),
    ("GET", "/evidence/<uuid:item_id>/custody.json"),
)


def test_restricted_item_is_seen_only_with_a_grant(app, connection, session):
    """Restricted (e.g. witness-identifying) items need a grant, whatever the role: here the
    investigator (who uploaded it) and the viewer (granted) hold one, the lead does not; to
    everyone without one the item does not exist."""
    world = build_world(app, session, items=frozenset({"restricted_id"}))
    wrong = {}
    for method, rule in ITEM_VIEWS:
        param = "evidence_id" if "evidence_id" in rule else "item_id"
        row = dataclasses.replace(MATRIX[(method, rule)], values={param: "restricted_id"})
        for actor in SIGNED_IN:
            savepoint = connection.begin_nested()
            try:
                got = classify(request_as(app, world, actor, row), api=row.api)
            finally:
                savepoint.rollback()
            expected = OK if actor in (VIEWER, INVESTIGATOR) else NOT_FOUND
            if got != expected:
                wrong[(row.id, actor)] = f"expected {expected}, got {got}"
    assert not wrong

    listing = f"/api/v1/cases/{world.values['case_id']}/evidence"
    for actor in (VIEWER, INVESTIGATOR, LAWYER, LEAD):
        headers = {"Authorization": f"Bearer {world.bearer[actor]}"}
        ids = [item["id"] for item in app.test_client().get(listing, headers=headers).json["items"]]
        assert (world.values["restricted_id"] in ids) == (actor in (VIEWER, INVESTIGATOR)), actor


# --- the restricted-item dimension ----------------------------------------------------------

GRANTEES = (VIEWER, INVESTIGATOR)  # the uploader, and the viewer the lead granted it to


def revealed(response, world: World, *, known: frozenset[str] = frozenset()) -> list[str]:
    """Which of the restricted item's identifying values a response shows: its id, ERN,
    SHA-256, file name, title, collector; in the body (PDFs as their text) or a header.
    `known`: what the caller knew already (the id it put in the URL, the SHA-256 of the bytes
    it sent)."""
    markers = {
        "id": world.values["restricted_id"],
        "ERN": world.values["restricted_ern"],
        "SHA-256": world.values["restricted_sha256"],
        "file name": RESTRICTED_NAME,
        "title": f"{RESTRICTED_NAME} title",
        "collector": f"{RESTRICTED_NAME} collector",
    }
    markers = {name: value for name, value in markers.items() if name not in known}
    body = response.get_data()
    if body.startswith(b"%PDF"):
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    else:
        text = body.decode("utf-8", "replace")
    text += "\n" + "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    # PDFs may break long tokens across lines: compare without white space too.
    squeezed = re.sub(r"\s+", "", text)
    return [name for name, value in markers.items() if value in text or value in squeezed]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_no_route_reveals_a_restricted_item_without_a_grant(app, connection, session, row):
    """Every route, every caller, with a restricted item in the case: whoever holds no grant
    (the lead included) learns nothing that identifies it, whether the route is about the
    case (lists, custody log and reports), another item, or an upload of the very same bytes
    (the duplicate path). Grantees do see it where the route shows it."""
    world = build_world(
        app,
        session,
        api=True,
        checkpoint=True,
        items=row.items | {"restricted_id"},
        upload="<uuid:upload_id>" in row.rule,
        tag="<uuid:tag_id>" in row.rule,
        incident="<uuid:incident_id>" in row.rule,
        link="<uuid:link_id>" in row.rule and not row.proof,
        proof=row.proof,
        filing="<uuid:filing_id>" in row.rule or "<uuid:export_id>" in row.rule,
        export="<uuid:export_id>" in row.rule,
    )
    known = frozenset(
        {"id"} if world.values["restricted_id"] in url_for_row(row, world) else set()
    ) | frozenset({"SHA-256"} if row.upload else set())  # it sent those very bytes
    leaks = {}
    for actor in ACTORS:
        if actor in GRANTEES:
            continue
        savepoint = connection.begin_nested()
        try:
            response = request_as(app, world, actor, row, content=RESTRICTED_CONTENT)
            found = revealed(response, world, known=known)
        finally:
            savepoint.rollback()
        if found:
            leaks[actor] = found
    assert not leaks, f"{row.id} reveals the restricted item: {leaks}"


# Rows that name an item in their URL (a proof row's item is the world's, not the URL's: the
# restricted item's proof links are tested in tests/api/test_frameworks_api.py).
ITEM_ROWS = tuple(
    row for row in ROWS
    if {"evidence_id", "item_id"} & set(PARAM.findall(row.rule))
    and not row.proof
    and "restricted_id" not in row.values.values()
)


@pytest.mark.parametrize("row", ITEM_ROWS, ids=[row.id for row in ITEM_ROWS])
def test_a_restricted_item_does_not_exist_without_a_grant(app, connection, session, row):
    """Every route that names an item, pointed at the restricted one: 404 for every member
    without a grant, the lead included, whatever the role would otherwise allow."""
    param = "evidence_id" if "evidence_id" in row.rule else "item_id"
    pointed = dataclasses.replace(row, values={**row.values, param: "restricted_id"})
    world = build_world(app, session, api=row.api, items=pointed.items,
                        tag="<uuid:tag_id>" in row.rule)
    wrong = {}
    for actor in (ADMIN, OUTSIDER, LAWYER, LEAD):
        savepoint = connection.begin_nested()
        try:
            got = classify(request_as(app, world, actor, pointed), api=row.api)
        finally:
            savepoint.rollback()
        if got != NOT_FOUND:
            wrong[actor] = got
    assert not wrong, f"{row.id}: {wrong}"


def test_the_leak_check_sees_what_grantees_see(app, connection, session):
    """`revealed` is not blind: the grantees' view of the item and of the case's custody
    report shows the markers it looks for."""
    world = build_world(app, session, items=frozenset({"restricted_id"}))
    item = dataclasses.replace(MATRIX[("GET", "/api/v1/evidence/<uuid:evidence_id>")],
                               values={"evidence_id": "restricted_id"})
    page = dataclasses.replace(MATRIX[("GET", "/evidence/<uuid:item_id>")],
                               values={"item_id": "restricted_id"})
    for actor in GRANTEES:
        for row in (item, page):
            assert revealed(request_as(app, world, actor, row), world) != [], (actor, row.id)
