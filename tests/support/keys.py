"""The keys the service stores under its default prefix, from the one place that makes them (``CacheKeys``)."""
from __future__ import annotations

from app.store.cache import CacheKeys

STORE_KEYS = CacheKeys("passport-bff")
