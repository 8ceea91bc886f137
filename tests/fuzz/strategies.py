"""Hypothesis strategies for the fuzz tests, and the small oracles that judge their answers.

Everything here is built from the *contract* (UPSTREAM.md and the frontend shape), not from the
code under test: Passport bodies are generated from the documented field formats, ids from the
8-4-4-4-12 UUID spelling, and the invalid bodies are valid ones with exactly one thing broken.

Lone surrogates and instants at the very ends of datetime's range are kept out of the generators
of *valid* bodies (they are invalid by design: refused, see ``app.passport.schemas.check_renderable``) and
exercised by their own regression properties in the test modules.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

# --- example budgets --------------------------------------------------------------------------
# The active profile (tests/fuzz/conftest.py, HYPOTHESIS_PROFILE) sets max_examples for the pure
# properties; properties that do I/O run a fixed fraction of it.
PURE_EXAMPLES = settings().max_examples  # ci: 300, deep: 5000
HTTP_EXAMPLES = max(10, PURE_EXAMPLES // 2)  # ci: 150, deep: 2500
UPSTREAM_EXAMPLES = max(10, PURE_EXAMPLES // 6)  # ci: 50, deep: 833
KNOWN_BUG_EXAMPLES = max(10, PURE_EXAMPLES // 10)  # ci: 30, deep: 500
# pytest.ini's 120 s per test is too short for a deep run, or for shrinking a failure of an HTTP
# property (each example is several requests): the fuzz modules set their own limit.
TEST_TIMEOUT_SECONDS = 300 if PURE_EXAMPLES <= 300 else 3600

# --- the contract's formats (UPSTREAM.md; the brief of this fuzz suite) -----------------------
CUSTOMER_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
CODE = r"[A-Za-z_]{1,32}"
E164 = r"\+?[1-9][0-9]{1,14}"
IDENTIFICATION_NUMBER = r"[0-9A-Za-z]{1,20}"
MERCHANT_CATEGORY_CODE = r"[0-9]{4}"
COUNTRY = r"[A-Z]{2}"
FORMATS = {
    "type": CODE,
    "status": CODE,
    "identification_type": CODE,
    "mobile_phone_number": E164,
    "identification_number": IDENTIFICATION_NUMBER,
    "merchant_category_code": MERCHANT_CATEGORY_CODE,
}
ADDRESS_TEXT_LIMITS = {"line_1": (1, 140), "city": (1, 140), "state": (1, 140), "post_code": (1, 20)}
OPTIONAL_LINES = ("line_2", "line_3")
EMAIL_MAX = 35
TIMESTAMPS = ("created_at", "updated_at")
REQUIRED_TOP = ("id", "type", "status", "business_name", "email", "mobile_phone_number",
                "identification_type", "identification_number", "merchant_category_code", "address",
                "created_at", "updated_at")
REQUIRED_ADDRESS = ("line_1", "city", "state", "post_code", "country")
KNOWN_TOP = frozenset(REQUIRED_TOP)
KNOWN_ADDRESS = frozenset(REQUIRED_ADDRESS + OPTIONAL_LINES)

FRONTEND_KEYS = frozenset({"id", "type", "status", "name", "identification", "email", "mobilePhone",
                           "merchantCategoryCode", "address", "createdAt", "updatedAt"})
FRONTEND_IDENTIFICATION_KEYS = frozenset({"type", "number"})
FRONTEND_ADDRESS_KEYS = frozenset({"lines", "city", "state", "postCode", "country"})

# Header values the gateway may pass on as the request id (observability docstring: short,
# printable, no spaces); anything else must be replaced by a fresh id.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}")

# --- text --------------------------------------------------------------------------------------
# Lone surrogates (category Cs) are left out of every generator that must pass: a Passport string
# holding one is accepted by the parser and crashes render_customer (known bug, see
# test_known_bug_lone_surrogate_*). Werkzeug's test client cannot send them either.
ANY_CHAR = st.characters(exclude_categories=("Cs",))
# "Printable": no control, unassigned, private-use or line/paragraph separator characters; every
# kind of space and the format characters (ZWJ, bidi marks, BOM) are kept on purpose.
PRINTABLE_CHAR = st.characters(exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"))


@cache
def printable_text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(PRINTABLE_CHAR, min_size=min_size, max_size=max_size)


DIGITS = string.digits
LETTERS = string.ascii_letters
# Fast generators for the patterns above (st.from_regex is slow, and these are drawn a lot);
# every value is checked against its pattern in regex_text.
PATTERN_STRATEGIES: dict[str, st.SearchStrategy[str]] = {
    CODE: st.text(st.sampled_from(LETTERS + "_"), min_size=1, max_size=32),
    E164: st.tuples(st.sampled_from(["", "+"]), st.sampled_from("123456789"),
                    st.text(st.sampled_from(DIGITS), min_size=1, max_size=14)).map("".join),
    IDENTIFICATION_NUMBER: st.text(st.sampled_from(DIGITS + LETTERS), min_size=1, max_size=20),
    MERCHANT_CATEGORY_CODE: st.text(st.sampled_from(DIGITS), min_size=4, max_size=4),
    COUNTRY: st.text(st.sampled_from(string.ascii_uppercase), min_size=2, max_size=2),
}


@cache
def regex_text(pattern: str) -> st.SearchStrategy[str]:
    """Strings that match ``pattern`` as a whole (no trailing newline: fullmatch)."""
    def matches(value: str) -> str:
        assert re.fullmatch(pattern, value), (pattern, value)
        return value

    return PATTERN_STRATEGIES[pattern].map(matches)


@cache
def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON value, nested (NaN and infinities included: Python's json reads them)."""
    text = st.text(ANY_CHAR, max_size=30)
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
        max_leaves=max_leaves,
    )


