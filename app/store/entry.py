"""The stored format of a cached lookup: a one-line header, then the ready-to-send body.

``pbff1 <status> <fetched_at> <updated_at> <fresh_seconds> <etag>\\n<body>``

``status`` is 200 for a customer (the body is the frontend JSON exactly as it will be sent, so a
hit is one split and no JSON work) or 404 for a remembered "no such customer" (negative caching;
empty body). The header carries what the cache policy needs: when we fetched it, when Passport
last changed it, how long it is fresh, its ETag. The leading marker is the format version: an
entry written by another version, or unreadable for any reason, decodes to None and is simply a
miss (the cachecontrol way). No pickle: nothing read from Redis is ever executed.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

MARKER = b"pbff1"
HEADER_FIELDS = 6
FOUND = 200
NOT_FOUND = 404
NO_ETAG = "-"


@dataclass(frozen=True)
class CachedRecord:
    status: int
    body: bytes
    etag: str
    fetched_at: float
    updated_at: float
    fresh_seconds: int

    @property
    def found(self) -> bool:
        return self.status == FOUND

    def age(self, now: float) -> int:
        """Whole seconds since the copy was fetched from Passport (the HTTP ``Age``)."""
        return max(0, int(now - self.fetched_at))

    def seconds_left(self, now: float) -> float:
        """Freshness left, exactly: positive while fresh, negative once stale (the policy's clock)."""
        return self.fetched_at + self.fresh_seconds - now

    def is_fresh(self, now: float) -> bool:
        return self.seconds_left(now) > 0

    def stale_for(self, now: float) -> float:
        """How long ago freshness ended (negative while fresh)."""
        return -self.seconds_left(now)

    def fresh_left(self, now: float) -> int:
        """Whole seconds of freshness left, rounded down (for ``max-age`` and ``Cache-Status``)."""
        return math.floor(self.seconds_left(now))


def strong_etag(body: bytes) -> str:
    """Return a strong ETag for ``body``: equal bytes, equal tag (RFC 9110 §8.8.3)."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def found_entry(body: bytes, fetched_at: float, updated_at: float, fresh_seconds: int) -> CachedRecord:
    return CachedRecord(FOUND, body, strong_etag(body), fetched_at, updated_at, fresh_seconds)


def not_found_entry(fetched_at: float, fresh_seconds: int) -> CachedRecord:
    return CachedRecord(NOT_FOUND, b"", NO_ETAG, fetched_at, 0.0, fresh_seconds)


def encode_entry(entry: CachedRecord) -> bytes:
    """Serialise ``entry`` for the store."""
    header = b"%s %d %.3f %.3f %d %s\n" % (
        MARKER, entry.status, entry.fetched_at, entry.updated_at, entry.fresh_seconds, entry.etag.encode("ascii")
    )
    return header + entry.body


def decode_entry(raw: bytes | None) -> CachedRecord | None:
    """Return the entry stored as ``raw``, or None when absent, foreign or damaged."""
    if not raw:
        return None
    header, newline, body = raw.partition(b"\n")
    parts = header.split(b" ")
    if not newline or len(parts) != HEADER_FIELDS or parts[0] != MARKER:
        return None
    try:
        entry = CachedRecord(
            status=int(parts[1]),
            body=body,
            etag=parts[5].decode("ascii"),
            fetched_at=float(parts[2]),
            updated_at=float(parts[3]),
            fresh_seconds=int(parts[4]),
        )
    except (ValueError, UnicodeDecodeError):
        return None
    valid = (entry.status == FOUND and body) or (entry.status == NOT_FOUND and not body)
    return entry if valid else None
