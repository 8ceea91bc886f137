"""Token provider: reuse until the margin before expiry, share through the store, renew once on 401."""
from __future__ import annotations

import threading

import pytest

from app.passport.client import TokenGrant
from app.passport.errors import PassportCredentialsRejected, PassportUnauthorized
from app.passport.tokens import TokenProvider
from app.store.cache import CacheKeys, MemoryStore
from app.store.lock import LockKeeper
from tests.support.clock import FakeClock

KEYS = CacheKeys("test")
ACCOUNT = "acct"
LEASE_SECONDS = 2.0



class FakeIssuer:
    """Stands in for Passport's token endpoint at the provider's seam."""

    def __init__(self, expires_in: int | None = 3600) -> None:
        self.calls = 0
        self.expires_in = expires_in

    def __call__(self, request_id: str | None) -> TokenGrant:
        self.calls += 1
        return TokenGrant(f"token-{self.calls}", self.expires_in)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def provider(issuer, store, clock, **kwargs) -> TokenProvider:
    options = {"refresh_margin_seconds": 300, "default_ttl_seconds": 120, "lock_seconds": 5.0, **kwargs}
    return TokenProvider(issuer, store, KEYS, ACCOUNT, clock=clock, sleep=clock.sleep,
                         locks=LockKeeper(store, LEASE_SECONDS), **options)


def test_token_is_fetched_once_and_reused(clock):
    issuer = FakeIssuer()
    tokens = provider(issuer, MemoryStore(clock), clock)
    assert tokens.get() == tokens.get() == "token-1"
    assert issuer.calls == 1


def test_token_is_shared_between_providers_through_the_store(clock):
    """Two workers (two providers) on one store make one token call between them."""
    issuer, store = FakeIssuer(), MemoryStore(clock)
    assert provider(issuer, store, clock).get() == provider(issuer, store, clock).get()
    assert issuer.calls == 1


def test_token_is_renewed_a_margin_before_it_expires(clock):
    issuer = FakeIssuer(expires_in=3600)
    tokens = provider(issuer, MemoryStore(clock), clock)
    tokens.get()
    clock.now += 3600 - 300 - 1
    assert tokens.get() == "token-1"
    clock.now += 2
    assert tokens.get() == "token-2"


def test_short_lived_token_is_used_for_half_its_life(clock):
    issuer = FakeIssuer(expires_in=60)
    tokens = provider(issuer, MemoryStore(clock), clock)
    tokens.get()
    clock.now += 29
    assert tokens.get() == "token-1"
    clock.now += 2
    assert tokens.get() == "token-2"


def test_missing_expires_in_falls_back_to_the_configured_default(clock):
    issuer = FakeIssuer(expires_in=None)
    tokens = provider(issuer, MemoryStore(clock), clock, default_ttl_seconds=100)
    tokens.get()
    clock.now += 51
    assert tokens.get() == "token-2"


def test_invalidate_drops_the_token_here_and_in_the_store(clock):
    issuer, store = FakeIssuer(), MemoryStore(clock)
    first, second = provider(issuer, store, clock), provider(issuer, store, clock)
    first.get()
    first.invalidate("token-1")
    assert second.get() == "token-2"


def test_invalidating_an_old_token_keeps_a_newer_one(clock):
    issuer, store = FakeIssuer(), MemoryStore(clock)
    tokens = provider(issuer, store, clock)
    tokens.get()
    tokens.invalidate("token-1")
    tokens.get()
    tokens.invalidate("token-1")  # a late 401 for the old token
    assert provider(issuer, store, clock).get() == "token-2"
    assert issuer.calls == 2


def test_a_401_gets_a_new_token_and_one_retry(clock):
    issuer = FakeIssuer()
    tokens = provider(issuer, MemoryStore(clock), clock)
    seen = []

    def call(token):
        seen.append(token)
        if token == "token-1":
            raise PassportUnauthorized("revoked")
        return "ok"

    assert tokens.call_with_token(call) == "ok"
    assert seen == ["token-1", "token-2"]


def test_a_second_401_is_not_retried_again(clock):
    issuer = FakeIssuer()
    tokens = provider(issuer, MemoryStore(clock), clock)
    attempts = []

    def call(token):
        attempts.append(token)
        raise PassportUnauthorized("no scope")

    with pytest.raises(PassportCredentialsRejected):
        tokens.call_with_token(call)
    assert len(attempts) == 2


class RevokedBefore:
    """Passport after a revocation: every token issued so far is refused, later ones are good."""

    def __init__(self, issuer: FakeIssuer) -> None:
        self.revoked = {f"token-{n}" for n in range(1, issuer.calls + 1)}
        self.seen: list[str] = []

    def __call__(self, token: str) -> str:
        self.seen.append(token)
        if token in self.revoked:
            raise PassportUnauthorized("revoked")
        return "ok"


