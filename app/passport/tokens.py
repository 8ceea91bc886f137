"""Passport access tokens: fetched rarely, shared by every worker and instance, renewed on 401.

Passport has no refresh token; a token is simply requested again with the client credentials
when it nears ``expires_in`` or when Passport refuses it (tokens can be revoked early). The token
lives in the shared store so that one fetch serves the whole cluster, with an in-process copy so
that most requests do not even ask the store. Only one worker fetches at a time: it holds a
store lock (``app.store.lock``: a short lease renewed while the fetch runs) while the others
poll the store for its result for a bounded time, then fetch on their own rather than wait on.
Without the store (Redis down) each process keeps and renews its own token.

On a 401 the token is dropped and the call retried with the next one. Giving up
(``PassportCredentialsRejected``, the "check the credentials" error) is kept for a token this
process asked Passport for after the refusal: a token found in the store or in-process may
predate the same revocation (another worker fetched it, Redis came back with it), and a refusal
of it says nothing about the credentials. So a call makes at most three tries: the token it had,
the next one shared, and one asked for now.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from app import metrics
from app.passport.client import TokenGrant
from app.passport.errors import PassportCredentialsRejected, PassportUnauthorized
from app.store.cache import CacheKeys, CacheStore, StoreUnavailable
from app.store.lock import LockKeeper, Polling, StoreLock, hold_or_wait

log = logging.getLogger(__name__)

T = TypeVar("T")
LOCK_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class CachedToken:
    access_token: str
    usable_until: float
    stored_as: bytes
    asked_at: float | None = None  # when this process asked Passport for it; None: read from the store

    def asked_since(self, moment: float) -> bool:
        """True for a token this process asked Passport for at or after ``moment``."""
        return self.asked_at is not None and self.asked_at >= moment

    @classmethod
    def decode(cls, raw: bytes | None) -> CachedToken | None:
        """Read ``<usable_until> <token>`` as stored; anything else is no token."""
        if not raw:
            return None
        until, _, token = raw.partition(b" ")
        try:
            return cls(token.decode("ascii"), float(until), raw) if token else None
        except (ValueError, UnicodeDecodeError):
            return None


def account_for(base_url: str, client_id: str) -> str:
    """Name the credentials a token belongs to without putting the client id in a key."""
    return hashlib.sha256(f"{base_url} {client_id}".encode()).hexdigest()[:16]


class TokenProvider:
    """Hand out a valid Passport access token, fetching one only when nobody has it."""

    def __init__(
        self,
        issue: Callable[[str | None], TokenGrant],
        store: CacheStore,
        keys: CacheKeys,
        account: str,
        *,
        refresh_margin_seconds: int,
        default_ttl_seconds: int,
        lock_seconds: float,
        locks: LockKeeper,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._issue = issue
        self._store = store
        self._token_key = keys.token(account)
        self._lock_key = keys.token_lock(account)
        self._refresh_margin = refresh_margin_seconds
        self._default_ttl = default_ttl_seconds
        self._lock_seconds = lock_seconds  # how long to wait for another worker's fetch
        self._polling = Polling(lock_seconds, LOCK_POLL_SECONDS, LOCK_POLL_SECONDS)
        self._locks = locks
        self._clock = clock
        self._sleep = sleep
        self._local: CachedToken | None = None
        self._local_lock = threading.Lock()
        self._last_fetch_failed = False

    def available(self) -> bool:
        """Whether a lookup can count on a token: one is held here, or the last fetch did not fail.

        Never asks Passport or the store: readiness calls it, and must answer at once even when
        Passport is slow (a probe timing out on every instance at once would empty the fleet).
        """
        return self._usable_local() is not None or not self._last_fetch_failed

    def get(self, request_id: str | None = None) -> str:
        """Return a token believed valid: in-process, else shared, else freshly issued."""
        return self._current(request_id).access_token

    def _current(self, request_id: str | None) -> CachedToken:
        token = self._usable_local()
        if token is not None:
            return token
        with self._local_lock:  # one thread per process goes to the store and to Passport
            token = self._usable_local() or self._usable_shared() or self._fetch_coordinated(request_id)
            self._local = token
            return token

    def _asked_since(self, moment: float, request_id: str | None) -> CachedToken:
        """A token this process asked Passport for at or after ``moment``: one a sibling thread got, or a new one."""
        with self._local_lock:
            token = self._local
            if token is None or not token.asked_since(moment):
                token = self._fetch_and_share(request_id)
                self._local = token
            return token

    def invalidate(self, access_token: str) -> None:
        """Forget ``access_token`` here and in the store, unless a newer token replaced it."""
        with self._local_lock:
            if self._local is not None and self._local.access_token == access_token:
                self._local = None
        try:
            shared = CachedToken.decode(self._store.get(self._token_key))
            if shared is not None and shared.access_token == access_token:
                self._store.delete_if_equal(self._token_key, shared.stored_as)
        except StoreUnavailable:
            pass  # nothing shared to forget; the in-process copy is gone already

    def call_with_token(self, call: Callable[[str], T], request_id: str | None = None) -> T:
        """Run ``call(token)``; on a 401, renew the token and retry, until a token asked for since is refused."""
        token = self._current(request_id)
        try:
            return call(token.access_token)
        except PassportUnauthorized:
            refused_at = self._refused(token)
        token = self._current(request_id)
        if not token.asked_since(refused_at):  # shared, maybe as old as the one refused: try it, then a new one
            try:
                return call(token.access_token)
            except PassportUnauthorized:
                self._refused(token)
            token = self._asked_since(refused_at, request_id)  # since the first refusal: after the revocation
        try:
            return call(token.access_token)
        except PassportUnauthorized:
            self._refused(token)
            log.error("Passport refused a newly issued token: check the credentials and their scopes")
            raise PassportCredentialsRejected("a fresh token was refused too") from None

    def _refused(self, token: CachedToken) -> float:
        """Drop a token Passport refused; the moment after which a new token counts as new."""
        refused_at = self._clock()
        self.invalidate(token.access_token)
        return refused_at

    def _usable_local(self) -> CachedToken | None:
        token = self._local
        return token if token is not None and token.usable_until > self._clock() else None

    def _usable_shared(self) -> CachedToken | None:
        try:
            token = CachedToken.decode(self._store.get(self._token_key))
        except StoreUnavailable:
            return None
        return token if token is not None and token.usable_until > self._clock() else None

    def _fetch_coordinated(self, request_id: str | None) -> CachedToken:
        """Fetch under the store lock, or wait for whoever holds it; never wait unboundedly."""
        try:
            token = hold_or_wait(
                self._locks, StoreLock.new(self._lock_key), self._polling,
                work=lambda: self._usable_shared() or self._fetch_and_share(request_id),
                done_meanwhile=self._usable_shared, release=self._locks.release,
                clock=self._clock, sleep=self._sleep,
            )
        except StoreUnavailable:
            return self._fetch_and_share(request_id)  # nobody to coordinate with
        if token is not None:
            return token
        log.warning("waited %.1fs for another worker's token fetch; fetching one here", self._lock_seconds)
        return self._fetch_and_share(request_id)

    def _fetch_and_share(self, request_id: str | None) -> CachedToken:
        asked_at = self._clock()
        try:
            grant = self._issue(request_id)
        except Exception:
            self._last_fetch_failed = True
            metrics.TOKEN_FETCHES.labels("failed").inc()
            raise
        self._last_fetch_failed = False
        metrics.TOKEN_FETCHES.labels("ok").inc()
        lifetime = self._usable_lifetime(grant.expires_in or self._default_ttl)
        usable_until = self._clock() + lifetime
        stored_as = b"%.3f %s" % (usable_until, grant.access_token.encode("ascii"))
        try:
            self._store.set(self._token_key, stored_as, lifetime)
        except StoreUnavailable:
            pass  # kept in-process only until the store is back
        return CachedToken(grant.access_token, usable_until, stored_as, asked_at)

    def _usable_lifetime(self, expires_in: int) -> float:
        """Stop using a token a margin before it expires (at most half its life)."""
        return max(1.0, expires_in - min(self._refresh_margin, expires_in / 2))
