"""Words shown for stored values (custody actions), in the reader's language."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from flask_babel import LazyString, format_datetime, format_decimal, get_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l

from casefile.logic.incidents import places
from casefile.model import CustodyAction, CustodyEntry


def _(text: str, **variables: Any) -> str:
    """gettext, typed: the translated text with its placeholders filled."""
    return str(gettext(text, **variables))


ACTION_LABELS: dict[CustodyAction, LazyString] = {
    CustodyAction.CASE_CREATED: _l("Case created"),
    CustodyAction.CASE_UPDATED: _l("Case details changed"),
    CustodyAction.MEMBER_ADDED: _l("Member added"),
    CustodyAction.MEMBER_REMOVED: _l("Member removed"),
    CustodyAction.MEMBER_ROLE_CHANGED: _l("Member's role changed"),
    CustodyAction.CUSTODY_TRANSFERRED: _l("Physical custody transferred"),
    CustodyAction.INTAKE: _l("Evidence received"),
    CustodyAction.SUBMITTED_AGAIN: _l("Same file submitted again"),
    CustodyAction.VIEWED: _l("Viewed"),
    CustodyAction.DOWNLOADED: _l("Downloaded"),
    CustodyAction.METADATA_EDITED: _l("Metadata edited"),
    CustodyAction.TAGGED: _l("Tagged"),
    CustodyAction.LINKED: _l("Linked"),
    CustodyAction.EXPORTED: _l("Exported"),
    CustodyAction.INTEGRITY_CHECKED: _l("Integrity checked"),
    CustodyAction.INTEGRITY_FAILURE: _l("Integrity failure"),
    CustodyAction.KEY_ROTATED: _l("Encryption key rotated"),
    CustodyAction.DELETED: _l("Deleted"),
    CustodyAction.LEGAL_HOLD_CHANGED: _l("Legal hold changed"),
    CustodyAction.ACCESS_GRANTED: _l("Access granted"),
    CustodyAction.ACCESS_REVOKED: _l("Access withdrawn"),
    CustodyAction.UNTAGGED: _l("Tag removed"),
    CustodyAction.TAG_DEFINED: _l("Tags of the case changed"),
    CustodyAction.SENSITIVITY_CHANGED: _l("Sensitivity changed"),
    CustodyAction.INCIDENT_CREATED: _l("Incident recorded"),
    CustodyAction.INCIDENT_UPDATED: _l("Incident changed"),
    CustodyAction.UNLINKED: _l("Link removed"),
    CustodyAction.PERPETRATOR_CREATED: _l("Alleged perpetrator named"),
}


def action_label(action: CustodyAction | str) -> str:
    return str(ACTION_LABELS[CustodyAction(action)])


def _ern(details: dict[str, Any]) -> str | None:
    item = details.get("item")
    if isinstance(item, dict) and isinstance(item.get("ern"), str):
        return str(item["ern"])
    for key in ("ern", "as_ern"):
        if isinstance(details.get(key), str):
            return str(details[key])
    return None


# Sentences that need only who did it and the item's ERN.
ITEM_SENTENCES: dict[CustodyAction, LazyString] = {
    CustodyAction.SUBMITTED_AGAIN: _l(
        "%(who)s submitted the same file again; it is already %(ern)s"
    ),
    CustodyAction.VIEWED: _l("%(who)s viewed %(ern)s"),
    CustodyAction.DOWNLOADED: _l("%(who)s downloaded %(ern)s"),
    CustodyAction.EXPORTED: _l("%(who)s exported %(ern)s"),
    CustodyAction.METADATA_EDITED: _l("%(who)s edited the description of %(ern)s"),
    CustodyAction.TAGGED: _l("%(who)s tagged %(ern)s"),
    CustodyAction.LINKED: _l("%(who)s linked %(ern)s"),
    CustodyAction.INTEGRITY_CHECKED: _l("%(who)s checked the integrity of %(ern)s"),
    CustodyAction.INTEGRITY_FAILURE: _l("The integrity check of %(ern)s FAILED (run by %(who)s)"),
    CustodyAction.KEY_ROTATED: _l("%(who)s rotated the encryption key of %(ern)s"),
    CustodyAction.DELETED: _l("%(who)s deleted %(ern)s"),
    CustodyAction.ACCESS_REVOKED: _l("%(who)s withdrew a person's access to %(ern)s"),
    CustodyAction.CASE_UPDATED: _l("%(who)s changed the case details"),
    CustodyAction.MEMBER_REMOVED: _l("%(who)s removed a member from the case"),
}

Words = dict[str, Any]


def _intake(words: Words, details: Words) -> str:
    origin = details.get("derived_from")
    if isinstance(origin, dict):
        other = origin.get("ern") or _("an item you may not see")
        if origin.get("derivation") == "translation":
            return _("%(who)s uploaded %(ern)s, a translation of %(other)s into %(language)s",
                     other=other, language=str(details.get("language", "")), **words)
        return _("%(who)s made %(ern)s, a redacted version of %(other)s (%(reason)s)",
                 other=other, reason=redaction_reason(details.get("reason")), **words)
    if details.get("filename"):
        return _("%(who)s uploaded %(ern)s (%(name)s)", name=details["filename"], **words)
    return _("%(who)s uploaded %(ern)s", **words)


def _granted(words: Words, details: Words) -> str:
    person = details.get("email") or _("a person")
    return _("%(who)s granted access to %(ern)s to %(person)s", person=person, **words)


def _opened(words: Words, details: Words) -> str:
    return _("%(who)s opened the case “%(title)s”", title=details.get("title", ""), **words)


def _hold(words: Words, details: Words) -> str:
    if details.get("on"):
        return _("%(who)s placed the case under legal hold", **words)
    return _("%(who)s lifted the legal hold", **words)


def _member_added(words: Words, details: Words) -> str:
    return _(
        "%(who)s added %(person)s to the case as %(role)s",
        person=details.get("email") or _("a person"),
        role=role_name(details.get("role")),
        **words,
    )


def _role_changed(words: Words, details: Words) -> str:
    return _(
        "%(who)s changed a member's role from %(old)s to %(new)s",
        old=role_name(details.get("from")),
        new=role_name(details.get("to")),
        **words,
    )


def _transferred(words: Words, details: Words) -> str:
    what = _ern(details) or details.get("media") or _("physical evidence")
    return _(
        "%(who)s recorded that %(giver)s handed %(what)s to %(taker)s",
        giver=details.get("from", ""),
        taker=details.get("to", ""),
        what=what,
        who=words["who"],
    )


FIELD_NAMES: dict[str, LazyString] = {
    "title": _l("the title"),
    "description": _l("the description"),
    "collected_at": _l("the time collected"),
    "collected_by": _l("the collector"),
    "location": _l("the location"),
    "lat": _l("the latitude"),
    "lon": _l("the longitude"),
    "source": _l("the source"),
    "original_url": _l("the original URL"),
    "capture_tool": _l("the capture tool"),
    "language": _l("the language"),
    "consent_notes": _l("the consent notes"),
}
SHOWN_VALUE = 80  # characters of a value quoted in a sentence; the details have it whole


def _quoted(value: object) -> str:
    text = str(value)
    return text if len(text) <= SHOWN_VALUE else text[: SHOWN_VALUE - 1] + "…"


def _field_name(name: str) -> str:
    return str(FIELD_NAMES.get(name, name.replace("_", " ")))


def _change(name: str, change: object) -> str:
    """One field's change, as a phrase: "the title from “x” to “y”"."""
    old = change.get("from") if isinstance(change, dict) else None
    new = change.get("to") if isinstance(change, dict) else None
    field = _field_name(name)
    if old is None and new is None:
        return field
    if old is None:
        return _("%(field)s to “%(new)s” (it was empty)", field=field, new=_quoted(new))
    if new is None:
        return _("%(field)s to nothing (it was “%(old)s”)", field=field, old=_quoted(old))
    return _(
        "%(field)s from “%(old)s” to “%(new)s”", field=field, old=_quoted(old), new=_quoted(new)
    )


