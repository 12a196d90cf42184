"""The one table from error to HTTP answer (casefile/errors.py): every domain error class in
the code base has its row, and no error class carries HTTP knowledge itself."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import casefile
from casefile import errors, failures
from casefile.logic.errors import Busy, DomainError, TooManyAttempts, ValidationFailed
from casefile.logic.evidence.tus import OffsetMismatch


def _import_everything() -> None:
    for module in pkgutil.walk_packages(casefile.__path__, "casefile."):
        importlib.import_module(module.name)


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def domain_errors() -> set[type[DomainError]]:
    _import_everything()
    return {cls for cls in _subclasses(DomainError) if cls.__module__.startswith("casefile.")}


def test_every_domain_error_class_has_its_own_row():
    classes = domain_errors()
    names = {cls.__qualname__ for cls in classes}  # the walk reaches every layer's classes
    assert {"NotFound", "IntegrityFailure", "ChecksumMismatch", "MalformedBody"} <= names
    assert {"UnsupportedTusVersion", "BackupError"} <= names
    unmapped = classes - set(errors.ANSWERS)
    missing = sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in unmapped)
    assert missing == []


def test_no_error_class_carries_an_http_status_or_code():
    for cls in {DomainError} | domain_errors():
        for name in ("status", "code", "retry_after_seconds"):
            assert not hasattr(cls, name), f"{cls.__qualname__}.{name}"


def test_the_table_holds_http_statuses_and_json_codes():
    for cls, answer in errors.ANSWERS.items():
        assert 400 <= answer.status < 600, cls
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", answer.code), cls
    for failure, answer in errors.FAILURE_ANSWERS.items():
        assert answer.status in {503, 507}, failure
    assert set(errors.FAILURE_ANSWERS) == {
        failures.DATABASE_UNAVAILABLE,
        failures.STORAGE_UNAVAILABLE,
        failures.STORAGE_FULL,
        failures.THROTTLE_UNAVAILABLE,
    }


def test_a_subclass_is_answered_as_itself_not_as_its_parent():
    assert errors.answer_for(OffsetMismatch("x")).code == "offset_mismatch"
    assert errors.answer_for(OffsetMismatch("x")).status == 409


def test_a_class_outside_the_table_is_answered_as_its_nearest_ancestor():
    class Unlisted(ValidationFailed):
        pass

    answer = errors.answer_for(Unlisted({"field": "problem"}))
    assert (answer.status, answer.code) == (422, "validation_error")


@pytest.mark.parametrize(
    ("error", "seconds"),
    [(TooManyAttempts(600), "600"), (TooManyAttempts(61), "61"), (Busy(), "2")],
)
def test_retry_after_comes_from_the_table(app, error, seconds):
    with app.test_request_context("/api/v1/cases"):
        response = errors.handle_domain(error)
    assert response.headers["Retry-After"] == seconds
    assert response.status_code == errors.answer_for(error).status
    assert response.get_json()["error"]["code"] == errors.answer_for(error).code