@cache
def wrong_type_for_string(*, allow_none: bool = False) -> st.SearchStrategy[Any]:
    """A JSON value that is not a string (and not null when the field may be null)."""
    others = st.booleans() | st.integers() | st.floats() | st.lists(json_values(), max_size=3) | st.dictionaries(
        st.text(max_size=5), json_values(), max_size=3)
    return others if allow_none else others | st.none()


# --- a valid Passport customer -----------------------------------------------------------------
ATOMS = st.text(st.sampled_from(LETTERS + DIGITS + "!#$%&'*+/=?^_`{|}~-"), min_size=1, max_size=8)
_ALNUM = st.sampled_from(string.ascii_lowercase + DIGITS)
LABELS = _ALNUM | st.tuples(_ALNUM, st.text(st.sampled_from(string.ascii_lowercase + DIGITS + "-"), max_size=8),
                            _ALNUM).map("".join)
TLDS = st.text(st.sampled_from(string.ascii_lowercase), min_size=2, max_size=6)


@cache
def emails(max_size: int = EMAIL_MAX) -> st.SearchStrategy[str]:
    """Valid dot-atom addresses (RFC 5322 atext) with an ASCII DNS domain, at most ``max_size`` chars."""
    def build(parts: tuple[list[str], list[str], str]) -> str:
        atoms, labels, tld = parts
        domain = ".".join(labels + [tld])
        if len(domain) > max_size - 2:
            domain = "a." + tld
        local = ".".join(atoms)[: max_size - 1 - len(domain)].rstrip(".") or "a"
        address = f"{local}@{domain}"
        assert len(address) <= max_size
        return address

    return st.tuples(st.lists(ATOMS, min_size=1, max_size=3), st.lists(LABELS, min_size=1, max_size=2), TLDS).map(build)


# Offsets in whole minutes (ISO 8601 has no seconds in offsets), within what datetime allows.
OFFSETS = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
# Years 1900-2200: the extremes of datetime's range are a known bug (test_known_bug_extreme_*).
REALISTIC_INSTANTS = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31), timezones=OFFSETS)


def _iso_text(parts: tuple[datetime, str, bool]) -> tuple[str, datetime]:
    moment, timespec, zulu = parts
    if timespec == "milliseconds":
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    text = moment.isoformat(timespec=timespec)
    if zulu and moment.utcoffset() == timedelta(0):
        text = text[: -len("+00:00")] + "Z"
    return text, moment


