"""Charges, the proof matrix and its exports, and loading frameworks, through the HTML UI
(SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefile.logic.frameworks import charges, links
from casefile.logic.frameworks.charges import ChargeInput
from casefile.logic.frameworks.links import ProofLinkInput
from casefile.logic.incidents import incidents
from casefile.model import Charge, LoadedFramework, ProofLink, Strength
from casefile.settings import PROJECT_ROOT
from casefile.web import frameworks as web_frameworks
from tests.factories import make_user
from tests.restricted_custody import World, build
from tests.web.test_auth_web import (
    cheap_password_hashes,
    find_form,
    location_path,
    sign_in,
    submit,
    text,
)

VSTGB = PROJECT_ROOT / "docs" / "examples" / "vstgb.yaml"
BURMESE_NOTE = "ရွာကို မီးရှို့ခဲ့သည်"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def world(session: Session, client: FlaskClient) -> World:
    return build(session, client)


def charged(session: Session, world: World, crime: str = "7(1)(d)") -> Charge:
    return charges.add_charge(
        session, world.lead, world.case.id, ChargeInput(framework="rome-statute", crime=crime)
    )


def test_a_lead_charges_a_crime_from_the_grouped_list(client, session, world):
    sign_in(client, world.lead.email)
    url = f"/cases/{world.case.id}/charges"
    page = text(client.get(url))
    assert "Nothing is charged yet." in page
    assert '<optgroup label="Rome Statute of the International Criminal Court: Article 7' in page
    assert 'value="rome-statute|7(1)(d)"' in page
    assert 'value="genocide-convention|II(c)"' in page

    refused = submit(client, url, {"crime": "rome-statute|7(1)(z)"}, action=url)
    assert refused.status_code == 422
    assert "has no crime or mode of liability" in text(refused)
    assert session.scalar(select(func.count()).select_from(Charge)) == 0

    done = submit(client, url, {"crime": "rome-statute|7(1)(d)"}, action=url)
    assert done.status_code == 303 and location_path(done) == url
    page = text(client.get(url))
    assert "Charge added." in page and "Deportation or forcible transfer" in page
    again = submit(client, url, {"crime": "rome-statute|7(1)(d)"}, action=url)
    assert again.status_code == 422 and "already charged" in text(again)

    [charge] = session.scalars(select(Charge))
    removed = submit(client, url, action=f"{url}/{charge.id}/remove")
    assert removed.status_code == 303
    assert session.scalar(select(func.count()).select_from(Charge)) == 0


def test_members_who_may_not_charge_see_no_form_and_are_refused(client, session, world):
    sign_in(client, world.viewer.email)
    url = f"/cases/{world.case.id}/charges"
    page = text(client.get(url))
    assert "Add charge" not in page
    response = client.post(url, data={"crime": "rome-statute|7(1)(d)"})
    assert response.status_code in (400, 403)  # no CSRF token, or forbidden: never a charge
    assert session.scalar(select(func.count()).select_from(Charge)) == 0


def test_the_matrix_shows_gaps_in_words_and_links_with_their_strength(client, session, world):
    charge = charged(session, world)
    sign_in(client, world.uploader.email)
    url = f"/cases/{world.case.id}/proof-matrix"
    page = text(client.get(url))
    assert page.count(">Gap<") == 7 and "7 gaps" in page

    bad = submit(
        client,
        url,
        {"element": f"{charge.id}|1", "ern": "NO-SUCH-ERN", "strength": "supports"},
        action=f"{url}/links",
    )
    assert bad.status_code == 422 and "No item of this case has this ERN." in text(bad)
    done = submit(
        client,
        url,
        {
            "element": f"{charge.id}|1",
            "ern": world.public["ern"],
            "strength": "supports",
            "note": BURMESE_NOTE,
        },
        action=f"{url}/links",
    )
    assert done.status_code == 303, text(done)
    page = text(client.get(url))
    assert page.count(">Gap<") == 6 and ">Covered<" in page
    assert "strength-supports" in page and "Supports" in page and BURMESE_NOTE in page

    [link] = session.scalars(select(ProofLink))
    link_url = f"{url}/links/{link.id}"
    changed = submit(client, link_url, {"strength": "lead", "note": ""}, action=link_url)
    assert changed.status_code == 303
    session.refresh(link)
    assert link.strength == Strength.LEAD
    assert text(client.get(url)).count(">Gap<") == 7
    removed = submit(client, link_url, action=f"{link_url}/remove")
    assert removed.status_code == 303
    assert session.scalar(select(func.count()).select_from(ProofLink)) == 0


def test_exports_show_only_what_the_reader_may_see(app, client, session, world):
    charge = charged(session, world)
    links.add_link(
        session,
        world.uploader,
        world.case.id,
        ProofLinkInput(
            charge_id=charge.id,
            element="1",
            evidence_id=uuid.UUID(world.secret["id"]),
            strength=Strength.ESTABLISHES,
            note="witness W-17",
        ),
    )
    links.add_link(
        session,
        world.uploader,
        world.case.id,
        ProofLinkInput(
            charge_id=charge.id,
            element="2",
            evidence_id=uuid.UUID(world.public["id"]),
            strength=Strength.SUPPORTS,
            note=BURMESE_NOTE,
        ),
    )
    sign_in(client, world.lead.email)  # no grant for the restricted item
    response = client.get(f"/cases/{world.case.id}/proof-matrix.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))
    assert len(rows) == 7  # one row per element: a gap's row has no item
    by_element = {row["element"]: row for row in rows}
    assert by_element["1"]["gap"] == "yes" and by_element["1"]["ern"] == ""
    assert by_element["2"]["gap"] == "no" and by_element["2"]["ern"] == world.public["ern"]
    assert by_element["2"]["note"] == BURMESE_NOTE
    for trace in (*world.traces(), "W-17"):
        assert trace not in body

    pdf = client.get(f"/cases/{world.case.id}/proof-matrix.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    words = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Proof matrix" in words and "Deportation" in words and "GAP" in words
    assert world.public["ern"] in words
    assert world.secret["ern"] not in words and "W-17" not in words

    holder = app.test_client()
    sign_in(holder, world.uploader.email)  # holds the grant: sees it
    body = holder.get(f"/cases/{world.case.id}/proof-matrix.csv").get_data(as_text=True)
    assert world.secret["ern"] in body


def test_an_administrator_loads_a_framework_file(client, session):
    admin = make_user(session, "admin@example.org", admin=True)
    sign_in(client, admin.email)
    url = "/admin/frameworks"
    page = text(client.get(url))
    assert "rome-statute" in page and "genocide-convention" in page
    token = find_form(page, url).fields["csrf_token"]

    wrong = "    cite: VStGB § 7(1) no. 4\n"
    bad = VSTGB.read_text().replace("    cites: VStGB § 7(1) no. 4\n", wrong)
    line = next(n for n, row in enumerate(bad.splitlines(), 1) if "cite: VStGB § 7(1) no. 4" in row)
    refused = client.post(
        url,
        data={"csrf_token": token, "file": (io.BytesIO(bad.encode()), "vstgb.yaml")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert f"line {line}: " in text(refused) and "unknown field &#39;cite&#39;" in text(refused)
    assert session.scalar(select(func.count()).select_from(LoadedFramework)) == 0

    done = client.post(
        url,
        data={"csrf_token": token, "file": (io.BytesIO(VSTGB.read_bytes()), "vstgb.yaml")},
        content_type="multipart/form-data",
    )
    assert done.status_code == 303
    page = text(client.get(url))
    assert "de-vstgb" in page and "Loaded by an administrator" in page


def test_only_administrators_may_load_frameworks(client, session, world):
    sign_in(client, world.lead.email)
    assert client.get("/admin/frameworks").status_code == 403
    response = client.post(
        "/admin/frameworks",
        data={"file": (io.BytesIO(VSTGB.read_bytes()), "vstgb.yaml")},
        content_type="multipart/form-data",
    )
    assert response.status_code in (400, 403)
    assert session.scalar(select(func.count()).select_from(LoadedFramework)) == 0


def test_case_page_links_to_charges_and_the_matrix(client, world):
    sign_in(client, world.viewer.email)
    page = text(client.get(f"/cases/{world.case.id}"))
    assert f'href="/cases/{world.case.id}/charges"' in page
    assert f'href="/cases/{world.case.id}/proof-matrix"' in page
    assert client.get(f"/cases/{world.case.id}/proof-matrix").status_code == 200


def test_an_incident_is_linked_from_the_matrix_page(client, session, world):
    charge = charged(session, world)
    incident = incidents.create_incident(
        session,
        world.uploader,
        world.case.id,
        incidents.parse_input({"title": "ရွာ မီးရှို့ခံရခြင်း"}),
    )
    sign_in(client, world.grantee.email)
    url = f"/cases/{world.case.id}/proof-matrix"
    page = text(client.get(url))
    assert f'<option value="{incident.id}">ရွာ မီးရှို့ခံရခြင်း</option>' in page
    neither = submit(
        client, url, {"element": f"{charge.id}|1", "strength": "supports"}, action=f"{url}/links"
    )
    assert neither.status_code == 422
    assert "Give an item&#39;s ERN, or choose an incident." in text(neither)
    both = submit(
        client,
        url,
        {
            "element": f"{charge.id}|1",
            "ern": world.public["ern"],
            "incident": str(incident.id),
            "strength": "supports",
        },
        action=f"{url}/links",
    )
    assert both.status_code == 422
    assert session.scalar(select(func.count()).select_from(ProofLink)) == 0
    done = submit(
        client,
        url,
        {"element": f"{charge.id}|1", "incident": str(incident.id), "strength": "establishes"},
        action=f"{url}/links",
    )
    assert done.status_code == 303, text(done)
    page = text(client.get(url))
    assert (
        f'Linked incident: <a href="/incidents/{incident.id}"><bdi>ရွာ မီးရှို့ခံရခြင်း</bdi></a>'
        in page
    )
    [link] = session.scalars(select(ProofLink))
    assert link.incident_id == incident.id and link.evidence_id is None
    assert "ရွာ မီးရှို့ခံရခြင်း" in text(client.get(f"{url}/links/{link.id}"))
    activity = text(client.get(f"/cases/{world.case.id}/activity"))
    assert "to element 1 of 7(1)(d)" in activity and "ရွာ မီးရှို့ခံရခြင်း" in activity


def test_an_element_shows_its_first_links_and_the_rest_on_demand(
    client, session, world, monkeypatch
):
    monkeypatch.setattr(web_frameworks, "SHOWN_LINKS", 1)
    charge = charged(session, world)
    for item, strength in ((world.public, Strength.SUPPORTS), (world.secret, Strength.LEAD)):
        links.add_link(
            session,
            world.uploader,
            world.case.id,
            ProofLinkInput(
                charge_id=charge.id,
                element="1",
                evidence_id=uuid.UUID(item["id"]),
                strength=strength,
            ),
        )
    url = f"/cases/{world.case.id}/proof-matrix"
    sign_in(client, world.uploader.email)  # sees both: one shown, the other behind "Show all"
    shown = [f">{item['ern']}</a>" for item in (world.public, world.secret)]
    page = text(client.get(url))
    assert shown[0] in page and shown[1] not in page  # establishes/supports come first
    assert "Show all 2 links" in page
    expanded = text(client.get(f"{url}?expand={charge.id}%7C1"))
    assert shown[1] in expanded and "Show all" not in expanded

    lead = client.application.test_client()
    sign_in(lead, world.lead.email)  # the restricted item's link is not counted for the lead
    page = text(lead.get(url))
    assert shown[0] in page and "Show all" not in page
