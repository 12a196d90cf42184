"""Filings in the browser: the list (linked from the case page), the new and edit forms
(refusals re-rendered with 422), the filing page's exhibits (add, move up and down, reorder
as the drag sends it, remove), warnings and status buttons; a filed filing saved as a new
version; readers see no forms."""

from __future__ import annotations

import pytest

from tests.factories import make_case_with_viewer
from tests.web.test_auth_web import cheap_password_hashes, find_form, has_form, sign_in, text
from tests.web.test_evidence_edit_web import add_item, words


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def case(session):
    return make_case_with_viewer(session)


def create(client, case, **fields):
    page = text(client.get(f"/cases/{case.id}/filings/new"))
    form = find_form(page)
    data = {**form.fields, "title": "Request under article 15", "type": "request_or_submission",
            "classification": "public", **fields}
    return client.post(f"/cases/{case.id}/filings/new", data=data)


def test_a_filing_from_the_case_page_to_its_exhibits(client, case):
    sign_in(client, "lead@example.org")
    assert f'href="/cases/{case.id}/filings"' in text(client.get(f"/cases/{case.id}"))
    refused = create(client, case, classification="under_seal")
    assert refused.status_code == 422
    page = text(refused)
    assert "There is a problem" in page and "state the basis" in page
    assert 'value="Request under article 15"' in page  # the input kept
    wrong = create(client, case, type="memorial")  # an ICJ type in an ICC case
    assert wrong.status_code == 422
    response = create(client, case)
    assert response.status_code == 303
    filing_url = response.headers["Location"]
    page = text(client.get(filing_url))
    assert "Filing created, as a draft." in page and "No exhibits yet." in page
    first = add_item(client, case, name="a.txt", body=b"first")
    second = add_item(client, case, name="b.txt", body=b"second")
    add_item(client, case, name="c.txt", body=b"third")  # still offered
    for item in (first, second):
        form = find_form(text(client.get(filing_url)), f"{filing_url}/exhibits")
        added = client.post(f"{filing_url}/exhibits", data={
            **form.fields, "evidence_id": item["id"], "classification": "public",
            "description": f"about {item['ern']}"})
        assert added.status_code == 303, text(added)
    page = words(text(client.get(filing_url)))
    assert "Anx 1" in page and "Anx 2" in page
    assert page.index(first["ern"]) < page.index(second["ern"])
    # the warnings panel: the upload form records no language, which is said, not ignored
    assert "language_unknown" in page and "ruled out: Anx 1, Anx 2" in page
    # a duplicate is refused on its field, 422
    form = find_form(text(client.get(filing_url)), f"{filing_url}/exhibits")
    assert first["id"] not in str(form.fields)  # no longer offered
    again = client.post(f"{filing_url}/exhibits", data={**form.fields,
                                                         "evidence_id": first["id"]})
    assert again.status_code == 422
    # move the first down (the no-script button)
    api = client.get(f"/api/v1{filing_url}").get_json()
    ids = [each["id"] for each in api["exhibits"]]
    move = find_form(text(client.get(filing_url)), f"{filing_url}/exhibits/{ids[0]}/move")
    moved = client.post(f"{filing_url}/exhibits/{ids[0]}/move",
                        data={**move.fields, "step": "1"})
    assert moved.status_code == 303
    api = client.get(f"/api/v1{filing_url}").get_json()
    assert [each["id"] for each in api["exhibits"]] == [ids[1], ids[0]]
    # the order a drag sends: the whole list and the version read
    order = find_form(text(client.get(filing_url)), f"{filing_url}/exhibits/order")
    assert order.fields["exhibit_ids"] == f"{ids[1]},{ids[0]}"
    sent = client.post(f"{filing_url}/exhibits/order",
                       data={**order.fields, "exhibit_ids": f"{ids[0]},{ids[1]}"})
    assert sent.status_code == 303
    api = client.get(f"/api/v1{filing_url}").get_json()
    assert [each["id"] for each in api["exhibits"]] == ids
    stale = client.post(f"{filing_url}/exhibits/order",
                        data={**order.fields, "exhibit_ids": f"{ids[1]},{ids[0]}"})
    assert stale.status_code == 303
    assert "changed since you read them" in text(client.get(filing_url))
    remove = find_form(text(client.get(filing_url)), f"{filing_url}/exhibits/{ids[1]}/remove")
    assert client.post(f"{filing_url}/exhibits/{ids[1]}/remove",
                       data=remove.fields).status_code == 303
    assert len(client.get(f"/api/v1{filing_url}").get_json()["exhibits"]) == 1
    timeline = words(text(client.get(f"/evidence/{first['id']}")))
    assert f"added {first['ern']} to the filing “Request under article 15” as Anx 1" in timeline
    assert f"renumbered {first['ern']} in the filing" in timeline


def test_status_buttons_and_a_new_version_of_a_filed_filing(client, case):
    sign_in(client, "lead@example.org")
    filing_url = create(client, case, filing_date="2026-12-01").headers["Location"]
    status = find_form(text(client.get(filing_url)), f"{filing_url}/status")
    assert client.post(f"{filing_url}/status",
                       data={**status.fields, "status": "final"}).status_code == 303
    assert client.post(f"{filing_url}/status",
                       data={**status.fields, "status": "filed"}).status_code == 303
    page = text(client.get(filing_url))
    assert 'id="filing-status">Filed' in page
    assert not has_form(page, f"{filing_url}/exhibits")  # frozen
    edit = text(client.get(f"{filing_url}/edit"))
    assert 'id="new-version-note"' in edit
    form = find_form(edit)
    saved = client.post(f"{filing_url}/edit", data={**form.fields, "title": "Corrigendum"})
    assert saved.status_code == 303
    new_url = saved.headers["Location"]
    assert new_url != filing_url
    page = text(client.get(new_url))
    assert "Saved as version 2, a draft." in page and "Corrigendum" in page
    assert 'id="superseded"' in text(client.get(filing_url))
    listed = words(text(client.get(f"/cases/{case.id}/filings")))
    assert "Corrigendum" in listed and "Request under article 15" in listed
    activity = words(text(client.get(f"/cases/{case.id}/activity")))
    assert "created the filing “Request under article 15” (version 1)" in activity
    assert ("changed the status of the filing “Request under article 15” from Final to Filed"
            in activity)
    assert "made version 2 of the filing “Corrigendum”" in activity


def test_readers_see_filings_without_forms(client, case):
    sign_in(client, "lead@example.org")
    filing_url = create(client, case).headers["Location"]
    viewer = client.application.test_client()
    sign_in(viewer, "viewer@example.org")
    page = text(viewer.get(filing_url))
    assert "Request under article 15" in page
    assert not has_form(page, f"{filing_url}/exhibits")
    assert not has_form(page, f"{filing_url}/status")
    assert viewer.get(f"/cases/{case.id}/filings/new").status_code == 403
    assert viewer.get(f"{filing_url}/edit").status_code == 403
    listed = text(viewer.get(f"/cases/{case.id}/filings"))
    assert "Request under article 15" in listed and "New filing" not in listed
