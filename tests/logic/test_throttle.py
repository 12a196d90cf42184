"""Sign-in throttling (issue 8 item 5) in the logic layer: failures only, per client address
and per account, and an account's budget enforced only against addresses that failed on it,
so an attacker slows an account down but cannot lock its owner out."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from casefile.logic.accounts import login
from casefile.logic.accounts.throttle import parse_limits
from casefile.logic.errors import LoginRefused, TooManyAttempts
from casefile.model import SecurityEvent, SecurityEventType
from tests.factories import PASSWORD, make_throttle, make_user
from tests.web.test_auth_web import cheap_password_hashes

ATTACKER, SECOND_ATTACKER, OWNER = "198.51.100.1", "198.51.100.2", "203.0.113.9"
WRONG = "not the password at all"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    cheap_password_hashes(monkeypatch)  # many sign-ins; hashing cost is not what is tested


def attempt(session, throttle, email, password, address):
    return login.check_password(
        session, email, password, throttle=throttle, client_address=address
    )


def fail(session, throttle, email, address, times):
    for _ in range(times):
        with pytest.raises(LoginRefused):
            attempt(session, throttle, email, WRONG, address)


def test_an_attacker_cannot_lock_the_owner_out(session):
    user = make_user(session, "owner@example.org")
    throttle = make_throttle()
    fail(session, throttle, user.email, ATTACKER, 5)
    with pytest.raises(TooManyAttempts) as refused:  # the right password, not looked at
        attempt(session, throttle, user.email, PASSWORD, ATTACKER)
    assert 1 <= refused.value.retry_after <= 60
    # Not locked: the owner, elsewhere, gets in, as often as they like.
    for _ in range(10):
        assert attempt(session, throttle, user.email, PASSWORD, OWNER).user.id == user.id


def test_the_account_budget_applies_to_every_address_that_failed_on_it(session):
    """A second attacker address with one failure of its own on the spent account is
    throttled at once; one that never failed on it is not."""
    user = make_user(session, "owner@example.org")
    throttle = make_throttle(client="100/minute")
    fail(session, throttle, user.email, ATTACKER, 5)
    fail(session, throttle, user.email, SECOND_ATTACKER, 1)
    with pytest.raises(TooManyAttempts):
        attempt(session, throttle, user.email, WRONG, SECOND_ATTACKER)
    # The second attacker's failures elsewhere are their own business.
    fail(session, throttle, "someone.else@example.org", SECOND_ATTACKER, 1)
    assert attempt(session, throttle, user.email, PASSWORD, OWNER).user.id == user.id


def test_the_client_budget_covers_every_account_including_unknown_ones(session):
    user = make_user(session, "owner@example.org")
    throttle = make_throttle(client="10/minute")
    for number in range(10):
        fail(session, throttle, f"guess{number}@example.org", ATTACKER, 1)
    with pytest.raises(TooManyAttempts):  # an account it never tried: still throttled
        attempt(session, throttle, user.email, PASSWORD, ATTACKER)
    assert attempt(session, throttle, user.email, PASSWORD, OWNER).user.id == user.id


def test_only_failures_count(session):
    user = make_user(session, "owner@example.org")
    throttle = make_throttle()
    fail(session, throttle, user.email, OWNER, 4)
    for _ in range(20):
        attempt(session, throttle, user.email, PASSWORD, OWNER)
    fail(session, throttle, user.email, OWNER, 1)  # the fifth failure is still looked at
    with pytest.raises(TooManyAttempts):
        attempt(session, throttle, user.email, PASSWORD, OWNER)


def test_a_throttled_attempt_is_logged(session):
    user = make_user(session, "owner@example.org")
    throttle = make_throttle()
    fail(session, throttle, user.email, ATTACKER, 5)
    with pytest.raises(TooManyAttempts):
        attempt(session, throttle, user.email, "a wrong password again", ATTACKER)
    last = session.scalars(select(SecurityEvent).order_by(SecurityEvent.id.desc())).first()
    assert last.event == SecurityEventType.LOGIN_FAILED
    assert last.user_id == user.id
    assert last.client_address == ATTACKER
    assert last.details["reason"] == "throttled"
    assert last.details["retry_after"] >= 1
    # The right password while throttled (issue 11): logged as such, and still no sign-in.
    with pytest.raises(TooManyAttempts):
        attempt(session, throttle, user.email, PASSWORD, ATTACKER)
    last = session.scalars(select(SecurityEvent).order_by(SecurityEvent.id.desc())).first()
    assert last.event == SecurityEventType.LOGIN_FAILED
    assert last.details["reason"] == "locked"
    assert last.details["retry_after"] >= 1


@pytest.mark.parametrize("text", ["", "five per minute", "5/minute;1/month", "5/year"])
def test_limits_that_make_no_sense_are_refused(text):
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the settings' business
        parse_limits(text)


def test_checks_of_a_locked_accounts_password_are_few_from_any_number_of_addresses():
    """While an account is locked its password is still checked, to tell the owner until when;
    many addresses together get no more than five such checks an hour, not three each."""
    throttle = make_throttle()
    checked = [
        throttle.may_probe(account="aung@example.org", client=f"10.0.{number}.1")
        for number in range(50)
    ]
    assert checked.count(True) == 5
    assert throttle.may_probe(account="other@example.org", client="10.9.9.9")