def _position(name: str) -> int:
    """Fields in the form's order, not the log's (its keys are sorted)."""
    order = list(FIELD_NAMES)
    return order.index(name) if name in order else len(order)


def _metadata_edited(words: Words, details: Words) -> str:
    changes = details.get("changes")
    if not isinstance(changes, dict) or not changes:
        return str(ITEM_SENTENCES[CustodyAction.METADATA_EDITED]) % words
    if details.get("metadata") == "sealed":  # a restricted item's: commitments, no values
        fields = ", ".join(_field_name(name) for name in sorted(changes, key=_position))
        return _(
            "%(who)s changed %(ern)s: %(fields)s (sealed: the values are not in the log)",
            fields=fields,
            **words,
        )
    names = sorted(changes, key=_position)
    phrases = "; ".join(_change(name, changes[name]) for name in names)
    return _("%(who)s changed %(ern)s: %(changes)s", changes=phrases, **words)


def _tag_name(details: Words) -> str:
    tag = details.get("tag")
    return str(tag.get("name", "")) if isinstance(tag, dict) else ""


def _tagged(words: Words, details: Words) -> str:
    if "incident" in details:
        return _("%(who)s tagged the incident “%(title)s” “%(tag)s”",
                 title=_incident_title(details), tag=_tag_name(details), **words)
    return _("%(who)s tagged %(ern)s “%(tag)s”", tag=_tag_name(details), **words)


