"""The case map page (/cases/<id>/map): reachable from the case page; its list of points (the
page without scripts) holds the same points as the API, restricted items only for grantees;
the Content-Security-Policy admits a tile server only when one is configured, and the page
then says that viewing it sends the area on screen to that server; bad filters answer 422."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import pytest

from casefile import create_app
from casefile.settings import SettingsError
from tests.api.test_map_api import world  # noqa: F401 - the fixture
from tests.web.test_auth_web import sign_in


def page(client, case_id, **params):
    return client.get(f"/cases/{case_id}/map", query_string=params)


class PointList(HTMLParser):
    """The items of the list #map-points: their data attributes, first link and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.points: dict[str, dict[str, str]] = {}
        self.inside_list = False
        self.current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "ol" and found.get("id") == "map-points":
            self.inside_list = True
        elif tag == "li" and self.inside_list:
            self.current = {
                "lat": found["data-lat"], "lon": found["data-lon"],
                "kind": found["data-kind"], "text": "", "href": "",
            }
            self.points[found["id"].removeprefix("point-")] = self.current
        elif tag == "a" and self.current is not None and not self.current["href"]:
            self.current["href"] = found["href"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self.current = None
        elif tag == "ol":
            self.inside_list = False

    def handle_data(self, data: str) -> None:
        if self.current is not None:
            self.current["text"] = " ".join(f"{self.current['text']} {data}".split())


def points(response) -> dict[str, dict[str, str]]:
    parser = PointList()
    parser.feed(response.get_data(as_text=True))
    return parser.points


def directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part for part in (p.strip() for p in policy.split(";")) if part}


def test_the_case_page_links_to_the_map(client, world):  # noqa: F811
    sign_in(client, "viewer@example.org")
    html = client.get(f"/cases/{world.case.id}").get_data(as_text=True)
    assert f'href="/cases/{world.case.id}/map"' in html


def test_the_list_shows_the_points_a_viewer_may_see(client, world):  # noqa: F811
    sign_in(client, "viewer@example.org")
    response = page(client, world.case.id)
    assert response.status_code == 200
    shown = points(response)
    assert set(shown) == {world.tula["id"], world.declared["id"], world.massacre["id"],
                          world.burning["id"]}
    tula = shown[world.tula["id"]]
    assert (tula["lat"], tula["lon"], tula["kind"]) == ("20.940000", "92.570000", "evidence")
    assert tula["href"] == f"/evidence/{world.tula['id']}"
    assert world.tula["ern"] in tula["text"] and "Riverbank at Tula Toli" in tula["text"]
    assert "2017-08-30" in tula["text"] and "GPS in the file" in tula["text"]
    assert "given by the collector" in shown[world.declared["id"]]["text"]
    html = response.get_data(as_text=True)
    for needle in (world.secret["id"], world.secret["ern"], "Witness", "21.500000"):
        assert needle not in html
    assert "No tile server is configured" in html
    assert 'data-tile-url=""' in html


def test_incidents_are_listed_with_their_categories_dates_and_places(client, world):  # noqa: F811
    sign_in(client, "viewer@example.org")
    shown = points(page(client, world.case.id))
    massacre = shown[world.massacre["id"]]
    assert (massacre["kind"], massacre["lat"], massacre["lon"]) == (
        "incident", "20.951200", "92.563400")
    assert massacre["href"] == f"/incidents/{world.massacre['id']}"
    assert "Killings at Tula Toli" in massacre["text"]
    assert "Killing, Sexual and gender-based violence" in massacre["text"]
    assert "2017-08-30 (of the incident)" in massacre["text"]
    assert "20.951200, 92.563400 (recorded for the incident)" in massacre["text"]
    assert "about 2017-09-01 \N{EN DASH} about 2017-09-03" in shown[world.burning["id"]]["text"]
    assert world.nowhere["id"] not in shown
    only = points(page(client, world.case.id, show="incidents", category="arson_destruction"))
    assert set(only) == {world.burning["id"]}
    assert page(client, world.case.id, category="massacre").status_code == 422


def test_a_grantee_sees_the_restricted_point(client, world):  # noqa: F811
    sign_in(client, "investigator@example.org")
    shown = points(page(client, world.case.id))
    assert world.secret["id"] in shown
    assert "Witness at her shelter" in shown[world.secret["id"]]["text"]
    assert "Restricted" in shown[world.secret["id"]]["text"]


def test_filters_narrow_the_list_and_bad_ones_answer_422(client, world):  # noqa: F811
    sign_in(client, "investigator@example.org")
    assert set(points(page(client, world.case.id, since="2017-08-31", until="2017-08-31",
                           show="evidence"))) == {world.secret["id"]}
    refused = page(client, world.case.id, since="2017-09-01", until="2017-08-01")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "There is a problem" in html and 'id="map-until-error"' in html
    assert page(client, world.case.id, since="not a date").status_code == 422


def test_non_members_get_404(client, world, session):  # noqa: F811
    sign_in(client, "outsider@example.org")
    assert page(client, world.case.id).status_code == 404


def test_without_a_tile_server_images_come_from_this_site_only(client, world):  # noqa: F811
    sign_in(client, "viewer@example.org")
    found = directives(page(client, world.case.id))
    assert found["img-src"] == "img-src 'self' data:"
    assert found["script-src"] == "script-src 'self'"


def test_a_configured_tile_server_is_admitted_and_announced(settings, database, world):  # noqa: F811
    configured = dataclasses.replace(
        settings,
        map_tile_url="https://{s}.tiles.example.org/{z}/{x}/{y}.png",
        map_attribution="Tiles © Example <b>contributors</b>",
    )
    client = create_app(configured, database=database).test_client()
    sign_in(client, "viewer@example.org")
    response = page(client, world.case.id)
    assert directives(response)["img-src"] == "img-src 'self' data: https://*.tiles.example.org"
    html = response.get_data(as_text=True)
    assert re.search(r"Map tiles come from https://\*\.tiles\.example\.org: viewing this map "
                     r"sends the area on screen to that server", html)
    assert 'data-tile-url="https://{s}.tiles.example.org/{z}/{x}/{y}.png"' in html
    assert "&lt;b&gt;contributors&lt;/b&gt;" in html  # text, not markup
    # Other pages keep the site's policy: only the map page admits the tile server.
    other = client.get(f"/cases/{world.case.id}/evidence")
    assert directives(other)["img-src"] == "img-src 'self' data:"


@pytest.mark.parametrize(("tile_url", "problem"), [
    ("ftp://tiles.example.org/{z}/{x}/{y}.png", "https://"),
    ("https://tiles.example.org/{z}/{x}.png", "{z}, {x} and {y}"),
    ("https://tiles.example.org;script-src */{z}/{x}/{y}.png", "host"),
    ("https://*.example.org/{z}/{x}/{y}.png", "host"),
    ("https://user:secret@tiles.example.org/{z}/{x}/{y}.png", "credentials"),
    ("https://tiles.example.org/{z}/{x}/{y}.png; img-src *", "spaces"),
])
def test_a_malformed_tile_url_stops_the_start(settings, tile_url, problem):
    with pytest.raises(SettingsError, match=re.escape(problem)):
        dataclasses.replace(settings, map_tile_url=tile_url).validate()


def test_production_refuses_tiles_over_http(settings):
    unsafe = dataclasses.replace(
        settings, map_tile_url="http://tiles.example.org/{z}/{x}/{y}.png", env="production",
        secret_key="x" * 40, https=True,
    )
    with pytest.raises(SettingsError, match=r"map\.tile_url to be https://"):
        unsafe._validate_map()