@cache
def iso_timestamps(
        instants: st.SearchStrategy[datetime] = REALISTIC_INSTANTS) -> st.SearchStrategy[tuple[str, datetime]]:
    """Aware ISO 8601 timestamps as Passport could send them, with the instant each one means."""
    return st.tuples(instants, st.sampled_from(["seconds", "milliseconds", "microseconds", "auto"]),
                     st.booleans()).map(_iso_text)


@cache
def unknown_fields(known: frozenset[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.text(ANY_CHAR, max_size=12).filter(lambda k: k not in known), json_values(4), max_size=2)


OPTIONAL_LINE_VALUES = st.sampled_from([MISSING_LINE := object(), None, ""]) | printable_text(1, 140)


def draw_passport_address(draw: st.DrawFn) -> dict[str, Any]:
    address: dict[str, Any] = {name: draw(printable_text(low, high))
                               for name, (low, high) in ADDRESS_TEXT_LIMITS.items()}
    address["country"] = draw(regex_text(COUNTRY))
    for name in OPTIONAL_LINES:
        value = draw(OPTIONAL_LINE_VALUES)
        if value is not MISSING_LINE:
            address[name] = value
    extra = draw(unknown_fields(KNOWN_ADDRESS))
    return {**extra, **dict(draw(st.permutations(list(address.items()))))}


def draw_passport_customer(draw: st.DrawFn, canonical_id: str) -> dict[str, Any]:
    """A valid Passport ``GET /v1/customers/:id`` body (with unknown extra fields) for ``canonical_id``."""
    body: dict[str, Any] = {
        "id": canonical_id.upper() if draw(st.booleans()) else canonical_id,
        "business_name": draw(printable_text(1, 140)),
        "email": draw(emails()),
        "address": draw_passport_address(draw),
    }
    for name, pattern in FORMATS.items():
        body[name] = draw(regex_text(pattern))
    for name in TIMESTAMPS:
        body[name] = draw(iso_timestamps())[0]
    extra = draw(unknown_fields(KNOWN_TOP))
    return {**extra, **body}


@st.composite
def passport_customers(draw: st.DrawFn, customer_id: str | None = None) -> dict[str, Any]:
    """A valid Passport customer body for ``customer_id`` (a random one when not given)."""
    return draw_passport_customer(draw, customer_id or str(draw(st.uuids())))


# --- one thing broken --------------------------------------------------------------------------
@cache
def _off_format(pattern: str) -> st.SearchStrategy[str]:
    """Text that does not match ``pattern`` as a whole: random text, or a valid value with a few
    characters before or after it (a final ``\\n`` included: ``$`` alone would let it pass)."""
    def off(value: str) -> bool:
        return re.fullmatch(pattern, value) is None

    near_misses = st.tuples(regex_text(pattern), st.text(ANY_CHAR, min_size=1, max_size=3) | st.just("\n"),
                            st.booleans()).map(lambda t: t[1] + t[0] if t[2] else t[0] + t[1])
    return (st.text(ANY_CHAR, max_size=40) | near_misses).filter(off)


@cache
def _not_an_email() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(ANY_CHAR, max_size=35).filter(lambda s: "@" not in s),
        emails(max_size=34).map(lambda e: e.replace("@", "@@", 1)),
        emails(max_size=34).map(lambda e: " " + e),
        emails(max_size=34).map(lambda e: e + "\n"),
        emails(max_size=34).map(lambda e: e.split("@")[0] + "@"),
        emails(max_size=34).map(lambda e: "@" + e.split("@")[1]),
    )


@cache
def _not_a_timestamp() -> st.SearchStrategy[str]:
    def unreadable(value: str) -> bool:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return True
        return False

    return (st.text(ANY_CHAR, max_size=30) | iso_timestamps().map(lambda t: t[0] + "x")
            | iso_timestamps().map(lambda t: t[0].replace("T", "t", 1) + " UTC")).filter(unreadable)


@cache
def _not_a_uuid() -> st.SearchStrategy[str]:
    def unreadable(value: str) -> bool:
        try:
            uuid.UUID(value)
        except ValueError:
            return True
        return False

    return (st.text(ANY_CHAR, max_size=40) | st.uuids().map(lambda u: str(u)[:-1])
            | st.uuids().map(lambda u: str(u) + "0")).filter(unreadable)


MISSING = object()  # a mutation value: delete the field


