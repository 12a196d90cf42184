"""The API keeps the contract its OpenAPI document states, under schemathesis.

Schemathesis reads /api/v1/openapi.json from the app (in process, over WSGI), generates
requests from it, valid ones and invalid ones, and checks every answer: no 5xx, only
documented statuses and content types, bodies in their documented shapes, invalid input
refused (negative_data_rejection) and valid input not refused for being invalid
(positive_data_acceptance). It runs once as a case lead, whose path parameters name the seeded
case, item and member (so the requests reach validation and the logic), and once as an
outsider to that case, who must get 404 whatever the body.

Bounded: a fixed number of examples per operation and a fixed seed, so a run takes about the
same time everywhere and a failure reproduces. More examples: CASEFILE_SCHEMATHESIS_EXAMPLES.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import (
    NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES,
    POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
)
from schemathesis.engine import Status, events, from_schema

from tests.api.seeding import seed_case

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
)
# Operations whose valid-looking input can still be refused for what no schema can say: 422
# for a cursor the server did not issue, an email with no account, an id of no item of the
# case, a transfer dated in the future, tus metadata naming fields that do not exist, an `old`
# checkpoint size larger than `new`, a `current` password that is not the account's; 413 for
# an Upload-Length above the configured maximum (announced in Tus-Max-Size).
REFUSED_FOR_MEANING = {
    "list_cases_get": ("422",),
    "list_evidence_get": ("422",),
    "case_custody_get": ("422",),  # a cursor the server did not issue
    "evidence_custody_get": ("422",),
    "record_transfer_post": ("422",),
    "add_member_post": ("422",),
    "grant_access_post": ("422",),
    "create_upload_post": ("413", "422"),
    "consistency_get": ("422",),
    "change_my_password_post": ("422",),
    "bulk_action_post": ("422",),  # an id of no item of the case, an email of no member
    "search_get": ("422",),  # a cursor the server did not issue; a `q` of punctuation only
    # incidents: a cursor not issued, a period that ends before it starts, a date in the
    # future, one coordinate without the other, names of Myanmar's places that do not belong
    # together, a perpetrator or an item of no case the caller sees
    "list_incidents_get": ("422",),
    "create_incident_post": ("422",),
    "update_incident_patch": ("422",),
    "link_evidence_post": ("422",),
    "case_map_get": ("422",),  # a period whose end comes before its start
    "add_charge_post": ("422",),  # a framework or crime that does not exist
    "add_link_post": ("422",),  # a charge, element, item or incident not of the case
    "change_link_patch": ("422",),  # neither a strength nor a note
    # Filings: a type of another forum, a classification without its basis, a status the
    # filing cannot move to without a filing date; an item of no exhibit of the filing; and
    # 409 for a status change the filing's status does not allow, an item already an exhibit,
    # a reorder from an older list.
    "create_filing_post": ("422",),
    "update_filing_patch": ("409", "422"),
    "add_exhibit_post": ("409", "422"),
    "reorder_exhibits_put": ("409", "422"),
    # A redaction of an item of a type that cannot be redacted (the seeded item is a text
    # file), or a box on a page the document does not have; 409 for bytes the case holds.
    "make_redaction_post": ("409", "422"),
    # An age key of the right form whose Bech32 checksum is wrong (or none at all): 422; and
    # 409 for a filing holding a deleted exhibit.
    "create_export_post": ("409", "422"),
}
# Fuzzing examples per operation (the coverage phase adds its boundary cases to these): fewer on
# PostgreSQL, whose leg repeats the run for what only that database refuses.
EXAMPLES = {"sqlite": 10, "postgresql": 5}
if os.environ.get("CASEFILE_SCHEMATHESIS_EXAMPLES"):
    EXAMPLES = dict.fromkeys(EXAMPLES, int(os.environ["CASEFILE_SCHEMATHESIS_EXAMPLES"]))


SIGNED_IN: set[str] = set()  # the Authorization headers of the identities the runs use


@schemathesis.check
def identity_still_signed_in(ctx: Any, response: Any, case: Any) -> bool | None:
    """A run whose token stopped working would see nothing but 401s and prove nothing."""
    del ctx
    sent = response.request.headers.get("Authorization")
    assert not (response.status_code == 401 and sent in SIGNED_IN), (
        f"{case.method} {case.path}: 401 with the run's own, valid token"
    )
    return None


@schemathesis.check
def outsider_learns_nothing(ctx: Any, response: Any, case: Any) -> bool | None:
    """To an outsider the lead's case and item do not exist, whatever the request holds: 404,
    never 403, 409 or a validation error. Answers that say nothing about the case are fine too:
    401 (schemathesis also sends broken credentials), 405 for a method no route has, tus's 412
    for a missing protocol header."""
    del ctx
    if case.method == "OPTIONS" or not {"{case_id}", "{evidence_id}"} & set(case.path.split("/")):
        return None
    allowed = {401, 404, 405, 412} if "/uploads" in case.path else {401, 404, 405}
    assert response.status_code in allowed, (
        f"an outsider got {response.status_code} from {case.method} {case.path}, not 404"
    )
    return None


def _config(
    headers: dict[str, str],
    parameters: dict[str, str],
    examples: int,
    extra_checks: tuple[str, ...] = (),
) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "headers": headers,
            "parameters": parameters,
            "seed": 20261206,
            "workers": 1,
            "generation": {
                "mode": "all",
                "max-examples": examples,
                "deterministic": True,
                "database": "none",
            },
            "checks": {
                "enabled": False,
                **{
                    name: {"enabled": True}
                    for name in (*CHECKS, "identity_still_signed_in", *extra_checks)
                },
                # tus answers a missing or wrong Tus-Resumable with 412, as its protocol says.
                "negative_data_rejection": {
                    "enabled": True,
                    "expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "412"],
                },
            },
            "operations": [
                {
                    "include-operation-id": operation_id,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [
                                *POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
                                *statuses,
                            ]
                        }
                    },
                }
                for operation_id, statuses in REFUSED_FOR_MEANING.items()
            ],
            # No links are declared between operations: nothing for the stateful phase.
            "phases": {"stateful": {"enabled": False}},
        }
    )


def _schema(
    app: Any, headers: dict[str, str], seeded: dict[str, Any], extra_checks: tuple[str, ...] = ()
) -> Any:
    parameters = {
        "path.case_id": seeded["case"],
        "path.evidence_id": seeded["item"],
        "path.user_id": seeded["viewer_id"],
        "path.filing_id": seeded["filing"],
    }
    examples = EXAMPLES[seeded["backend"]]
    SIGNED_IN.add(headers["Authorization"])
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json", app, config=_config(headers, parameters, examples, extra_checks)
    )
    # The multipart uploads (an item, a translation) and the tus PATCH carry bytes whose
    # meaning (a file, a chunk at an offset of an upload created first) schemathesis cannot
    # produce: their own suites (test_evidence_api, test_derivatives_api, test_tus) drive
    # them. Every other operation, tus included, is here.
    # Revoking tokens is left out too: schemathesis reuses the ids it sees in responses, so it
    # would revoke the very token the run signs in with, and revoking all of them does that
    # whatever the input (test_me_api and test_account_security_api cover both).
    return (
        schema.exclude(path_regex=r"^/api/v1/cases/\{case_id\}/evidence$", method="POST")
        .exclude(path_regex=r"^/api/v1/evidence/\{evidence_id\}/translations$", method="POST")
        .exclude(path_regex=r"^/api/v1/uploads/\{upload_id\}$", method="PATCH")
        .exclude(path_regex=r"^/api/v1/me/tokens/\{token_id\}$", method="DELETE")
        .exclude(path_regex=r"^/api/v1/me/tokens$", method="DELETE")
    )


def _extra_header(check: Any) -> bool:
    """Schemathesis counts a header the document does not name as invalid input. Clients and
    proxies add headers of their own; the API ignores them, on purpose."""
    failure = check.failure_info.failure
    return check.name == "negative_data_rejection" and (
        "in header - object with unexpected properties" in failure.message
    )


def _failures(schema: Any) -> list[str]:
    """Every check that failed, as 'METHOD /path: check: message (status)'."""
    found: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError | events.FatalError):
            found.append(f"error: {event}")
        if not isinstance(event, events.ScenarioFinished) or event.status != Status.FAILURE:
            continue
        for case_id, checks in event.recorder.checks.items():
            case = event.recorder.cases[case_id].value
            response = event.recorder.find_response(case_id=case_id)
            status = response.status_code if response is not None else None
            for check in checks:
                if check.failure_info is not None and not _extra_header(check):
                    failure = check.failure_info.failure
                    found.append(
                        f"{case.method} {case.formatted_path} -> {status}: {check.name}: "
                        f"{failure.title}: {failure.message[:300]}\n"
                        f"  {check.failure_info.code_sample}"
                    )
    return found


@pytest.fixture
def seeded(session, client, database_url):
    found = seed_case(session, client)
    filing = client.post(
        f"/api/v1/cases/{found['case']}/filings",
        json={"title": "Submission", "type": "request_or_submission", "classification": "public"},
        headers=found["lead"],
    )
    assert filing.status_code == 201, filing.get_json()
    found["filing"] = filing.get_json()["id"]
    return {**found, "backend": database_url.split(":", 1)[0].split("+")[0]}


def test_contract_as_a_case_lead(app, seeded):
    failures = _failures(_schema(app, seeded["lead"], seeded))
    assert failures == [], "\n".join(sorted(set(failures)))


def test_contract_as_an_outsider(app, seeded):
    failures = _failures(
        _schema(app, seeded["outsider"], seeded, extra_checks=("outsider_learns_nothing",))
    )
    assert failures == [], "\n".join(sorted(set(failures)))