def _untagged(words: Words, details: Words) -> str:
    if "incident" in details:
        return _("%(who)s removed the tag “%(tag)s” from the incident “%(title)s”",
                 title=_incident_title(details), tag=_tag_name(details), **words)
    return _("%(who)s removed the tag “%(tag)s” from %(ern)s", tag=_tag_name(details), **words)


def _tag_defined(words: Words, details: Words) -> str:
    if details.get("change") == "created":
        return _("%(who)s added the tag “%(tag)s” to the case's vocabulary",
                 tag=_tag_name(details), **words)
    changes = details.get("changes")
    name = changes.get("name") if isinstance(changes, dict) else None
    if isinstance(name, dict) and name.get("from"):
        return _("%(who)s renamed the tag “%(old)s” to “%(tag)s”",
                 old=name["from"], tag=_tag_name(details), **words)
    return _("%(who)s changed the tag “%(tag)s”", tag=_tag_name(details), **words)


def _sensitivity(words: Words, details: Words) -> str:
    if details.get("to") == "restricted":
        return _("%(who)s restricted %(ern)s (its description sealed)", **words)
    return _("%(who)s lifted the restriction on %(ern)s", **words)


INCIDENT_FIELD_NAMES: dict[str, LazyString] = {
    "title": _l("the title"),
    "narrative": _l("the narrative"),
    "start_date": _l("the start date"),
    "end_date": _l("the end date"),
    "date_precision": _l("the precision of the dates"),
    "location": _l("the location"),
    "categories": _l("the categories"),
    "status": _l("the status"),
    "victims": _l("the victims"),
    "perpetrators": _l("the alleged perpetrators"),
}


def _incident_title(details: Words) -> str:
    title = details.get("incident_title") or details.get("title")
    return _quoted(title) if isinstance(title, str) else _("an incident")


def _incident_created(words: Words, details: Words) -> str:
    return _("%(who)s recorded the incident “%(title)s”", title=_incident_title(details),
             **words)


def _incident_updated(words: Words, details: Words) -> str:
    changes = details.get("changes")
    names = [name for name in INCIDENT_FIELD_NAMES if isinstance(changes, dict) and name in changes]
    fields = ", ".join(str(INCIDENT_FIELD_NAMES[name]) for name in names)
    return _("%(who)s changed the incident “%(title)s”: %(fields)s",
             title=_incident_title(details), fields=fields, **words)


