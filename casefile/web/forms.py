"""WTForms forms (Flask-WTF adds the CSRF token to each). They only carry fields; the rules
are the logic layer's, whose ValidationFailed errors are shown against the fields."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, DateInput, DateTimeLocalInput, ListWidget

from casefile.logic.cases.ern import DEFAULT_PATTERN
from casefile.logic.evidence.submission import DESCRIPTION_MAX, TEXT_MAX, TITLE_MAX
from casefile.model import FORUM_TYPES, Classification, CustodyAction, Forum, Role, Strength
from casefile.web.labels import (
    CATEGORY_LABELS,
    INCIDENT_STATUS_LABELS,
    PERPETRATOR_KIND_LABELS,
    PRECISION_LABELS,
    REDACTION_REASONS,
    RELATION_LABELS,
    action_label,
    classification_name,
    filing_type_name,
    strength_label,
)


def forum_choices() -> list[tuple[str, str]]:
    return [
        (Forum.ICC.value, str(_l("International Criminal Court (ICC)"))),
        (Forum.ICJ.value, str(_l("International Court of Justice (ICJ)"))),
        (Forum.UJ.value, str(_l("Universal jurisdiction (national court)"))),
    ]


def role_choices() -> list[tuple[str, str]]:
    return [
        (Role.LEAD.value, str(_l("Lead"))),
        (Role.LAWYER.value, str(_l("Lawyer"))),
        (Role.INVESTIGATOR.value, str(_l("Investigator"))),
        (Role.VIEWER.value, str(_l("Viewer"))),
    ]


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class TotpForm(FlaskForm):
    # six digits, or a recovery code (16 characters, in groups of four)
    code = StringField(_l("Six-digit code"), validators=[DataRequired(), Length(min=6, max=24)])


class EmptyForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


def language_choices() -> list[tuple[str, str]]:
    return [("en", "English"), ("my", "မြန်မာ")]


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=language_choices)
    next = HiddenField()


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired()])
    revoke_tokens = BooleanField(_l("Also revoke my API tokens"))


class TotpEnableForm(FlaskForm):
    code = StringField(_l("Code from your authenticator app"), validators=[DataRequired()])


class TotpDisableForm(FlaskForm):
    password = PasswordField(_l("Current password"), validators=[DataRequired()])


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)])
    days = IntegerField(
        _l("Valid for (days)"), validators=[Optional(), NumberRange(min=1, max=3650)]
    )


class CaseForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)])
    forum = SelectField(_l("Forum"), choices=forum_choices, validators=[DataRequired()])
    court = StringField(_l("Court or jurisdiction"), validators=[Length(max=300)])
    reference = StringField(_l("Court reference"), validators=[Length(max=100)])
    ern_pattern = StringField(
        _l("Evidence Registration Number pattern"),
        default=DEFAULT_PATTERN,
        validators=[DataRequired(), Length(max=100)],
    )
    languages = StringField(_l("Working languages"))
    description = TextAreaField(_l("Description"), validators=[Length(max=20000)])


class MemberForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    role = SelectField(_l("Role"), choices=role_choices, validators=[DataRequired()])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=role_choices, validators=[DataRequired()])


class AccountForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    display_name = StringField(_l("Name"), validators=[Length(max=200)])
    password = PasswordField(_l("Initial password"), validators=[DataRequired()])
    is_admin = BooleanField(_l("Instance administrator"))


def action_choices() -> list[tuple[str, str]]:
    return [("", str(_l("All actions")))] + [
        (action.value, action_label(action)) for action in CustodyAction
    ]


class ActivityFilterForm(FlaskForm):
    """Read-only filters in the query string: no CSRF token needed for a GET."""

    class Meta:
        csrf = False

    actor = SelectField(_l("Person"), choices=[], validate_choice=False)
    action = SelectField(_l("Action"), choices=action_choices, validate_choice=False)
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])


class TransferForm(FlaskForm):
    from_party = StringField(_l("Handed over by"), validators=[DataRequired(), Length(max=300)])
    to_party = StringField(_l("Received by"), validators=[DataRequired(), Length(max=300)])
    when = DateTimeLocalField(
        _l("When (UTC)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    where = StringField(_l("Where"), validators=[Length(max=2000)])
    media = StringField(_l("What changed hands"), validators=[Length(max=2000)])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])
    condition = StringField(_l("Condition"), validators=[Length(max=2000)])
    seal_number = StringField(_l("Seal number"), validators=[Length(max=100)])
    receipt = StringField(
        _l("ERN of the scanned receipt (upload it as evidence first)"),
        validators=[Length(max=120)],
    )
    # Choices are the case's items the person may see, set by the view.
    items = SelectMultipleField(
        _l("Items it concerns"),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


def sensitivity_choices() -> list[tuple[str, str]]:
    return [
        ("standard", str(_l("Standard"))),
        ("restricted", str(_l("Restricted (witness-identifying): only people granted access"))),
    ]


# Offsets from UTC in use somewhere (Myanmar is +06:30), west to east.
UTC_OFFSETS = (
    "-12:00", "-11:00", "-10:00", "-09:30", "-09:00", "-08:00", "-07:00", "-06:00", "-05:00",
    "-04:00", "-03:30", "-03:00", "-02:00", "-01:00", "+00:00", "+01:00", "+02:00", "+03:00",
    "+03:30", "+04:00", "+04:30", "+05:00", "+05:30", "+05:45", "+06:00", "+06:30", "+07:00",
    "+08:00", "+08:45", "+09:00", "+09:30", "+10:00", "+10:30", "+11:00", "+12:00", "+12:45",
    "+13:00", "+14:00",
)  # fmt: skip


def offset_choices() -> list[tuple[str, str]]:
    return [(offset, f"UTC{offset}") for offset in UTC_OFFSETS]


# The digests a collector may declare, strongest first: (form field, algorithm).
DECLARED_HASH_FIELDS = (
    ("declared_sha256", "sha256"),
    ("declared_sha1", "sha1"),
    ("declared_md5", "md5"),
)


class EvidenceUploadForm(FlaskForm):
    """The file parts are read by the intake pipeline, not by this form. The fields are
    checked by the logic layer (the same model as the API's upload); the lengths here only
    give the browser the limits to show. The declared digests come before the file input: the
    browser sends the form in this order, and intake computes them while the file streams."""

    title = StringField(_l("Title"), validators=[Length(max=TITLE_MAX)])
    description = TextAreaField(_l("Description"), validators=[Length(max=DESCRIPTION_MAX)])
    collected_at = StringField(_l("Date and time collected"), widget=DateTimeLocalInput())
    collected_offset = SelectField(
        _l("Time zone of that time"), choices=offset_choices, default="+00:00"
    )
    collected_by = StringField(_l("Collected by"), validators=[Length(max=TEXT_MAX)])
    location = StringField(_l("Place of collection"), validators=[Length(max=TEXT_MAX)])
    source = StringField(_l("Source"), validators=[Length(max=TEXT_MAX)])
    language = StringField(_l("Language"), validators=[Length(max=TEXT_MAX)])
    declared_sha256 = StringField("SHA-256")
    declared_sha1 = StringField("SHA-1")
    declared_md5 = StringField("MD5")
    sensitivity = SelectField(_l("Sensitivity"), choices=sensitivity_choices)


class TranslationForm(FlaskForm):
    """A translation's fields; its file part is read by the intake pipeline (as an upload's).
    The rules are the logic layer's (`derivatives.TranslationInput`)."""

    language = StringField(_l("Language of the translation"), validators=[Length(max=35)])
    translator = StringField(_l("Translator"), validators=[Length(max=300)])
    certification = TextAreaField(
        _l("Certification statement"), validators=[Length(max=DESCRIPTION_MAX)]
    )
    title = StringField(_l("Title"), validators=[Length(max=TITLE_MAX)])