@dataclass(frozen=True)
class Mutation:
    """One documented rule broken: set (or delete) ``parent.name``."""

    label: str
    parent: str | None  # None: top level; "address": inside the address
    name: str
    value: Any  # MISSING deletes the field; an OtherId is replaced by an id != the expected one


@dataclass(frozen=True)
class OtherId:
    seed: uuid.UUID


def _set(parent: str | None, label: str) -> Callable[[tuple[str, Any]], Mutation]:
    return lambda t: Mutation(f"{label} {'' if parent is None else parent + '.'}{t[0]}", parent, t[0], t[1])


STRING_FIELDS = tuple(n for n in REQUIRED_TOP if n != "address")
MUTATIONS: st.SearchStrategy[Mutation] = st.one_of(
    # a required field missing
    st.sampled_from(REQUIRED_TOP).map(lambda n: (n, MISSING)).map(_set(None, "missing")),
    st.sampled_from(REQUIRED_ADDRESS).map(lambda n: (n, MISSING)).map(_set("address", "missing")),
    # the wrong JSON type
    st.tuples(st.sampled_from(STRING_FIELDS), wrong_type_for_string()).map(_set(None, "wrong type")),
    st.tuples(st.sampled_from(REQUIRED_ADDRESS), wrong_type_for_string()).map(_set("address", "wrong type")),
    st.tuples(st.sampled_from(OPTIONAL_LINES),
              wrong_type_for_string(allow_none=True)).map(_set("address", "wrong type")),
    st.tuples(st.just("address"), st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
              | st.lists(json_values(4), max_size=3)).map(_set(None, "wrong type")),
    # out-of-range lengths
    st.tuples(st.just("business_name"), st.just("") | printable_text(141, 160)).map(_set(None, "length")),
    st.tuples(st.sampled_from(["line_1", "city", "state"]), st.just("") | printable_text(141, 160)).map(
        _set("address", "length")),
    st.tuples(st.just("post_code"), st.just("") | printable_text(21, 40)).map(_set("address", "length")),
    st.tuples(st.sampled_from(OPTIONAL_LINES), printable_text(141, 160)).map(_set("address", "length")),
    st.tuples(st.sampled_from(["type", "status", "identification_type"]),
              st.just("") | st.text(st.sampled_from(LETTERS + "_"), min_size=33, max_size=40)
              ).map(_set(None, "length")),
    st.tuples(st.just("email"), st.tuples(emails(), st.integers(0, 20)).map(  # a valid address, only too long
        lambda t: "a" * (EMAIL_MAX + 1 - len(t[0]) + t[1]) + t[0])).map(_set(None, "length")),
    # bad formats
    st.sampled_from(list(FORMATS)).flatmap(lambda n: st.tuples(st.just(n), _off_format(FORMATS[n]))).map(
        _set(None, "format")),
    st.tuples(st.just("country"), _off_format(COUNTRY)).map(_set("address", "format")),
    st.tuples(st.just("email"), _not_an_email()).map(_set(None, "format")),
    st.tuples(st.sampled_from(TIMESTAMPS), _not_a_timestamp()).map(_set(None, "format")),
    st.tuples(st.just("id"), _not_a_uuid()).map(_set(None, "format")),
    # another customer's body
    st.tuples(st.just("id"), st.uuids().map(OtherId)).map(_set(None, "different")),
)


def apply_mutation(mutation: Mutation, body: dict[str, Any], expected_id: str) -> dict[str, Any]:
    """A copy of ``body`` (valid for ``expected_id``) with ``mutation`` applied."""
    broken = copy.deepcopy(body)
    target = broken if mutation.parent is None else broken[mutation.parent]
    value = mutation.value
    if value is MISSING:
        del target[mutation.name]
        return broken
    if isinstance(value, OtherId):
        value = str(value.seed) if str(value.seed) != expected_id else str(uuid.UUID(int=value.seed.int ^ 1))
    target[mutation.name] = value
    return broken


@st.composite
def invalid_passport_customers(draw: st.DrawFn, customer_id: str | None = None) -> tuple[str, str, dict[str, Any]]:
    """(expected id, what is broken, body) for a body that must be refused."""
    expected = customer_id or str(draw(st.uuids()))
    body = draw_passport_customer(draw, expected)
    mutation = draw(MUTATIONS)
    return expected, mutation.label, apply_mutation(mutation, body, expected)