REDACTION_REASONS: dict[str, LazyString] = {
    "witness_identity": _l("Identity of a witness"),
    "victim_identity": _l("Identity of a victim"),
    "ongoing_investigation": _l("Ongoing investigation"),
    "third_party_privacy": _l("Privacy of a third party"),
    "national_security": _l("National security"),
    "other": _l("Other reason"),
}


def language_name(tag: str | None) -> str:
    """A BCP 47 tag as its language's name in the reader's language (Babel's CLDR data),
    with the tag: "French (fr)"; the tag alone if Babel does not know it."""
    if not tag:
        return ""
    try:
        name = Locale.parse(tag.split("-")[0]).get_display_name(get_locale() or "en")
    except (ValueError, UnknownLocaleError):
        name = None
    return f"{name} ({tag})" if name else tag


def redaction_reason(code: object) -> str:
    return str(REDACTION_REASONS.get(str(code), str(code)))


def _derivative_made(words: Words, details: Words) -> str:
    """An entry on an original naming a translation or redacted version made from it."""
    made = details.get("derivative")
    made = made if isinstance(made, dict) else {}
    other = made.get("ern") or _("a restricted item")
    if details.get("change") == "translation_added":
        return _("%(who)s added %(other)s, a translation of %(ern)s into %(language)s",
                 other=other, language=str(made.get("language", "")), **words)
    return _("%(who)s made %(other)s, a redacted version of %(ern)s (%(reason)s)",
             other=other, reason=redaction_reason(made.get("reason")), **words)


def _linked(words: Words, details: Words) -> str:
    if details.get("change") in ("translation_added", "redaction_made"):
        return _derivative_made(words, details)
    if str(details.get("change", "")).startswith("proof_link_"):
        return _proof_linked(words, details)
    if "incident" not in details:
        return str(ITEM_SENTENCES[CustodyAction.LINKED]) % words
    return _("%(who)s linked %(ern)s to the incident “%(title)s” (%(relation)s)",
             title=_incident_title(details), relation=relation_label(details.get("relation")),
             **words)


def _unlinked(words: Words, details: Words) -> str:
    if details.get("change") == "proof_link_removed":
        return _proof_linked(words, details)
    return _("%(who)s removed the link of %(ern)s to the incident “%(title)s” (%(relation)s)",
             title=_incident_title(details), relation=relation_label(details.get("relation")),
             **words)


def _perpetrator_named(words: Words, details: Words) -> str:
    return _(
        "%(who)s named %(name)s as an alleged perpetrator (%(kind)s)",
        name=_quoted(details.get("name", "")),
        kind=perpetrator_kind_label(details.get("kind")),
        **words,
    )


STRENGTH_LABELS: dict[str, LazyString] = {
    "lead": _l("Lead to follow"),
    "supports": _l("Supports"),
    "establishes": _l("Establishes"),
    "contests": _l("Contests"),
}


def strength_label(strength: object) -> str:
    return str(STRENGTH_LABELS.get(str(strength), str(strength)))


def _charge_words(details: Words) -> dict[str, str]:
    charge = details.get("charge")
    if not isinstance(charge, dict):
        charge = {}
    return {"crime": str(charge.get("crime", "")), "framework": str(charge.get("framework", ""))}


def _case_updated(words: Words, details: Words) -> str:
    change = details.get("change")
    if change == "charge_added":
        return _("%(who)s charged %(crime)s (%(framework)s)", **_charge_words(details), **words)
    if change == "charge_removed":
        return _(
            "%(who)s removed the charge %(crime)s (%(framework)s)",
            **_charge_words(details),
            **words,
        )
    return str(ITEM_SENTENCES[CustodyAction.CASE_UPDATED]) % words


def _strength_of(value: object) -> str:
    return strength_label(value.get("strength")) if isinstance(value, dict) else ""