def redaction_reason_choices() -> list[tuple[str, LazyString]]:
    return [("", _l("Choose a reason")), *REDACTION_REASONS.items()]


class RedactionForm(FlaskForm):
    """Boxes drawn on the page images (redact.js keeps them in `boxes`, JSON) or, without
    script, one box typed in as percentages of the page."""

    boxes = HiddenField()
    pages = HiddenField()  # the number of pages shown (the redaction is refused if it differs)
    reason = SelectField(_l("Reason for the redaction"), choices=redaction_reason_choices)
    title = StringField(_l("Title of the redacted version"), validators=[Length(max=TITLE_MAX)])
    sensitivity = SelectField(
        _l("Sensitivity of the redacted version"), choices=sensitivity_choices
    )
    page = IntegerField(_l("Page"), validators=[Optional()])
    left = StringField(_l("Left edge, in percent of the width"))
    top = StringField(_l("Top edge, in percent of the height"))
    width = StringField(_l("Width, in percent of the width"))
    height = StringField(_l("Height, in percent of the height"))


class ReasonForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(min=3, max=2000)])


class GrantForm(FlaskForm):
    # Choices (case members without access, by email) are set by the view; the logic decides
    # who may be given access, so a choice gone stale is its error, not WTForms'.
    person = SelectField(
        _l("Give access to"), choices=[], validate_choice=False, validators=[DataRequired()]
    )


