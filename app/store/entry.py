"""The stored format of a cached record: a one-line header, then the ready-to-send body (or two).

``pbff2 <status> <fetched_at> <updated_at> <fresh_seconds> <etag> <owner> <masked_etag> <body_bytes>\\n<body><masked>``

``status`` is 200 for a record (the body is the frontend JSON exactly as it will be sent, so a
hit is one split and no JSON work) or 404 for a remembered "no such record" (negative caching;
empty body). The header carries what the cache policy needs: when we fetched it, when Passport
last changed it, how long it is fresh, its ETag; and what authorization and masking need: the
customer the record belongs to (``-``: none named, as for a customer, which is its own), and,
for a kind with personal fields, the second, masked body (``body_bytes`` long is the whole one,
the rest is the masked one) with its own ETag (``-``: no masked body). The leading marker is the
format version: an entry written by another version, or unreadable for any reason, decodes to
None and is simply a miss (the cachecontrol way). No pickle: nothing read from Redis is ever
executed.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

MARKER = b"pbff2"
HEADER_FIELDS = 9
FOUND = 200
NOT_FOUND = 404
NONE = "-"
ABSENT = b"-"


# Decoded for every lookup, hits included: slots and no frozen __setattr__ (nine fields) cost a hit
# a microsecond less. Treated as immutable all the same (``dataclasses.replace`` makes a changed copy).
@dataclass(slots=True)
class CachedRecord:
    status: int
    body: bytes
    etag: str
    fetched_at: float
    updated_at: float
    fresh_seconds: int
    owner: str | None = None  # the customer the record belongs to, when it names one
    masked_body: bytes | None = None  # the body with personal fields masked, for callers without pii.read
    masked_etag: str | None = None

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


def found_entry(body: bytes, fetched_at: float, updated_at: float, fresh_seconds: int, owner: str | None = None,
                masked_body: bytes | None = None) -> CachedRecord:
    masked_etag = None if masked_body is None else strong_etag(masked_body)
    return CachedRecord(FOUND, body, strong_etag(body), fetched_at, updated_at, fresh_seconds, owner, masked_body,
                        masked_etag)


def not_found_entry(fetched_at: float, fresh_seconds: int) -> CachedRecord:
    return CachedRecord(NOT_FOUND, b"", NONE, fetched_at, 0.0, fresh_seconds)


def encode_entry(entry: CachedRecord) -> bytes:
    """Serialise ``entry`` for the store."""
    header = b"%s %d %.3f %.3f %d %s %s %s %d\n" % (
        MARKER, entry.status, entry.fetched_at, entry.updated_at, entry.fresh_seconds, entry.etag.encode("ascii"),
        (entry.owner or NONE).encode("ascii"), (entry.masked_etag or NONE).encode("ascii"), len(entry.body),
    )
    return header + entry.body + (entry.masked_body or b"")


def decode_entry(raw: bytes | None) -> CachedRecord | None:
    """Return the entry stored as ``raw``, or None when absent, foreign or damaged."""
    if not raw:
        return None
    header, newline, bodies = raw.partition(b"\n")
    parts = header.split(b" ")
    if not newline or len(parts) != HEADER_FIELDS or parts[0] != MARKER:
        return None
    try:
        body_bytes = int(parts[8])
        masked = bodies[body_bytes:]
        has_masked = parts[7] != ABSENT
        entry = CachedRecord(
            int(parts[1]), bodies[:body_bytes], parts[5].decode("ascii"), float(parts[2]), float(parts[3]),
            int(parts[4]), None if parts[6] == ABSENT else parts[6].decode("ascii"),
            masked if has_masked else None, parts[7].decode("ascii") if has_masked else None,
        )
    except (ValueError, UnicodeDecodeError):
        return None
    if body_bytes < 0 or (entry.masked_body is None and masked) or (entry.masked_body is not None and not masked):
        return None
    valid = (entry.status == FOUND and entry.body) or (entry.status == NOT_FOUND and not bodies)
    return entry if valid else None