def _proof_linked(words: Words, details: Words) -> str:
    change = details.get("change")
    where = {"element": str(details.get("element", "")), **_charge_words(details)}
    incident = details.get("incident")
    if str(change).startswith("proof_link_") and isinstance(incident, dict):
        # a proof link to an incident: named by its title
        words = {**words, "ern": _("incident “%(title)s”", title=incident.get("title", ""))}
    if change == "proof_link_added":
        return _(
            "%(who)s linked %(ern)s to element %(element)s of %(crime)s (%(framework)s): "
            "%(strength)s",
            strength=_strength_of(details.get("after")),
            **where,
            **words,
        )
    if change == "proof_link_changed":
        return _(
            "%(who)s changed the link of %(ern)s to element %(element)s of %(crime)s "
            "from %(old)s to %(new)s",
            old=_strength_of(details.get("before")),
            new=_strength_of(details.get("after")),
            **{k: v for k, v in where.items() if k != "framework"},
            **words,
        )
    if change == "proof_link_removed":
        return _(
            "%(who)s removed the link of %(ern)s to element %(element)s of %(crime)s",
            **{k: v for k, v in where.items() if k != "framework"},
            **words,
        )
    return str(ITEM_SENTENCES[CustodyAction.LINKED]) % words


def _viewed(words: Words, details: Words) -> str:
    if details.get("purpose") == "redaction" and details.get("outcome") == "failed":
        return _("%(who)s read %(ern)s to make a redacted version; the redaction failed "
                 "(%(reason)s)", reason=str(details.get("reason", "")), **words)
    return str(ITEM_SENTENCES[CustodyAction.VIEWED]) % words


SENTENCES: dict[CustodyAction, Callable[[Words, Words], str]] = {
    CustodyAction.VIEWED: _viewed,
    CustodyAction.CASE_UPDATED: _case_updated,
    CustodyAction.TAGGED: _tagged,
    CustodyAction.UNTAGGED: _untagged,
    CustodyAction.TAG_DEFINED: _tag_defined,
    CustodyAction.SENSITIVITY_CHANGED: _sensitivity,
    CustodyAction.INCIDENT_CREATED: _incident_created,
    CustodyAction.INCIDENT_UPDATED: _incident_updated,
    CustodyAction.LINKED: _linked,
    CustodyAction.UNLINKED: _unlinked,
    CustodyAction.PERPETRATOR_CREATED: _perpetrator_named,
    CustodyAction.METADATA_EDITED: _metadata_edited,
    CustodyAction.INTAKE: _intake,
    CustodyAction.ACCESS_GRANTED: _granted,
    CustodyAction.CASE_CREATED: _opened,
    CustodyAction.LEGAL_HOLD_CHANGED: _hold,
    CustodyAction.MEMBER_ADDED: _member_added,
    CustodyAction.MEMBER_ROLE_CHANGED: _role_changed,
    CustodyAction.CUSTODY_TRANSFERRED: _transferred,
}


def entry_sentence(action: CustodyAction | str, who: str, details: dict[str, Any]) -> str:
    """What a custody entry says, as one sentence in the reader's language: the one wording
    for every page that lists entries (case activity, item timeline) and the PDF report.
    Plain text: templates escape it."""
    action = CustodyAction(action)
    words: Words = {"who": who, "ern": _ern(details) or _("an item")}
    if action in (CustodyAction.CASE_UPDATED, CustodyAction.LINKED) and isinstance(
        details.get("filing"), dict
    ):
        return _filing_sentence(words, details)
    if action in SENTENCES:
        return SENTENCES[action](words, details)
    if action in ITEM_SENTENCES:
        return str(ITEM_SENTENCES[action]) % words
    return _("%(who)s: %(action)s", action=action_label(action), who=who)


ROLE_LABELS: dict[str, LazyString] = {
    "lead": _l("Lead"),
    "lawyer": _l("Lawyer"),
    "investigator": _l("Investigator"),
    "viewer": _l("Viewer"),
}


def role_name(role: object) -> str:
    return str(ROLE_LABELS.get(str(role), role if role is not None else ""))


def entry_details(entry: CustodyEntry) -> dict[str, Any]:
    details = json.loads(entry.details)
    return details if isinstance(details, dict) else {"value": details}


def describe(entry: CustodyEntry) -> str:
    """The sentence for a stored entry (see entry_sentence)."""
    return entry_sentence(entry.action, entry.actor_label, entry_details(entry))


