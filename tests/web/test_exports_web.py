"""A filing's export from its page: the warnings shown before the button, the button (CSRF),
a queued export's progress bar with the page reloading itself, the Download link once done
(the zip verifies), a failed export's message; readers see no export section."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from casefile import jobs
from casefile.logic.export import jobs as export_jobs
from tests.factories import make_case_with_viewer
from tests.web.test_auth_web import cheap_password_hashes, find_form, sign_in, text
from tests.web.test_evidence_edit_web import add_item, words
from tests.web.test_filings_web import create


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)


@pytest.fixture
def filing_url(client, session):
    case = make_case_with_viewer(session)
    sign_in(client, "lead@example.org")
    url = create(client, case).headers["Location"]
    for name in ("a.txt", "b.txt"):
        item = add_item(client, case, name=name, body=f"content of {name}\n".encode() * 30)
        form = find_form(text(client.get(url)), f"{url}/exhibits")
        added = client.post(f"{url}/exhibits", data={
            **form.fields, "evidence_id": item["id"], "classification": "public"})
        assert added.status_code == 303
    return url


def test_warnings_then_the_button_then_progress_then_download(client, filing_url, monkeypatch):
    page = text(client.get(filing_url))
    # The warnings come first on the page, then the export button.
    assert page.index('id="warnings"') < page.index('id="exports"')
    assert "language_unknown" in page and "1 warning above applies to this export." in page
    form = find_form(page, f"{filing_url}/exports")
    assert form.fields["csrf_token"]
    assert 'http-equiv="refresh"' not in page
    # Held in the queue (no job runs), the page shows its progress and reloads itself.
    held = []
    monkeypatch.setattr(jobs.Jobs, "enqueue_export",
                        lambda _self, export_id: held.append(export_id))
    started = client.post(f"{filing_url}/exports", data=form.fields)
    assert started.status_code == 303
    assert started.headers["Location"].endswith(f"{filing_url}#exports")
    page = text(client.get(filing_url))
    assert "Export started. This page shows its progress." in page
    assert 'http-equiv="refresh"' in page and "<progress" in page
    # The reload only without scripts (it cleared the form); with them exports.js updates the
    # list in place (tests/web/test_filings_browser.py).
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
    assert "/static/exports.js" in page and 'id="export-progress" data-active="yes"' in page
    assert "0 of 2 exhibits" in words(page) and "waiting for its turn" in page
    [export_id] = held
    # The job runs (as a consumer would), and the page offers the bundle.
    client.application.extensions["casefile.jobs"]._run_export(str(export_id))
    page = text(client.get(filing_url))
    assert 'http-equiv="refresh"' not in page and "<progress" not in page
    assert "Ready" in page and "Download bundle" in page
    assert "1 warning when it was asked for" in page
    download = client.get(f"/exports/{export_id}/download")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.get_data())) as archive:
        assert archive.testzip() is None
        assert any(name.endswith("/bagit.txt") for name in archive.namelist())


def test_the_button_needs_its_csrf_token(client, filing_url, session):
    refused = client.post(f"{filing_url}/exports", data={})
    assert refused.status_code == 400
    from sqlalchemy import select  # noqa: PLC0415

    from casefile.model import Export  # noqa: PLC0415

    assert session.scalars(select(Export)).all() == []


def test_a_failed_export_says_why_on_the_page(client, filing_url, monkeypatch):
    monkeypatch.setattr(export_jobs.filing_export, "prepare", _refuse)
    form = find_form(text(client.get(filing_url)), f"{filing_url}/exports")
    assert client.post(f"{filing_url}/exports", data=form.fields).status_code == 303
    page = words(text(client.get(filing_url)))
    assert "Failed" in page and "the filing or one of its exhibits is no longer visible" in page
    assert "Download bundle" not in page


def _refuse(*args, **kwargs):
    from casefile.logic.errors import NotFound  # noqa: PLC0415

    raise NotFound("filing not found")


def test_an_empty_filing_is_refused_with_a_message(client, session):
    case = make_case_with_viewer(session)
    sign_in(client, "lead@example.org")
    url = create(client, case).headers["Location"]
    page = text(client.get(url))
    form = find_form(page, f"{url}/exports")
    response = client.post(f"{url}/exports", data=form.fields)
    assert response.status_code == 303
    assert "this filing has no exhibits" in words(text(client.get(url)))


def test_readers_see_no_export_section(client, filing_url):
    client.post("/logout", data={})
    sign_in(client, "viewer@example.org")
    page = text(client.get(filing_url))
    assert 'id="exports"' not in page and "Export bundle" not in page


def test_age_public_keys_encrypt_the_bundle(client, filing_url, session):
    import pyrage  # noqa: PLC0415
    from pyrage import x25519  # noqa: PLC0415
    from sqlalchemy import select  # noqa: PLC0415

    from casefile.model import Export  # noqa: PLC0415

    registry = x25519.Identity.generate()
    page = text(client.get(filing_url))
    assert "age public keys (optional, one per line)" in page
    form = find_form(page, f"{filing_url}/exports")
    assert form.fields["csrf_token"]
    started = client.post(f"{filing_url}/exports", data={
        **form.fields, "age_recipients": f"  {registry.to_public()}  \n\n"})
    assert started.status_code == 303
    [export] = session.scalars(select(Export)).all()
    assert export_jobs.recipients_of(export) == [str(registry.to_public())]
    page = text(client.get(filing_url))
    assert "Encrypted with age to 1 key." in page
    download = client.get(f"/exports/{export.id}/download")
    assert download.status_code == 200 and download.mimetype == "application/octet-stream"
    assert ".zip.age" in download.headers["Content-Disposition"]
    plain = pyrage.decrypt(download.get_data(), [registry])
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:
        assert archive.testzip() is None


def test_a_bad_age_key_is_refused_at_the_field_with_the_input_kept(client, filing_url, session):
    from sqlalchemy import select  # noqa: PLC0415

    from casefile.model import Export  # noqa: PLC0415

    form = find_form(text(client.get(filing_url)), f"{filing_url}/exports")
    refused = client.post(f"{filing_url}/exports", data={
        **form.fields, "age_recipients": "age1nope"})
    assert refused.status_code == 422
    page = text(refused)
    assert "Each line must be an age public key" in page and "age1nope" in page
    assert session.scalars(select(Export)).all() == []
    without_token = client.post(f"{filing_url}/exports", data={"age_recipients": "age1nope"})
    assert without_token.status_code == 400


def test_deleting_an_exhibit_says_what_goes_and_the_export_shows_destroyed(client, filing_url):
    """The item page's deletion card names the translation deleted with it and counts the
    stored exports destroyed; after the deletion the filing page shows the export destroyed,
    with no Download link, and the download is refused."""
    page = text(client.get(filing_url))
    started = client.post(f"{filing_url}/exports",
                          data=find_form(page, f"{filing_url}/exports").fields)
    assert started.status_code == 303  # run at once (immediate mode)
    page = text(client.get(filing_url))
    assert "Download bundle" in page
    [export_id] = re.findall(r"/exports/([0-9a-f-]{36})/download", page)
    [item_id] = re.findall(r'href="/evidence/([0-9a-f-]{36})"', page)[:1]
    form = find_form(text(client.get(f"/evidence/{item_id}/translations")),
                     f"/evidence/{item_id}/translations")
    made = client.post(f"/evidence/{item_id}/translations",
                       data={**form.fields, "language": "fr", "translator": "Daw Khin",
                             "file": [(io.BytesIO(b"traduction\n"), "fr.txt")]},
                       content_type="multipart/form-data")
    assert made.status_code == 303, text(made)
    translation_id = made.headers["Location"].rsplit("/", 1)[-1]
    item_page = text(client.get(f"/evidence/{item_id}"))
    card = item_page[item_page.index('id="delete-h"'):]
    assert "1 item made from this one (a translation or a redacted version) is deleted" in (
        words(card))
    assert f'href="/evidence/{translation_id}"' in card
    assert "1 stored export (court bundle) holding it will be destroyed" in words(card)

    form = find_form(item_page, f"/evidence/{item_id}/delete")
    deleted = client.post(f"/evidence/{item_id}/delete",
                          data={**form.fields, "reason": "withdrawn by the source"})
    assert deleted.status_code == 303
    listed = words(text(client.get(deleted.headers["Location"])))
    assert "1 item made from it was deleted with it." in listed
    assert "1 stored export holding it was destroyed." in listed
    page = text(client.get(filing_url))
    assert "Destroyed" in page and "Not downloadable: this bundle was destroyed." in page
    assert f"/exports/{export_id}/download" not in page
    assert client.get(f"/exports/{export_id}/download").status_code == 409
    translation = client.get(f"/api/v1/evidence/{translation_id}").get_json()
    assert translation["status"] == "deleted"