# --- oracles -----------------------------------------------------------------------------------
def non_blank(line: Any) -> bool:
    return isinstance(line, str) and line.strip() != ""


def parse_instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def expected_frontend_view(body: dict[str, Any], expected_id: str) -> dict[str, Any]:
    """What the frontend JSON must say for a valid Passport ``body`` (timestamps as instants)."""
    address = body["address"]
    return {
        "id": expected_id,
        "type": body["type"],
        "status": body["status"],
        "name": body["business_name"],
        "identification": {"type": body["identification_type"], "number": body["identification_number"]},
        "email": body["email"],
        "mobilePhone": "+" + body["mobile_phone_number"].removeprefix("+"),
        "merchantCategoryCode": body["merchant_category_code"],
        "address": {
            "lines": [address[k] for k in ("line_1", "line_2", "line_3") if non_blank(address.get(k))],
            "city": address["city"],
            "state": address["state"],
            "postCode": address["post_code"],
            "country": address["country"],
        },
        "createdAt": parse_instant(body["created_at"]),
        "updatedAt": parse_instant(body["updated_at"]),
    }


def frontend_view(frontend: dict[str, Any]) -> dict[str, Any]:
    """The frontend JSON with its timestamps read back as instants (for comparison)."""
    view = copy.deepcopy(frontend)
    for name in ("createdAt", "updatedAt"):
        assert isinstance(view[name], str) and view[name].endswith("Z"), view[name]
        view[name] = datetime.fromisoformat(view[name])
    return view


# --- HTTP requests -----------------------------------------------------------------------------
CUSTOMERS_PREFIX = "/v1/customers/"
TOKEN_CHARS = "!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits
TOKENS = st.text(st.sampled_from(TOKEN_CHARS), min_size=1, max_size=20)
METHODS = (st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"])
           | TOKENS | st.sampled_from(["get", "Head", ""]))
DOCS_CUSTOMER_ID = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"


def uuid_spellings() -> st.SearchStrategy[str]:
    """Well-formed ids in any case: the docs customer (found) or a random one (not found)."""
    base = st.just(DOCS_CUSTOMER_ID) | st.uuids().map(str)
    return st.tuples(base, st.sampled_from(["lower", "upper", "mixed"])).map(
        lambda t: t[0] if t[1] == "lower" else t[0].upper() if t[1] == "upper"
        else "".join(c.upper() if i % 2 else c for i, c in enumerate(t[0])))


def almost_uuids() -> st.SearchStrategy[str]:
    """Ids one step away from well formed: braces, urn, no hyphens, a char too many or few, padding."""
    mutations = [
        lambda u: "{" + u + "}",
        lambda u: "urn:uuid:" + u,
        lambda u: u.replace("-", ""),
        lambda u: u[:-1],
        lambda u: u + "0",
        lambda u: u[:8] + "_" + u[9:],
        lambda u: u.replace("a", "g", 1) if "a" in u else "g" + u[1:],
        lambda u: " " + u,
        lambda u: u + " ",
        lambda u: u + "\t",
        lambda u: u + "/",
        lambda u: u + "%0a",
        lambda u: u + "%00",
        lambda u: u + "/..",
        lambda u: "../" + u,
        lambda u: u + "%2F" + u,
        lambda u: u + ".json",
        lambda u: u + "/cache",  # the purge route (DELETE), a 405 for other methods
        lambda u: u + "/cache/",
        lambda u: "x" + u + "/cache",
        lambda u: "\uff10" + u[1:],  # FULLWIDTH DIGIT ZERO: \d-style matching would take it
        lambda u: "\u0661" + u[1:],  # ARABIC-INDIC DIGIT ONE
    ]
    return st.tuples(uuid_spellings(), st.sampled_from(mutations)).map(lambda t: t[1](t[0]))