def details_json(details: dict[str, Any]) -> str:
    """Details as a reader sees them behind the disclosure: indented, scripts as written
    (Flask's tojson would show Burmese as \\u escapes)."""
    return json.dumps(details, ensure_ascii=False, indent=2, sort_keys=True)


# The collector's account of an item (`Evidence.collector`), by the key it is stored under.
COLLECTOR_LABELS: dict[str, LazyString] = {
    "collected_at": _l("Collected at"),
    "collected_at_entered": _l("Collected at, as entered (the collector's local time)"),
    "collected_by": _l("Collected by"),
    "location": _l("Place of collection"),
    "lat": _l("Latitude"),
    "lon": _l("Longitude"),
    "source": _l("Source"),
    "original_url": _l("Original address (URL)"),
    "capture_tool": _l("Capture tool"),
    "language": _l("Language"),
    "consent_notes": _l("Consent notes"),
    "translator": _l("Translator"),
    "certification": _l("Certification statement"),
}


def collector_label(key: str) -> str:
    """A collector field's name in the reader's language; a key this version does not know
    (an older or newer item) is shown as stored."""
    label = COLLECTOR_LABELS.get(key)
    return str(label) if label is not None else key.replace("_", " ")


def collector_value(key: str, value: object) -> str:
    """A collector field's value for reading: a moment in the reader's language and calendar
    words (Babel, with its time zone); anything else as the collector gave it."""
    if key in ("collected_at", "collected_at_entered") and isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None and key == "collected_at":
            return str(format_datetime(moment, "long"))
        if moment.tzinfo is not None:  # in the offset it was entered with, which it shows
            offset = moment.strftime("%z")
            local = babel_dates.format_datetime(
                moment, "medium", tzinfo=moment.tzinfo, locale=get_locale() or "en"
            )
            return f"{local} (UTC{offset[:3]}:{offset[3:]})"
    return str(value)


# What intake flagged on an item (`Evidence.flags`); a flag with a detail after a colon
# (type_mismatch:name, polyglot:zip) is its flag's label and the detail.
FLAG_LABELS: dict[str, LazyString] = {
    "type_mismatch": _l("type mismatch"),
    "zero_bytes": _l("empty file"),
    "declared_hash_mismatch": _l("declared hash mismatch"),
    "polyglot": _l("polyglot"),
    "bidi_controls": _l("bidi controls"),
    "extraction_failed": _l("metadata unreadable"),
    "zawgyi": _l("Zawgyi-encoded text"),
}
TYPE_MISMATCH_DETAILS: dict[str, LazyString] = {
    "extension": _l("file name extension"),
    "declared_type": _l("declared type"),
}


def flag_label(flag: str) -> str:
    name, _colon, detail = flag.partition(":")
    label = FLAG_LABELS.get(name)
    shown = str(label) if label is not None else name.replace("_", " ")
    if not detail:
        return shown
    if name == "type_mismatch" and detail in TYPE_MISMATCH_DETAILS:
        detail = str(TYPE_MISMATCH_DETAILS[detail])
    return _("%(flag)s: %(detail)s", flag=shown, detail=detail)


SIZE_UNITS: tuple[tuple[int, LazyString], ...] = (
    (1000**4, _l("%(size)s TB")),
    (1000**3, _l("%(size)s GB")),
    (1000**2, _l("%(size)s MB")),
    (1000, _l("%(size)s kB")),
)


def file_size(size: int) -> str:
    """A size as people read it, in the reader's language: "1.2 MB" (SI units, one decimal
    from 10 kB down), "512 bytes" with the catalogue's plural forms."""
    for unit, words in SIZE_UNITS:
        if size >= unit:
            scaled = size / unit
            pattern = "#,##0.#" if scaled < 10 else "#,##0"
            return str(words) % {"size": format_decimal(scaled, format=pattern)}
    return exact_size(size)


