"""The ``Cache-Status`` field (RFC 9211) of every answer the cache gives, as one value.

``passport-bff; hit; ttl=12`` — served from the cache, 12 s of freshness left;
``passport-bff; fwd=miss; stored`` — fetched from Passport and stored; ``collapsed``: the fetch of
another request was waited for; ``fwd=stale`` — Passport failed, a stale copy answered;
``fwd=bypass`` — the store was unavailable; ``detail`` says why when the answer is not the plain case.
"""
from __future__ import annotations

from dataclasses import dataclass

CACHE_NAME = "passport-bff"


@dataclass(frozen=True)
class CacheStatus:
    hit: bool = False
    fwd: str | None = None  # miss, stale, bypass (RFC 9211 section 2.2)
    ttl: int | None = None
    stored: bool = False
    collapsed: bool = False
    detail: str | None = None

    def __str__(self) -> str:
        parts = [CACHE_NAME, "hit" if self.hit else f"fwd={self.fwd}"]
        if self.ttl is not None:
            parts.append(f"ttl={self.ttl}")
        if self.stored:
            parts.append("stored")
        if self.collapsed:
            parts.append("collapsed")
        if self.detail:
            parts.append(f"detail={self.detail}")
        return "; ".join(parts)

    @staticmethod
    def fresh_hit(ttl: int) -> str:
        """``str(CacheStatus(hit=True, ttl=ttl))`` without building the value: every cache hit sends it,
        and building and rendering the value costs a hit ten times the f-string (2 µs, about 4 %)."""
        return f"{CACHE_NAME}; hit; ttl={ttl}"


UPSTREAM_FAILED = CacheStatus(fwd="miss", detail="upstream-error")