def percent_encoded(raw: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """``raw`` with some of its characters percent-encoded (UTF-8), as a client may send it."""
    def encode(text: str, mask: list[bool]) -> str:
        out = []
        for index, char in enumerate(text):
            if mask[index % len(mask)]:
                out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
            else:
                out.append(char)
        return "".join(out)

    return st.tuples(raw, st.lists(st.booleans(), min_size=1, max_size=8)).map(lambda t: encode(*t))


def path_segments() -> st.SearchStrategy[str]:
    """What follows ``/v1/customers/``: anything a client could put there (no NUL, no surrogates)."""
    chars = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
    return st.one_of(
        st.text(chars, max_size=60),
        st.text(st.sampled_from("/%.?#;=&+ \\-0123456789abcdefABCDEF"), max_size=50),
        st.sampled_from(["", "..", "../..", "./", "%2e%2e", "%2e%2e%2f", "..%2f..%2fhealthz", "%", "%zz",
                         "%00", "%0d%0a", "%c0%ae", "%ff", "/", "//", "~", "*"]),
        st.tuples(st.text(chars, min_size=1, max_size=4), st.integers(500, 12000)).map(lambda t: t[0] * t[1]),
        uuid_spellings(),
        almost_uuids(),
        percent_encoded(uuid_spellings() | almost_uuids()),
    )


HEADER_VALUE_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\r\n")
HEADER_VALUES = st.one_of(
    st.text(HEADER_VALUE_CHARS, max_size=60),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    st.tuples(st.text(HEADER_VALUE_CHARS, min_size=1, max_size=3), st.integers(100, 6000)).map(lambda t: t[0] * t[1]),
)
KNOWN_HEADER_NAMES = st.sampled_from([
    "X-Request-ID", "X-API-Key", "Authorization", "If-None-Match", "If-Match", "If-Modified-Since", "Accept",
    "Accept-Encoding", "Accept-Language", "Content-Type", "Origin", "Access-Control-Request-Method",
    "Access-Control-Request-Headers", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
    "Forwarded", "Cookie", "Range", "Cache-Control", "Pragma", "Expect", "Upgrade", "Connection",
    "Content-Encoding", "Transfer-Encoding", "Content-Length", "X-HTTP-Method-Override", "TE",
])


SANE_REQUEST_IDS = st.tuples(st.sampled_from(LETTERS + DIGITS),
                             st.text(st.sampled_from(LETTERS + DIGITS + "._:+=/-"), max_size=127)).map("".join)


def _docs_customer_etag() -> str:
    """The strong ETag of the docs customer's frontend body (so that some conditional GETs match)."""
    from app.passport.schemas import parse_passport_customer, render_customer
    from app.store.entry import strong_etag

    example = json.loads('{"business_name": "changing", "type": "BUSINESS", "created_at": "2025-10-09T10:40:27.446Z", '
                         '"updated_at": "2025-10-09T17:19:27.951Z", "email": "eAqpUh6u@example.com", '
                         '"status": "ACTIVE", "identification_number": "903978023", "merchant_category_code": "0412", '
                         '"mobile_phone_number": "573956158117", "address": {"line_3": "Calle 20 675", '
                         '"city": "Cartagena", "line_1": "Diagonal 46 1104", "country": "CO", "post_code": "101010", '
                         '"state": "Bolivar", "line_2": "Carrera 18 2111"}, "identification_type": "NIT", '
                         f'"id": "{DOCS_CUSTOMER_ID}"}}')
    return strong_etag(render_customer(parse_passport_customer(example, DOCS_CUSTOMER_ID)))


_ETAG = _docs_customer_etag()
ENTITY_TAGS = st.sampled_from([
    _ETAG, "W/" + _ETAG, "*", f'"x", {_ETAG}', f"{_ETAG},{_ETAG}", _ETAG[1:-1], _ETAG[:-1], '"', '""', "W/", "W/*",
    f"*, {_ETAG}", '"\"', _ETAG.upper(), " " + _ETAG + " ", ",,,", _ETAG + ";q=1",
])


@st.composite
def header_lists(draw: st.DrawFn) -> list[tuple[str, str]]:
    headers = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(KNOWN_HEADER_NAMES | TOKENS)
        if name.lower() == "content-length":
            value = draw(st.text(st.sampled_from(DIGITS), min_size=1, max_size=12) | HEADER_VALUES)
        elif name.lower() == "x-request-id":
            value = draw(SANE_REQUEST_IDS | HEADER_VALUES)
        elif name.lower() in ("if-none-match", "if-match"):
            value = draw(ENTITY_TAGS | HEADER_VALUES)
        else:
            value = draw(HEADER_VALUES)
        headers.append((name, value))
    return headers


BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=512),
    st.text(ANY_CHAR, max_size=200).map(lambda t: t.encode("utf-8")),
    st.tuples(st.binary(min_size=1, max_size=4), st.integers(10_000, 40_000)).map(lambda t: t[0] * t[1]),
)


