"""The case map in Chromium (Playwright, /usr/bin/chromium) against `casefile serve`: the
points of the list drawn as markers, their popups linking to the item; with no tile server
configured, the country borders shipped with Casefile and no request to any other host (and
the page's CSP refuses an image from elsewhere); with a tile server configured (one this test
serves), its tiles load under the page's CSP, which names that server, and the page says
that viewing the map sends the area on screen to it."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

from casefile.db import Database
from casefile.model import Role
from tests.api.test_map_api import photo
from tests.factories import add_member, bearer, make_case, make_user
from tests.web.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Problems,
    casefile_serve,
    open_page,
    require_chromium,
    sign_in,
)

pytestmark = pytest.mark.browser


def tile_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 220, 200)).save(out, "PNG")
    return out.getvalue()


class TileServer:
    """A tile server on 127.0.0.1 that answers every /tiles/{z}/{x}/{y}.png with a tile and
    remembers what it was asked."""

    def __init__(self) -> None:
        tile = tile_png()
        asked: list[str] = []
        self.asked = asked

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                asked.append(self.path)
                if not self.path.startswith("/tiles/"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(tile)))
                self.end_headers()
                self.wfile.write(tile)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def template(self) -> str:
        return f"http://127.0.0.1:{self.port}/tiles/{{z}}/{{x}}/{{y}}.png"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def live_database(fresh_database_url: str) -> Iterator[Database]:
    database = Database.from_url(fresh_database_url)
    yield database
    database.engine.dispose()


def seed(server: str, database: Database) -> dict[str, str]:
    """A case with two GPS-tagged photos, one item without a position, and a restricted
    GPS-tagged photo the lead uploaded (the viewer holds no grant)."""
    with database.sessions() as session:
        lead = make_user(session, "lead@example.org")
        viewer = make_user(session, "viewer@example.org")
        case = make_case(session, lead, "Clearance operations in northern Rakhine")
        add_member(session, case, lead, viewer, Role.VIEWER)
        auth = bearer(session, lead)
        case_id = str(case.id)

    def upload(body: bytes, **fields: str) -> dict[str, str]:
        response = requests.post(
            f"{server}/api/v1/cases/{case_id}/evidence",
            headers=auth,
            data=fields,
            files={"file": ("p.jpg", io.BytesIO(body), "image/jpeg")},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return response.json()

    tula = upload(photo((20.0, 56.0, 24.0), (92.0, 34.0, 12.0)), title="Riverbank at Tula Toli")
    upload(photo((20.0, 10.0, 0.0), (92.0, 54.0, 0.0), shade=5), title="Burnt houses, Min Gyi")
    upload(photo(None, None, shade=9), title="No position")
    upload(photo((21.0, 30.0, 0.0), (92.0, 45.0, 0.0), shade=13), title="Witness shelter",
           sensitivity="restricted")
    recorded = requests.post(
        f"{server}/api/v1/cases/{case_id}/incidents",
        headers=auth,
        json={"title": "Killings at Tula Toli", "start_date": "2017-08-30",
              "categories": ["killing"],
              "location": {"place": "Tula Toli", "lat": 20.4, "lon": 92.2}},
        timeout=30,
    )
    assert recorded.status_code == 201, recorded.text
    return {"case": case_id, "tula_ern": tula["ern"], "tula": tula["id"],
            "incident": recorded.json()["id"]}


def markers(page: Page) -> int:
    return page.locator("#map path.map-point").count()


def other_hosts(page: Page, server: str) -> list[str]:
    asked: list[str] = []
    own = urlsplit(server).netloc
    page.on("request", lambda request: asked.append(request.url)
            if urlsplit(request.url).netloc not in (own, "") else None)
    return asked


def test_points_on_plain_borders_without_a_tile_server(
    live_database: Database, fresh_database_url: str, tmp_path: Path
) -> None:
    require_chromium()
    problems = Problems()
    with casefile_serve(fresh_database_url, tmp_path) as server:
        seeded = seed(server, live_database)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            try:
                page = open_page(browser, problems)
                elsewhere = other_hosts(page, server)
                sign_in(page, server, "lead@example.org")
                page.goto(f"{server}/cases/{seeded['case']}")
                page.get_by_role("link", name="Map", exact=True).click()
                expect(page).to_have_url(f"{server}/cases/{seeded['case']}/map")
                holder = page.locator("#map")
                expect(holder).to_be_visible()
                # The grantee's three items and the incident.
                expect(holder).to_have_attribute("data-points", "4")
                expect(holder).to_have_attribute("data-outline-drawn", "yes")
                assert markers(page) == 4
                assert page.locator("#map path.map-point-incident").count() == 1
                assert page.locator("#map .leaflet-overlay-pane path").count() > 4  # borders
                assert page.locator("#map img.leaflet-tile").count() == 0
                expect(page.locator("#tile-notice")).to_contain_text("No tile server")
                # A marker's popup links to its item.
                page.locator("#map path.map-point-evidence").first.click(force=True)
                popup = page.locator(".leaflet-popup-content")
                expect(popup).to_be_visible()
                link = popup.locator("a.point-link")
                expect(link).to_have_count(1)
                assert link.get_attribute("href", timeout=5000).startswith("/evidence/")
                page.locator("#map path.map-point-incident").click(force=True)
                incident_link = popup.locator(
                    f"a.point-link[href='/incidents/{seeded['incident']}']")
                expect(incident_link).to_be_visible()
                expect(incident_link).to_contain_text("Killings at Tula Toli")
                expect(page.locator(".leaflet-popup")).to_have_count(1)  # one popup at a time
                assert elsewhere == [], elsewhere  # no tiles, no other server asked
                # The page's CSP refuses an image from any other host.
                refused = page.evaluate(
                    """() => new Promise((resolve) => {
                      document.addEventListener("securitypolicyviolation",
                        (event) => resolve(event.violatedDirective), {once: true});
                      const img = new Image();
                      img.src = "http://127.0.0.1:9/tile.png";
                      document.body.appendChild(img);
                    })"""
                )
                assert refused.startswith("img-src")
                problems[:] = [p for p in problems if "127.0.0.1:9/tile.png" not in p]
                # The viewer holds no grant: two points, nothing of the restricted one.
                page.context.clear_cookies()
                sign_in(page, server, "viewer@example.org")
                page.goto(f"{server}/cases/{seeded['case']}/map")
                expect(page.locator("#map")).to_have_attribute("data-points", "3")
                assert markers(page) == 3
                assert "Witness shelter" not in page.content()
                page.close()
            finally:
                browser.close()
    assert problems == [], problems


def test_tiles_from_a_configured_server_under_the_pages_csp(
    live_database: Database, fresh_database_url: str, tmp_path: Path
) -> None:
    require_chromium()
    problems = Problems()
    with TileServer() as tiles, casefile_serve(
        fresh_database_url, tmp_path, map_tile_url=tiles.template,
        map_attribution="Test tiles <em>not markup</em>",
    ) as server:
        seeded = seed(server, live_database)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            try:
                page = open_page(browser, problems)
                sign_in(page, server, "lead@example.org")
                response = page.goto(f"{server}/cases/{seeded['case']}/map")
                assert response is not None
                policy = response.headers["content-security-policy"]
                assert f"img-src 'self' data: http://127.0.0.1:{tiles.port}" in policy
                expect(page.locator("#tile-notice")).to_contain_text(
                    f"Map tiles come from http://127.0.0.1:{tiles.port}: viewing this map "
                    "sends the area on screen to that server"
                )
                expect(page.locator("#map")).to_have_attribute("data-points", "4")
                loaded = page.locator("#map img.leaflet-tile-loaded")
                expect(loaded.first).to_be_visible()
                assert markers(page) == 4
                attribution = page.locator(".leaflet-control-attribution")
                expect(attribution).to_contain_text("Test tiles <em>not markup</em>")
                assert page.locator(".leaflet-control-attribution em").count() == 0
                page.close()
            finally:
                browser.close()
    assert problems == [], problems
    assert any(path.startswith("/tiles/") for path in tiles.asked), tiles.asked
