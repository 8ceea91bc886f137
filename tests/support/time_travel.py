"""Make cached entries older without waiting: rewrite their header in Redis, keep their TTL."""
from __future__ import annotations

from dataclasses import replace

import redis

from app.store.entry import decode_entry, encode_entry
from tests.support.keys import STORE_KEYS


def customer_key(customer_id: str) -> str:
    return STORE_KEYS.of("customer").entry(customer_id)


def age_entry(client: redis.Redis, customer_id: str, seconds: float) -> None:
    """Pretend the cached copy of ``customer_id`` was fetched ``seconds`` earlier."""
    key = customer_key(customer_id)
    entry = decode_entry(client.get(key))
    assert entry is not None, f"no cached entry for {customer_id}"
    client.set(key, encode_entry(replace(entry, fetched_at=entry.fetched_at - seconds)), keepttl=True)


def make_stale(client: redis.Redis, customer_id: str, seconds_past_freshness: float) -> None:
    """Age the entry until it is ``seconds_past_freshness`` past the end of its freshness."""
    entry = decode_entry(client.get(customer_key(customer_id)))
    assert entry is not None, f"no cached entry for {customer_id}"
    age_entry(client, customer_id, entry.fresh_seconds + seconds_past_freshness)