class EvidenceFilterForm(FlaskForm):
    class Meta:
        csrf = False

    # Ids of their own: the upload form on the same page has a `sensitivity` field too.
    kind = SelectField(
        _l("Type"),
        id="filter-kind",
        choices=lambda: [
            ("", str(_l("All types"))),
            ("image/", str(_l("Images"))),
            ("video/", str(_l("Video"))),
            ("audio/", str(_l("Audio"))),
            ("application/pdf", "PDF"),
            ("text/", str(_l("Text"))),
        ],
        validate_choice=False,
    )
    sensitivity = SelectField(
        _l("Sensitivity"),
        id="filter-sensitivity",
        choices=lambda: [("", str(_l("Any"))), *sensitivity_choices()],
        validate_choice=False,
    )
    collector = StringField(_l("Collected by"), id="filter-collector")
    tag = SelectField(_l("Tag"), id="filter-tag", choices=[], validate_choice=False)
    since = DateField(_l("Received from"), validators=[Optional()], id="filter-since")
    until = DateField(_l("Received until"), validators=[Optional()], id="filter-until")
    sort = SelectField(
        _l("Sort by"),
        id="filter-sort",
        choices=lambda: [
            ("ern", "ERN"),
            ("received", str(_l("Date received"))),
            ("size", str(_l("Size"))),
            ("title", str(_l("Title"))),
        ],
        validate_choice=False,
    )


class RecoveryCodesForm(FlaskForm):
    password = PasswordField(_l("Current password"), validators=[DataRequired()])


class MetadataEditForm(FlaskForm):
    """An item's collector metadata (logic/evidence/editing.py), with the version it was
    read at."""

    version = HiddenField()
    title = StringField(_l("Title"))
    description = TextAreaField(_l("Description"))
    collected_at = StringField(_l("Collected at"))
    collected_by = StringField(_l("Collected by"))
    location = StringField(_l("Location"))
    lat = StringField(_l("Latitude"))
    lon = StringField(_l("Longitude"))
    source = StringField(_l("Source"))
    original_url = StringField(_l("Original URL"))
    capture_tool = StringField(_l("Capture tool"))
    language = StringField(_l("Language"))
    consent_notes = TextAreaField(_l("Consent notes"))


class TagForm(FlaskForm):
    """A new tag of the case's vocabulary (leads); the logic normalises and checks the name."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=256)], id="tag-name")
    description = TextAreaField(
        _l("What it means"), validators=[Optional(), Length(max=2000)], id="tag-description"
    )


class TagEditForm(FlaskForm):
    """A tag changed (leads): its fields carry the tag's id, several forms share the page."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=256)])
    description = TextAreaField(_l("What it means"), validators=[Optional(), Length(max=2000)])
    controlled = BooleanField(_l("In the case's vocabulary"))
    retired = BooleanField(_l("Retired (no longer attached to items)"))


class ItemTagForm(FlaskForm):
    tag = StringField(
        _l("Add a tag"),
        validators=[DataRequired(), Length(max=256)],
        id="item-tag",
        render_kw={"list": "item-vocabulary"},
    )


def bulk_action_choices() -> list[tuple[str, str]]:
    return [
        ("tag", str(_l("Add the tag"))),
        ("untag", str(_l("Remove the tag"))),
        ("restrict", str(_l("Make restricted"))),
        ("unrestrict", str(_l("Make standard (leads)"))),
        ("grant", str(_l("Give access to a person (leads)"))),
        ("link", str(_l("Link to an incident"))),
    ]


class BulkForm(FlaskForm):
    """The evidence list's selection and the one action to apply to it (the list's filters
    ride along as hidden fields, for "every item that matches")."""

    ids = SelectMultipleField(_l("Select"), choices=[], validate_choice=False)
    scope = SelectField(
        _l("Apply to"),
        choices=lambda: [
            ("selected", str(_l("The items selected"))),
            ("matching", str(_l("Every item that matches the filters"))),
        ],
        id="bulk-scope",
    )
    action = SelectField(_l("Action"), choices=bulk_action_choices, id="bulk-action")
    tag = StringField(
        _l("Tag"),
        validators=[Optional(), Length(max=256)],
        id="bulk-tag",
        render_kw={"list": "vocabulary"},
    )
    person = EmailField(
        _l("Person's email (to give access)"), validators=[Optional()], id="bulk-person"
    )
    # Choices (the case's incidents) are set by the view; the logic checks the one sent.
    incident = SelectField(
        _l("Incident (to link to)"), choices=[], validate_choice=False, id="bulk-incident"
    )
    relation = SelectField(  # shown only with the incidents; the logic checks it
        _l("Relation"),
        choices=lambda: _choices(RELATION_LABELS),
        id="bulk-relation",
        validate_choice=False,
    )
    note = StringField(_l("Note"), validators=[Optional(), Length(max=2000)], id="bulk-note")
    kind = HiddenField(id="bulk-filter-kind")
    sensitivity = HiddenField(id="bulk-filter-sensitivity")
    collector = HiddenField(id="bulk-filter-collector")
    since = HiddenField(id="bulk-filter-since")
    until = HiddenField(id="bulk-filter-until")
    by_tag = HiddenField(id="bulk-filter-tag")
