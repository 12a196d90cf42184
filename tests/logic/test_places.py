"""Myanmar's places (casefile/data/myanmar_admin.json, logic/incidents/places.py): the data
is complete and consistent, and a location's names are checked and stored as the data's."""

from __future__ import annotations

import collections
import json
import unicodedata
from importlib import resources

import pytest

from casefile.logic.incidents import places

MYANMAR_SCRIPT = range(0x1000, 0x10A0)


def raw():
    return json.loads(
        resources.files("casefile.data").joinpath("myanmar_admin.json").read_text("utf-8"))


def test_the_data_names_its_source_and_is_complete():
    data = raw()
    source = data["source"]
    assert source["name"].startswith("Myanmar Information Management Unit")
    assert (source["release"], source["date"]) == ("9.6", "2025-02")
    assert "mm-geo-coder 0.2.1" in source["via"] and "MIT" in source["licence"]
    counts = places.gazetteer().counts()
    # 14 states and regions and the union territory; MIMU 9.6's districts with the five
    # self-administered zones and its four Wa/Kokang special-region units; its townships.
    assert counts == {"state_region": 15, "district": 84, "township": 358}
    special = {d["pcode"] for d in data["districts"] if d["special_region"]}
    ordinary = [t for t in data["townships"] if t["district"] not in special]
    assert len(ordinary) == 332
    kinds = collections.Counter(s["kind"] for s in data["states_regions"])
    assert kinds == {"state": 7, "region": 7, "union_territory": 1}


def test_every_name_is_given_in_english_and_burmese_and_every_link_holds():
    data = raw()
    states = {s["en"] for s in data["states_regions"]}
    districts = {d["pcode"]: d for d in data["districts"]}
    for record in (*data["states_regions"], *data["districts"], *data["townships"]):
        assert record["en"].isascii() and record["en"].strip() == record["en"]
        assert all(ord(c) in MYANMAR_SCRIPT or c in " ()-/" or c.isdigit()
                   for c in record["my"]), record
        assert any(ord(c) in MYANMAR_SCRIPT for c in record["my"]), record
        assert unicodedata.is_normalized("NFC", record["my"])
    for district in data["districts"]:
        assert district["state_region"] in states
    pcodes = [t["pcode"] for t in data["townships"]]
    assert len(pcodes) == len(set(pcodes))
    for township in data["townships"]:
        assert districts[township["district"]]["state_region"] == township["state_region"]


def check(**names):
    names.setdefault("country", "Myanmar")
    for level in ("state_region", "district", "township"):
        names.setdefault(level, None)
    return places.check(**names)


def test_a_township_with_its_district_and_state_is_stored_as_the_data_names_them():
    checked = check(country="myanmar", state_region="Rakhine", district="maungdaw",
                    township=" Buthidaung ")
    assert checked.problems == {}
    assert checked.values == {"country": "Myanmar", "state_region": "Rakhine State",
                              "district": "Maungdaw", "township": "Buthidaung"}
    # in Burmese, and a township alone: its district and state or region are filled in
    alone = check(township="ဘူးသီးတောင်")
    assert alone.values["township"] == "Buthidaung"
    assert alone.values["state_region"] == "Rakhine State"


@pytest.mark.parametrize(("names", "field"), [
    ({"state_region": "Rakhine", "township": "Hlaing"}, "township"),  # a Yangon township
    ({"state_region": "Rakhine", "district": "Myitkyina"}, "district"),
    ({"district": "Sittwe", "township": "Maungdaw"}, "township"),
    ({"state_region": "Atlantis"}, "state_region"),
    ({"township": "Nowhere"}, "township"),
    ({"township": "Htantabin"}, "township"),  # two townships are so called
])
def test_names_that_do_not_belong_together_are_refused(names, field):
    assert field in check(**names).problems


def test_a_township_name_two_share_is_resolved_by_its_region():
    assert check(state_region="Yangon", township="Htantabin").problems == {}
    assert check(state_region="Bago", township="Htantabin").values["district"] != (
        check(state_region="Yangon", township="Htantabin").values["district"])


def test_elsewhere_names_are_free_text():
    checked = check(country="Bangladesh", state_region="Chittagong", district="Cox's Bazar",
                    township="Ukhia")
    assert checked.problems == {} and checked.values["township"] == "Ukhia"
    assert check(country=None, township="anything").problems == {}


def test_suggestions_start_with_the_text_and_stay_in_the_region():
    found = places.suggest("township", "maung")
    assert found[0].en.lower().startswith("maung")
    assert all(p.state_region == "Rakhine State"
               for p in places.suggest("township", state_region="Rakhine"))
    assert len(places.suggest("township", state_region="Rakhine")) == 17
    assert [p.en for p in places.suggest("township", "ဘူးသီး")] == ["Buthidaung"]
    assert places.suggest("township", "%") == []
    assert len(places.suggest("township")) == places.MAX_SUGGESTIONS