def exact_size(size: int) -> str:
    """Every byte counted, digits grouped for the reader's locale."""
    return str(ngettext("%(count)s byte", "%(count)s bytes", size, count=format_decimal(size)))


# Incidents: the controlled lists' words (codes are stored; these are shown).
CATEGORY_LABELS: dict[str, LazyString] = {
    "killing": _l("Killing"),
    "torture": _l("Torture"),
    "sgbv": _l("Sexual and gender-based violence"),
    "arson_destruction": _l("Arson, destruction of property"),
    "forced_displacement": _l("Forced displacement, deportation"),
    "arbitrary_detention": _l("Arbitrary detention"),
    "enforced_disappearance": _l("Enforced disappearance"),
    "airstrike_shelling": _l("Airstrike, shelling"),
    "attack_protected_site": _l("Attack on a school, hospital or place of worship"),
    "child_recruitment": _l("Recruitment of children"),
    "persecution": _l("Persecution"),
    "other": _l("Other"),
}
INCIDENT_STATUS_LABELS: dict[str, LazyString] = {
    "reported": _l("Reported"),
    "under_investigation": _l("Under investigation"),
    "corroborated": _l("Corroborated"),
}
RELATION_LABELS: dict[str, LazyString] = {
    "depicts": _l("depicts"),
    "corroborates": _l("corroborates"),
    "contradicts": _l("contradicts"),
    "context": _l("context"),
}
PRECISION_LABELS: dict[str, LazyString] = {
    "day": _l("Exact days"),
    "month": _l("Month only"),
    "year": _l("Year only"),
    "approximate": _l("Approximate"),
}
PERPETRATOR_KIND_LABELS: dict[str, LazyString] = {
    "unit": _l("Unit"),
    "person": _l("Person"),
}


def _label(table: dict[str, LazyString], value: object) -> str:
    code = getattr(value, "value", value)
    return str(table.get(str(code), code if code is not None else ""))


def category_label(value: object) -> str:
    return _label(CATEGORY_LABELS, value)


def incident_status_label(value: object) -> str:
    return _label(INCIDENT_STATUS_LABELS, value)


def relation_label(value: object) -> str:
    return _label(RELATION_LABELS, value)


def precision_label(value: object) -> str:
    return _label(PRECISION_LABELS, value)


def perpetrator_kind_label(value: object) -> str:
    return _label(PERPETRATOR_KIND_LABELS, value)


def place_name(level: str, value: str | None, country: str | None) -> str:
    """A location's name in the reader's language: in Myanmar, the data's Burmese name on
    Burmese pages (its English one is what is stored); anything else as stored."""
    if not value:
        return ""
    if str(get_locale() or "en") != "my" or not places.is_myanmar(country):
        return value
    if level == "country":
        return "မြန်မာ"
    named = places.gazetteer().named(level, value)
    return named[0].my if len(named) == 1 else value
# --- filings (logic/filings) -----------------------------------------------------------------

FILING_TYPE_NAMES: dict[str, LazyString] = {
    "application_instituting_proceedings": _l("Application instituting proceedings"),
    "request_provisional_measures": _l("Request for the indication of provisional measures"),
    "memorial": _l("Memorial"),
    "counter_memorial": _l("Counter-Memorial"),
    "reply": _l("Reply"),
    "rejoinder": _l("Rejoinder"),
    "written_observations": _l("Written observations"),
    "article_15_communication": _l("Article 15 communication"),
    "request_or_submission": _l("Request or submission"),
    "list_of_evidence": _l("List of evidence"),
    "disclosure_package": _l("Disclosure package"),
    "criminal_complaint": _l("Criminal complaint"),
    "supplementary_submission": _l("Supplementary submission"),
}
CLASSIFICATION_NAMES: dict[str, LazyString] = {
    "public": _l("Public"),
    "confidential": _l("Confidential"),
    "under_seal": _l("Under seal"),
    "ex_parte": _l("Ex parte"),
}
FILING_STATUS_NAMES: dict[str, LazyString] = {
    "draft": _l("Draft"),
    "final": _l("Final"),
    "filed": _l("Filed"),
}
WARNING_SENTENCES: dict[str, LazyString] = {
    "icj_annex_pages": _l(
        "The annexes total %(pages)s pages, over the 750 pages of ICJ Practice Direction III."
    ),
    "page_count_unknown": _l(
        "The pages of these annexes could not be counted, so the total may be higher:"
    ),
    "translation_missing": _l(
        "In a language other than English or French, with no linked translation into either:"
    ),
    "language_unknown": _l(
        "The language of these exhibits is not recorded, so a missing translation cannot be "
        "ruled out:"
    ),
    "restricted_in_public_filing": _l("Restricted items are exhibits of this public filing:"),
    "integrity_failure": _l(
        "These exhibits failed their latest integrity check (or were deleted) and cannot be "
        "exported:"
    ),
    "type_mismatch": _l(
        "The content of these exhibits is not of the type they were declared or named as:"
    ),
    "declared_hash_mismatch": _l(
        "These exhibits did not match a digest their collector declared:"
    ),
}