def _choices(labels: dict[str, LazyString]) -> list[tuple[str, str]]:
    return [(code, str(label)) for code, label in labels.items()]


class IncidentForm(FlaskForm):
    """An incident (logic/incidents/incidents.py); dates and numbers are read by the logic
    layer, whose messages go on the fields. `version` only when editing."""

    version = HiddenField()
    title = StringField(_l("Title"))
    narrative = TextAreaField(_l("What happened"))
    start_date = StringField(_l("Start date"), widget=DateInput())
    end_date = StringField(_l("End date"), widget=DateInput())
    date_precision = SelectField(
        _l("How precise are the dates?"), choices=lambda: _choices(PRECISION_LABELS)
    )
    status = SelectField(_l("Status"), choices=lambda: _choices(INCIDENT_STATUS_LABELS))
    categories = SelectMultipleField(
        _l("Categories"),
        choices=lambda: _choices(CATEGORY_LABELS),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,  # the logic layer names an unknown one
    )
    country = StringField(_l("Country"))
    state_region = StringField(_l("State or region"))
    district = StringField(_l("District"))
    township = StringField(_l("Township"))
    village_ward = StringField(_l("Village or ward"))
    place = StringField(_l("Place"))
    lat = StringField(_l("Latitude"))
    lon = StringField(_l("Longitude"))
    victims_count = StringField(_l("Number of victims (estimate)"))
    victims_group = StringField(_l("Victims (group)"))
    # Choices are the case's perpetrators, set by the view.
    perpetrators = SelectMultipleField(
        _l("Alleged perpetrators"),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,
    )


class IncidentFilterForm(FlaskForm):
    class Meta:
        csrf = False

    category = SelectField(
        _l("Category"),
        id="filter-category",
        choices=lambda: [("", str(_l("Any"))), *_choices(CATEGORY_LABELS)],
        validate_choice=False,
    )
    status = SelectField(
        _l("Status"),
        id="filter-status",
        choices=lambda: [("", str(_l("Any"))), *_choices(INCIDENT_STATUS_LABELS)],
        validate_choice=False,
    )
    date_from = DateField(_l("From"), validators=[Optional()], id="filter-from")
    date_to = DateField(_l("To"), validators=[Optional()], id="filter-to")
    place = StringField(_l("Place"), id="filter-place")
    tag = SelectField(_l("Tag"), id="filter-tag", choices=[], validate_choice=False)


class LinkForm(FlaskForm):
    """Link an item to an incident: the item by its ERN, a relation, a note."""

    evidence = StringField(_l("Item (ERN)"))
    relation = SelectField(_l("Relation"), choices=lambda: _choices(RELATION_LABELS))
    note = StringField(_l("Note"))


class PerpetratorForm(FlaskForm):
    name = StringField(_l("Name"))
    kind = SelectField(_l("Unit or person"), choices=lambda: _choices(PERPETRATOR_KIND_LABELS))
    affiliation = StringField(_l("Affiliation"))
    description = TextAreaField(_l("Description"))
class MapFilterForm(FlaskForm):
    """The case map's filters (logic/maps/points.py, MapFilter); a GET form."""

    class Meta:
        csrf = False

    show = SelectField(
        _l("Show"),
        id="map-show",
        choices=lambda: [
            ("all", str(_l("Incidents and evidence"))),
            ("incidents", str(_l("Incidents only"))),
            ("evidence", str(_l("Evidence only"))),
        ],
        validate_choice=False,
    )
    category = SelectField(
        _l("Incident category"), id="map-category", choices=[], validate_choice=False
    )
    kind = SelectField(
        _l("Type"),
        id="map-kind",
        choices=lambda: [
            ("", str(_l("All types"))),
            ("image/", str(_l("Images"))),
            ("video/", str(_l("Video"))),
            ("audio/", str(_l("Audio"))),
            ("application/pdf", "PDF"),
            ("text/", str(_l("Text"))),
        ],
        validate_choice=False,
    )
    since = DateField(_l("From"), validators=[Optional()], id="map-since")
    until = DateField(_l("To"), validators=[Optional()], id="map-until")
