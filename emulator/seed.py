"""Deterministic generation of Colombian business customers for the emulator's seed data."""

from __future__ import annotations

import random
import re
import unicodedata
import uuid
from typing import Any

from emulator import seed_words as words
from emulator.formats import MAX_EMAIL_LENGTH, iso_utc_ms

ACTIVE_SHARE = 0.85
NIT_SHARE = 0.8
PLUS_PREFIX_SHARE = 0.3
IDENTIFICATION_DIGITS = 9
MOBILE_SUBSCRIBER_DIGITS = 9
POST_CODE_TAIL_DIGITS = 4
MILLIS_PER_SECOND = 1000.0
MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
MONTH = 30 * DAY
YEAR = 365 * DAY
MAX_CUSTOMER_AGE = 2 * YEAR

# How long ago `updated_at` is, in seconds: (low, high, weight).
UPDATED_AGO_BUCKETS: tuple[tuple[int, int, int], ...] = (
    (1, MINUTE - 1, 1),        # seconds ago
    (MINUTE, HOUR - 1, 2),     # minutes ago
    (HOUR, DAY - 1, 2),        # hours ago
    (DAY, MONTH - 1, 3),       # days ago
    (MONTH, YEAR, 2),          # months ago
)


def seeded_uuid(rng: random.Random) -> str:
    """A version-4 shaped UUID drawn from `rng` (deterministic, unlike uuid4)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def account_id_for(seed: int) -> str:
    """The entity account id reported in token responses, fixed for a seed."""
    return seeded_uuid(random.Random(f"account:{seed}"))


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))


def slug(text: str) -> str:
    """`text` in lower-case ASCII letters and digits only (accents dropped, spaces and signs removed)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def business_name(rng: random.Random) -> tuple[str, str]:
    """A Colombian-sounding business name and the core words used for its email domain."""
    prefix, core = rng.choice(words.NAME_PREFIXES), rng.choice(words.NAME_CORES)
    return f"{prefix} {core} {rng.choice(words.NAME_SUFFIXES)}", f"{prefix} {core}"


def email_for(rng: random.Random, name_core: str) -> str:
    """A company email of at most MAX_EMAIL_LENGTH characters."""
    user, domain_end = rng.choice(words.EMAIL_USERS), rng.choice(words.EMAIL_DOMAINS)
    room = MAX_EMAIL_LENGTH - len(user) - len("@") - len(domain_end)
    return f"{user}@{slug(name_core)[:room]}{domain_end}"


def mobile_phone(rng: random.Random) -> str:
    """A Colombian mobile number in E.164 digits (57 3xx xxx xxxx), sometimes with '+'."""
    number = f"573{_digits(rng, MOBILE_SUBSCRIBER_DIGITS)}"
    return f"+{number}" if rng.random() < PLUS_PREFIX_SHARE else number


def identification(rng: random.Random) -> tuple[str, str]:
    """(identification_type, identification_number): mostly NIT, some CC, 9 digits."""
    kind = "NIT" if rng.random() < NIT_SHARE else "CC"
    first = rng.choice("89") if kind == "NIT" else str(rng.randint(1, 9))
    return kind, first + _digits(rng, IDENTIFICATION_DIGITS - 1)


def _street(rng: random.Random) -> str:
    kind = rng.choice(words.STREET_KINDS)
    return f"{kind} {rng.randint(1, 150)} # {rng.randint(1, 99)}-{rng.randint(1, 99)}"


def _optional_line(rng: random.Random, text: str) -> str | None:
    """Present with text, present but empty, or absent (None)."""
    return rng.choice((text, text, "", None))


def address(rng: random.Random) -> dict[str, str]:
    """A street address in a real Colombian city/department pair."""
    city, state, post_prefix = rng.choice(words.CITIES)
    result = {"line_1": _street(rng)}
    line_2 = _optional_line(rng, f"{rng.choice(words.UNIT_KINDS)} {rng.randint(1, 950)}")
    line_3 = _optional_line(rng, rng.choice(words.PLACE_NAMES))
    if line_2 is not None:
        result["line_2"] = line_2
    if line_3 is not None:
        result["line_3"] = line_3
    post_code = post_prefix + _digits(rng, POST_CODE_TAIL_DIGITS)
    result.update({"city": city, "state": state, "post_code": post_code, "country": "CO"})
    return result


def _seconds_between(rng: random.Random, low: float, high: float) -> float:
    """A random duration in [low, high] seconds, with millisecond resolution."""
    low_ms, high_ms = int(low * MILLIS_PER_SECOND), int(high * MILLIS_PER_SECOND)
    return rng.randint(low_ms, high_ms) / MILLIS_PER_SECOND


def timestamps(rng: random.Random, now: float) -> tuple[str, str]:
    """(created_at, updated_at): updated seconds to months before `now`, created before that."""
    weights = [bucket[2] for bucket in UPDATED_AGO_BUCKETS]
    low, high, _ = rng.choices(UPDATED_AGO_BUCKETS, weights=weights)[0]
    updated = now - _seconds_between(rng, low, high)
    created = updated - _seconds_between(rng, 1, MAX_CUSTOMER_AGE)
    return iso_utc_ms(created), iso_utc_ms(updated)


def generate_customer(rng: random.Random, now: float) -> dict[str, Any]:
    """One customer record in the shape of Passport's docs example."""
    customer_id = seeded_uuid(rng)
    name, name_core = business_name(rng)
    id_type, id_number = identification(rng)
    created_at, updated_at = timestamps(rng, now)
    return {
        "id": customer_id,
        "type": "BUSINESS",
        "status": "ACTIVE" if rng.random() < ACTIVE_SHARE else "INACTIVE",
        "business_name": name,
        "email": email_for(rng, name_core),
        "mobile_phone_number": mobile_phone(rng),
        "identification_type": id_type,
        "identification_number": id_number,
        "merchant_category_code": rng.choice(words.MERCHANT_CATEGORY_CODES),
        "address": address(rng),
        "created_at": created_at,
        "updated_at": updated_at,
    }


def generate_customers(count: int, seed: int, now: float) -> list[dict[str, Any]]:
    """`count` customers, identical for the same seed and start time."""
    rng = random.Random(seed)
    return [generate_customer(rng, now) for _ in range(count)]