EXPORT_STATUS_NAMES = {
    "queued": _l("Queued"),
    "running": _l("Running"),
    "done": _l("Ready"),
    "failed": _l("Failed"),
    "purged": _l("Destroyed"),
}
EXPORT_STAGE_NAMES = {
    "queued": _l("waiting for its turn"),
    "signing": _l("signing a checkpoint"),
    "exhibits": _l("reading and checking exhibits"),
    "sealing": _l("writing the index and signing the bundle"),
    "done": _l("finished"),
    "failed": _l("stopped"),
}


def export_status_name(value: str) -> str:
    return str(EXPORT_STATUS_NAMES.get(value, value))


def export_stage_name(value: str) -> str:
    return str(EXPORT_STAGE_NAMES.get(value, value))


def filing_type_name(kind: object) -> str:
    value = getattr(kind, "value", kind)
    return str(FILING_TYPE_NAMES.get(str(value), str(value)))


def classification_name(kind: object) -> str:
    value = getattr(kind, "value", kind)
    return str(CLASSIFICATION_NAMES.get(str(value), str(value)))


def filing_status_name(kind: object) -> str:
    value = getattr(kind, "value", kind)
    return str(FILING_STATUS_NAMES.get(str(value), str(value)))


def warning_sentence(code: str, total_pages: int | None) -> str:
    sentence = WARNING_SENTENCES.get(code)
    if sentence is None:
        return code
    return str(sentence) % {"pages": format_decimal(total_pages or 0)}


FILING_SENTENCES: dict[str, LazyString] = {
    "filing_created": _l("%(who)s created the filing “%(title)s” (version %(n)s)"),
    "filing_new_version": _l("%(who)s made version %(n)s of the filing “%(title)s”"),
}


def _filing_sentence(words: Words, details: Words) -> str:
    """An entry of logic/filings: a filing's change (on its case) or an exhibit's (on its item)."""
    filing = details["filing"]
    words = {**words, "title": filing.get("title", ""), "n": filing.get("version", "")}
    change = details.get("change")
    status = details.get("status")
    if change in FILING_SENTENCES:
        return str(FILING_SENTENCES[change]) % words
    if change == "exhibit_added":
        return _("%(who)s added %(ern)s to the filing “%(title)s” as %(number)s",
                 number=details.get("number", ""), **words)
    if change == "exhibit_removed":
        return _("%(who)s removed %(ern)s (%(number)s) from the filing “%(title)s”",
                 number=details.get("number", ""), **words)
    if change == "exhibit_renumbered":
        return _("%(who)s renumbered %(ern)s in the filing “%(title)s” from %(old)s to %(new)s",
                 old=details.get("from", ""), new=details.get("to", ""), **words)
    if isinstance(status, dict):
        return _(
            "%(who)s changed the status of the filing “%(title)s” from %(old)s to %(new)s",
            old=filing_status_name(status.get("from")),
            new=filing_status_name(status.get("to")),
            **words,
        )
    return _("%(who)s changed the filing “%(title)s”", **words)