def strength_choices() -> list[tuple[str, str]]:
    return [(s.value, strength_label(s.value)) for s in Strength]


class ChargeForm(FlaskForm):
    # "<framework>|<crime>"; the choices, grouped by framework and article, are set by the view
    crime = SelectField(
        _l("Crime or mode of liability"),
        choices=[],
        validate_choice=False,
        validators=[DataRequired()],
    )


class ProofLinkForm(FlaskForm):
    # "<charge id>|<element id>"; the choices, grouped by charge, are set by the view
    element = SelectField(
        _l("Element"), choices=[], validate_choice=False, validators=[DataRequired()]
    )
    ern = StringField(_l("Item (its ERN)"), validators=[Length(max=120)])
    # or an incident of the case: "" or its id; the choices are set by the view
    incident = SelectField(_l("Or an incident"), choices=[], validate_choice=False)
    strength = SelectField(_l("Strength"), choices=strength_choices, validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])


class ProofLinkChangeForm(FlaskForm):
    strength = SelectField(_l("Strength"), choices=strength_choices, validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])


class FrameworkUploadForm(FlaskForm):
    file = FileField(_l("Framework file (YAML)"), validators=[FileRequired()])


class SearchForm(FlaskForm):
    """The search page's box and filters, in the query string (a GET: no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search for"), id="search-q")
    case_id = SelectField(_l("Case"), choices=[], validate_choice=False, id="search-case")
    kind = SelectField(
        _l("Find"),
        id="search-kind",
        choices=lambda: [
            ("", str(_l("Items and incidents"))),
            ("evidence", str(_l("Items"))),
            ("incident", str(_l("Incidents"))),
        ],
        validate_choice=False,
    )
    type = SelectField(
        _l("Type"),
        id="search-type",
        choices=lambda: [
            ("", str(_l("All types"))),
            ("image/", str(_l("Images"))),
            ("video/", str(_l("Video"))),
            ("audio/", str(_l("Audio"))),
            ("application/pdf", "PDF"),
            ("text/", str(_l("Text"))),
        ],
        validate_choice=False,
    )
    sensitivity = SelectField(
        _l("Sensitivity"),
        id="search-sensitivity",
        choices=lambda: [("", str(_l("Any"))), *sensitivity_choices()],
        validate_choice=False,
    )
    collector = StringField(_l("Collected by"), id="search-collector")
    location = StringField(_l("Location"), id="search-location")
    collected_from = DateField(
        _l("Collected from"), validators=[Optional()], id="search-collected-from"
    )
    collected_to = DateField(
        _l("Collected until"), validators=[Optional()], id="search-collected-to"
    )
    incident_from = DateField(
        _l("Incident from"), validators=[Optional()], id="search-incident-from"
    )
    incident_to = DateField(
        _l("Incident until"), validators=[Optional()], id="search-incident-to"
    )
    tag = StringField(_l("Tag"), id="search-tag")
def filing_type_choices(forum: Forum) -> list[tuple[str, str]]:
    return [(kind.value, filing_type_name(kind)) for kind in FORUM_TYPES[forum]]


def classification_choices() -> list[tuple[str, str]]:
    return [(each.value, classification_name(each)) for each in Classification]


class FilingForm(FlaskForm):
    """A filing's fields (logic/filings/filings.py); `new_version` for a filed one."""

    title = StringField(_l("Title"))
    type = SelectField(_l("Type of filing"))
    classification = SelectField(_l("Classification"))
    classification_basis = TextAreaField(_l("Basis of the classification"))
    language = StringField(_l("Language of the filing"), default="en")
    court_document_number = StringField(_l("Court document number"))
    filing_date = StringField(_l("Filing date"))
    exhibit_prefix = StringField(_l("Exhibit number prefix"))
    exhibit_start = StringField(_l("First exhibit number"), default="1")


class ExhibitForm(FlaskForm):
    evidence_id = SelectField(_l("Item"))
    classification = SelectField(_l("Classification"))
    description = TextAreaField(_l("Description"))


class ExhibitOrderForm(FlaskForm):
    exhibits_version = HiddenField()
    exhibit_ids = HiddenField()  # comma-separated, in the new order


class ExportForm(FlaskForm):
    # age public keys (age1...), one per line: the export's zip is encrypted to them.
    age_recipients = TextAreaField(
        _l("age public keys (optional, one per line)"), validators=[Length(max=4000)]
    )


class StatusForm(FlaskForm):
    status = HiddenField()


class MoveForm(FlaskForm):
    step = HiddenField()  # -1 up, 1 down