@st.composite
def http_requests(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments for ``FlaskClient.open`` aimed at ``/v1/customers/...``."""
    prefix = draw(st.sampled_from([CUSTOMERS_PREFIX] * 8 + ["/v1/customers", "/v1/Customers/", "/v1//customers/"]))
    return {
        "path": prefix + draw(path_segments()),
        "method": draw(METHODS),
        "query_string": draw(st.none() | st.text(ANY_CHAR, max_size=60)
                             | st.sampled_from(["refresh=true", "refresh=false", "refresh=TRUE", "refresh=1",
                                                "refresh=true&refresh=false", "refresh"])),
        "headers": draw(header_lists()),
        "data": draw(BODIES),
    }


# --- caller credentials ------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_text(header: Any, claims: Any, secret: bytes | None) -> str:
    """A compact JWS built by hand (any header and claims, even ones PyJWT would refuse to encode)."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest() if secret else b""
    return signing_input + "." + b64url(signature)


def jwt_headers() -> st.SearchStrategy[Any]:
    algorithms = (st.sampled_from(["HS256", "none", "None", "NONE", "RS256", "ES256", "HS512", "PS256", ""])
                  | json_values())
    return st.one_of(
        st.fixed_dictionaries({"alg": algorithms}, optional={"typ": st.just("JWT") | json_values(),
                                                             "kid": json_values(), "crit": json_values(),
                                                             "jku": st.just("http://127.0.0.1:1/jwks"),
                                                             "b64": st.booleans()}),
        json_values(),
    )


def jwt_claims(customer_id: str | None = None, now: float | None = None) -> st.SearchStrategy[Any]:
    """Claims sets: half plausible (a future ``exp``, a read scope, maybe a customer binding), half chaos."""
    now = now or 0.0
    future = st.integers(60, 10**9).map(lambda d: int(now + d))
    past = st.integers(1, 10**9).map(lambda d: int(now - d))
    times = future | past | st.integers() | st.floats() | json_values(4)
    scope = st.sampled_from(["customers.read", "customers.read customers.purge", "customers.purge", "",
                             "CUSTOMERS.READ", "customers.readx", " customers.read "]) | json_values(4)
    own = [customer_id, customer_id.upper()] if customer_id else ["x"]
    ids = st.lists(st.sampled_from(own) | st.uuids().map(str), max_size=3)
    plausible = st.fixed_dictionaries(
        {"exp": future, "scope": st.sampled_from(["customers.read", "customers.read customers.purge",
                                                  "openid customers.read"])},
        optional={"customer_ids": ids, "sub": st.text(max_size=80) | json_values(4), "nbf": past, "iat": past},
    )
    chaotic = st.fixed_dictionaries({}, optional={
        "exp": times, "nbf": times, "iat": times, "scope": scope,
        "scp": scope | st.lists(st.text(max_size=20), max_size=3), "customer_ids": ids | json_values(4),
        "sub": json_values(4), "iss": json_values(4), "aud": json_values(4)})
    return plausible | chaotic | json_values()


def forged_bearer_tokens(wrong_secrets: st.SearchStrategy[bytes]) -> st.SearchStrategy[str]:
    """JWS tokens that are not signed with the service's secret: unsigned, wrongly signed, mangled."""
    return st.one_of(
        st.builds(jwt_text, jwt_headers(), jwt_claims(), st.none()),
        st.builds(jwt_text, jwt_headers(), jwt_claims(), wrong_secrets),
        st.lists(st.text(st.sampled_from(string.ascii_letters + string.digits + "-_=+/"), max_size=40),
                 min_size=1, max_size=4).map(".".join),
    )