def test_a_shared_token_refused_after_a_401_is_not_taken_for_a_new_one(clock):
    """Worker A holds token-1; Redis came back empty and another instance stored token-2; then
    Passport revoked both. A's call tries token-1, token-2 (shared), then one asked for now."""
    issuer, store = FakeIssuer(), MemoryStore(clock)
    worker = provider(issuer, store, clock)
    assert worker.get() == "token-1"
    store.delete(KEYS.token(ACCOUNT))  # Redis restarted empty
    assert provider(issuer, store, clock).get() == "token-2"  # another instance fetched
    passport = RevokedBefore(issuer)
    assert worker.call_with_token(passport) == "ok"
    assert passport.seen == ["token-1", "token-2", "token-3"]
    assert provider(issuer, store, clock).get() == "token-3"  # and it is shared now


def test_a_token_asked_for_after_the_401_and_refused_too_means_the_credentials_are_rejected(clock):
    issuer, store = FakeIssuer(), MemoryStore(clock)
    worker = provider(issuer, store, clock)
    worker.get()
    store.delete(KEYS.token(ACCOUNT))
    provider(issuer, store, clock).get()
    attempts = []

    def refuse_all(token):
        attempts.append(token)
        raise PassportUnauthorized("no scope")

    with pytest.raises(PassportCredentialsRejected):
        worker.call_with_token(refuse_all)
    assert attempts == ["token-1", "token-2", "token-3"]


def test_a_token_a_sibling_thread_asked_for_after_the_401_is_used_not_fetched_again(clock):
    issuer, store = FakeIssuer(), MemoryStore(clock)
    worker, sibling_done = provider(issuer, store, clock), []
    worker.get()
    store.delete(KEYS.token(ACCOUNT))
    provider(issuer, store, clock).get()
    passport = RevokedBefore(issuer)

    def call(token):
        clock.now += 1
        if token == "token-2" and not sibling_done:  # meanwhile a sibling thread renewed for itself
            sibling_done.append(worker.call_with_token(passport))
            clock.now += 1
        return passport(token)

    assert worker.call_with_token(call) == "ok"
    assert issuer.calls == 3


def test_waiter_takes_the_token_the_lock_holder_stored(clock):
    """While another worker holds the fetch lock, we poll the store rather than fetch."""
    issuer, store = FakeIssuer(), MemoryStore(clock)
    store.add(KEYS.token_lock(ACCOUNT), b"someone-else", 5.0)
    holder = provider(FakeIssuer(), store, clock)
    original_sleep = clock.sleep

    def sleep_then_holder_finishes(seconds):
        original_sleep(seconds)
        holder._fetch_and_share(None)  # the other worker completes its fetch

    waiting = TokenProvider(issuer, store, KEYS, ACCOUNT, refresh_margin_seconds=300, default_ttl_seconds=120,
                            lock_seconds=5.0, locks=LockKeeper(store, LEASE_SECONDS), clock=clock,
                            sleep=sleep_then_holder_finishes)
    assert waiting.get() == "token-1"
    assert issuer.calls == 0


def test_waiter_fetches_itself_when_the_lock_holder_never_finishes(clock):
    issuer, store = FakeIssuer(), MemoryStore(clock)
    store.add(KEYS.token_lock(ACCOUNT), b"dead-worker", 60.0)
    assert provider(issuer, store, clock, lock_seconds=2.0).get() == "token-1"
    assert issuer.calls == 1


def test_lock_is_released_after_a_fetch(clock):
    store = MemoryStore(clock)
    provider(FakeIssuer(), store, clock).get()
    assert store.get(KEYS.token_lock(ACCOUNT)) is None


def test_lock_is_released_when_the_fetch_fails(clock):
    store = MemoryStore(clock)

    def failing(request_id):
        raise PassportCredentialsRejected("nope")

    with pytest.raises(PassportCredentialsRejected):
        provider(failing, store, clock).get()
    assert store.get(KEYS.token_lock(ACCOUNT)) is None


def test_threads_of_one_worker_fetch_one_token():
    issuer = FakeIssuer()
    store = MemoryStore()
    tokens = TokenProvider(issuer, store, KEYS, ACCOUNT, refresh_margin_seconds=300,
                           default_ttl_seconds=120, lock_seconds=5.0, locks=LockKeeper(store, LEASE_SECONDS))
    results = []
    threads = [threading.Thread(target=lambda: results.append(tokens.get())) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == ["token-1"] * 16
    assert issuer.calls == 1
