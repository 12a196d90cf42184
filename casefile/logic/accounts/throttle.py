"""Throttling of failed authentication (passwords, TOTP codes, bearer tokens).

It replaces the old hard lockout (5 failures locked an account for 15 minutes, from
anywhere), which let anyone who knew an email address keep its owner out. Only failures are
counted; a correct password or code consumes nothing. Counting uses the `limits` strategies
on Flask-Limiter's storage (memory by default, Redis when several processes serve).

Two budgets, each a stack of limits (e.g. 5/minute, 20/hour, 100/day), so the wait grows
the longer the guessing goes on:

* per client address: failures of any kind from that address, on any account. Exhausted, the
  address gets "too many attempts" for everything until its windows free up.
* per account: failures on that account (by email, known or not, so the answer reveals
  nothing), from any address. Exhausted, it is enforced only against client addresses that
  have themselves failed on that account in the last day. The owner signing in from an
  address with no failures on the account is checked normally and gets in: an attacker can
  slow the account down from their own addresses, but cannot lock its owner out. The price:
  an attacker with many addresses gets one guess per fresh address once the account budget
  is spent, which the per-address budget and the password length rules keep small.

A throttled attempt is refused before the password or code is looked at, so being throttled
says nothing about whether it was right. The one exception (logic/accounts/login.py): a
throttled sign-in may still have its password checked, within a small budget of its own
(`PROBES`, per address and account pair and per address), so that the account's owner, who
knows the password, is told until when sign-in is locked. Those checks count nothing against
the failure budgets, so they neither reset nor extend a lock, and their own budget keeps them
from becoming a way to test passwords quickly while locked.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerHour, parse_many
from limits.strategies import RateLimiter

from casefile.logic.errors import TooManyAttempts

NAMESPACE = "casefile-auth"
# "this address has failed on this account": one failure in a day marks it. The account's
# limits may not look further back than this (settings refuse longer windows).
FAILED_HERE = RateLimitItemPerDay(1)
MARK_SECONDS = FAILED_HERE.get_expiry()
NO_ADDRESS = "-"
# Password checks allowed while throttled, only to tell the owner how long the lock lasts:
# per (account, address) pair, per address over all accounts, and per account over all
# addresses (so that many addresses together get no more than 5 checked guesses an hour
# at a locked account; past it the owner too gets the generic answer until the hour ends).
PROBES_PER_PAIR = (RateLimitItemPerHour(3),)
PROBES_PER_CLIENT = (RateLimitItemPerHour(10),)
PROBES_PER_ACCOUNT = (RateLimitItemPerHour(5),)


def lock_ends(wait: int) -> dt.datetime:
    """The time, `wait` seconds from now, rounded up to the whole minute: "locked until 14:35"
    must not send someone back at 14:35:00 to a lock that holds until 14:35:40."""
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
    if end.second or end.microsecond:
        end += dt.timedelta(minutes=1)
    return end.replace(second=0, microsecond=0)


def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """'5/minute;20/hour;100/day' as limit items; ValueError if malformed or a window is
    longer than a day."""
    items = tuple(parse_many(text))
    if not items:
        raise ValueError("no limits given")
    if any(item.get_expiry() > MARK_SECONDS for item in items):
        raise ValueError("windows longer than a day are not supported")
    return items


@dataclass(frozen=True)
class ThrottlePolicy:
    account: tuple[RateLimitItem, ...]
    client: tuple[RateLimitItem, ...]

    @classmethod
    def parse(cls, account: str, client: str) -> ThrottlePolicy:
        return cls(parse_limits(account), parse_limits(client))


class LimiterSource(Protocol):
    """Flask-Limiter's Limiter, or anything else that hands out a `limits` strategy."""

    @property
    def limiter(self) -> RateLimiter: ...


class Throttle:
    def __init__(self, source: LimiterSource, policy: ThrottlePolicy) -> None:
        self._source = source
        self._policy = policy

    @property
    def _limiter(self) -> RateLimiter:
        return self._source.limiter  # Flask-Limiter's strategy on its configured storage

    def check(self, *, account: str | None, client: str | None) -> None:
        """Raise TooManyAttempts (with the seconds to wait) if this attempt must not even be
        looked at; count nothing."""
        client = client or NO_ADDRESS
        waits = self._waits(self._policy.client, "client", client)
        failed_here = account is not None and not self._limiter.test(
            FAILED_HERE, NAMESPACE, "pair", str(account), client
        )
        if account is not None and failed_here:
            waits += self._waits(self._policy.account, "account", account)
        if waits:
            raise TooManyAttempts(max(waits))

    def failed(self, *, account: str | None, client: str | None) -> None:
        """Count one failure against the client address and (if known) the account."""
        client = client or NO_ADDRESS
        for item in self._policy.client:
            self._limiter.hit(item, NAMESPACE, "client", client)
        if account is not None:
            for item in self._policy.account:
                self._limiter.hit(item, NAMESPACE, "account", account)
            self._limiter.hit(FAILED_HERE, NAMESPACE, "pair", account, client)

    def may_probe(self, *, account: str, client: str | None) -> bool:
        """While throttled: may this attempt's password still be checked (to tell the owner
        how long the lock lasts)? Each call spends one of the probe budget; the failure
        budgets are not touched."""
        client = client or NO_ADDRESS
        allowed = True
        for item in PROBES_PER_PAIR:
            allowed = self._limiter.hit(item, NAMESPACE, "probe", account, client) and allowed
        for item in PROBES_PER_CLIENT:
            allowed = self._limiter.hit(item, NAMESPACE, "probe", client) and allowed
        for item in PROBES_PER_ACCOUNT:
            allowed = self._limiter.hit(item, NAMESPACE, "probe-account", account) and allowed
        return allowed

    def account_locked_until(self, account: str) -> dt.datetime | None:
        """When the account's lock (its spent failure budget) ends, rounded up to the minute
        shown to people; None if it is not locked."""
        wait = self.account_wait(account)
        return None if wait is None else lock_ends(wait)

    def account_wait(self, account: str) -> int | None:
        """Seconds until the account's failure budget frees up, if it is spent (the account
        is then locked for every address that has failed on it); None if it is not."""
        waits = self._waits(self._policy.account, "account", account)
        return max(waits) if waits else None

    def unlock(self, account: str) -> None:
        """An administrator's unlock: the account's failure counts start again from zero.
        Addresses throttled for failures of their own stay throttled."""
        for item in self._policy.account:
            self._limiter.clear(item, NAMESPACE, "account", account)

    def _waits(self, items: Sequence[RateLimitItem], *identifiers: str) -> list[int]:
        now = time.time()
        waits = []
        for item in items:
            if not self._limiter.test(item, NAMESPACE, *identifiers):
                reset = self._limiter.get_window_stats(item, NAMESPACE, *identifiers).reset_time
                waits.append(max(1, math.ceil(reset - now)))
        return waits
