"""Myanmar's states/regions, districts and townships (casefile/data/myanmar_admin.json: MIMU
place codes, release 9.6 of February 2025, with English and Burmese names; its `source`
says where it came from), the names an incident's location is checked against when the
country is Myanmar, and the suggestions the forms offer as one types.

A name is matched whatever its case and surrounding blanks, in English or in Burmese (NFC),
and for states and regions also without "State"/"Region" ("Rakhine"); it is stored as the
data's English name. Elsewhere than Myanmar, the fields are free text."""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

MYANMAR = "Myanmar"
_MYANMAR_NAMES = frozenset({"myanmar", "mm", "mmr", "burma", "မြန်မာ", "မြန်မာနိုင်ငံ"})
LEVELS = ("state_region", "district", "township")


@dataclass(frozen=True)
class Place:
    level: str  # state_region, district or township
    pcode: str
    en: str
    my: str
    state_region: str  # the English name of the state or region it is in (itself, for one)
    district: str | None  # the English name of its district (townships only)

    def as_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "pcode": self.pcode,
            "en": self.en,
            "my": self.my,
            "state_region": self.state_region,
            "district": self.district,
        }


def _key(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split())).casefold()


@dataclass(frozen=True)
class Gazetteer:
    source: dict[str, Any]
    places: tuple[Place, ...]
    names: dict[tuple[str, str], tuple[Place, ...]]  # (level, key) -> the places so named

    def named(self, level: str, name: str) -> tuple[Place, ...]:
        return self.names.get((level, _key(name)), ())

    def of_level(self, level: str) -> Iterator[Place]:
        return (place for place in self.places if place.level == level)

    def counts(self) -> dict[str, int]:
        return {level: sum(1 for _ in self.of_level(level)) for level in LEVELS}


@functools.cache
def gazetteer() -> Gazetteer:
    raw = json.loads(
        resources.files("casefile.data").joinpath("myanmar_admin.json").read_text("utf-8")
    )
    places: list[Place] = []
    aliases: list[tuple[Place, str]] = []
    for state in raw["states_regions"]:
        place = Place("state_region", state["pcode"], state["en"], state["my"], state["en"], None)
        places.append(place)
        short = state["en"].rsplit(" ", 2 if state["kind"] == "union_territory" else 1)[0]
        aliases.append((place, short))
    district_names = {}
    for district in raw["districts"]:
        place = Place(
            "district",
            district["pcode"],
            district["en"],
            district["my"],
            district["state_region"],
            None,
        )
        places.append(place)
        district_names[district["pcode"]] = district["en"]
    places.extend(
        Place(
            "township",
            township["pcode"],
            township["en"],
            township["my"],
            township["state_region"],
            district_names[township["district"]],
        )
        for township in raw["townships"]
    )
    named = [
        (place, name) for place in places for name in (place.en, place.my, place.pcode)
    ] + aliases
    names: dict[tuple[str, str], list[Place]] = {}
    for place, name in named:
        names.setdefault((place.level, _key(name)), []).append(place)
    return Gazetteer(
        source=raw["source"],
        places=tuple(places),
        names={key: tuple(dict.fromkeys(found)) for key, found in names.items()},
    )


def is_myanmar(country: str | None) -> bool:
    return country is not None and _key(country) in _MYANMAR_NAMES


@dataclass(frozen=True)
class Checked:
    """A location's administrative names, as stored (the data's English names in Myanmar),
    and what is wrong with them, field by field."""

    values: dict[str, str | None]
    problems: dict[str, str]


def check(
    *,
    country: str | None,
    state_region: str | None,
    district: str | None,
    township: str | None,
) -> Checked:
    """In Myanmar: each name given must be one the data knows, and the three must belong
    together (the township in the district, both in the state or region). The stored names
    fill in what the township or district implies (a township named alone gets its district
    and state or region). Elsewhere: the names as given."""
    given = {"state_region": state_region, "district": district, "township": township}
    if not is_myanmar(country):
        return Checked({"country": country, **given}, {})
    places = gazetteer()
    problems: dict[str, str] = {}
    state = _one(places, "state_region", state_region, problems, lambda _: True)
    area = _one(
        places,
        "district",
        district,
        problems,
        lambda place: state is None or place.state_region == state.en,
    )
    if district and area is None and "district" not in problems:
        problems["district"] = f"{district!r} is not a district of {state_region}"
    town = _one(
        places,
        "township",
        township,
        problems,
        lambda place: (
            (state is None or place.state_region == state.en)
            and (area is None or place.district == area.en)
        ),
    )
    if township and town is None and "township" not in problems:
        where = district if area is not None else state_region
        problems["township"] = f"{township!r} is not a township of {where}"
    values: dict[str, str | None] = {
        "country": MYANMAR,
        "state_region": state.en if state else state_region,
        "district": area.en if area else district,
        "township": town.en if town else township,
    }
    if not problems:
        if town is not None:
            values["district"], values["state_region"] = town.district, town.state_region
        elif area is not None:
            values["state_region"] = area.state_region
    return Checked(values, problems)


def _one(
    places: Gazetteer,
    level: str,
    name: str | None,
    problems: dict[str, str],
    fits: Any,
) -> Place | None:
    """The one place of `level` so named that fits the others; None if no name was given or
    none fits (a name nobody knows is a problem here; one that does not fit, the caller's)."""
    if not name:
        return None
    named = places.named(level, name)
    if not named:
        label = {"state_region": "state or region", "district": "district"}.get(level, level)
        problems[level] = f"no {label} of Myanmar is called {name!r}"
        return None
    fitting = [place for place in named if fits(place)]
    if len(fitting) > 1:
        problems[level] = (
            f"more than one {level.replace('_', ' or ')} is called {name!r}: "
            "choose the state or region (and district) too"
        )
        return None
    return fitting[0] if fitting else None


MAX_SUGGESTIONS = 50


def suggest(
    level: str,
    text: str = "",
    *,
    state_region: str | None = None,
    district: str | None = None,
    limit: int = MAX_SUGGESTIONS,
) -> list[Place]:
    """Places of `level` whose English or Burmese name contains `text` (names that start
    with it first), within the state or region and district given, if they are known names."""
    places = gazetteer()
    wanted = _key(text)
    states = {place.en for place in places.named("state_region", state_region or "")}
    districts = {place.en for place in places.named("district", district or "")}
    ranked: list[tuple[int, str, Place]] = []
    for place in places.of_level(level):
        if states and place.state_region not in states:
            continue
        if districts and level == "township" and place.district not in districts:
            continue
        names = (_key(place.en), _key(place.my))
        if wanted and not any(wanted in name for name in names):
            continue
        starts = 0 if any(name.startswith(wanted) for name in names) else 1
        ranked.append((starts, place.en, place))
    ranked.sort(key=lambda row: (row[0], row[1]))
    return [place for _, _, place in ranked[:limit]]
