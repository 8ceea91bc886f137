"""The record lookup, written once: ``GET /v1/<plural>/<id>`` from the request's headers to the answer.

``RecordLookup.answer`` does all of it, for one declared kind of record (``app.passport.resources``:
a customer, an account, a Bre-B key, a recipient), in the order the service has always judged a
lookup: the caller's authentication (401), its rate limit (429), its scope (403), the id's
spelling and the ``X-Purpose`` header (400), the caller's customer binding (403: for a customer
its id, checked before anything is read; for a record a customer owns, its owner, checked on the
entry, a hit exactly as a miss), then the cache policy (``app.policy.records``) — a fresh hit
straight from one read, anything else through the whole policy, or, for a caller allowed to ask
for it (``Cache-Control: no-cache``), a revalidation (``RecordService.revalidate``) — and the
answer: the stored body with its caching headers, a 304 when the caller has it already, or a
problem (a 404 the policy remembers, a Passport failure). A record that leaves (200 or 304) is one
audit event (``app.web.audit``). It returns status, headers and body; it knows no Flask. The WSGI
fast path (``app.web.fast_path``) and the Flask views (``app.web.api``) are thin adapters around
it, so every lookup gets the same answer whichever serves it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Protocol

from werkzeug.http import parse_etags, unquote_etag

from app.passport.errors import PassportError
from app.passport.resource import Resource
from app.policy.cache_status import UPSTREAM_FAILED
from app.policy.records import CacheResult, RecordAnswer, RecordService
from app.store.entry import CachedRecord
from app.web.answers import JSON, SECURITY_HEADERS, HttpAnswer, problem_answer
from app.web.audit import NOT_MODIFIED, PURPOSE_HEADER, AuditTrail, purpose_of
from app.web.auth import Authenticator, Caller
from app.web.lookup_limit import LookupRateLimit
from app.web.problems import INSUFFICIENT_SCOPE, RECORD_PROBLEMS, Problem, RecordProblems, problem_from_passport
from config.security import PII_SCOPE, REFRESH_SCOPE

# Passport ids are UUIDs; only the canonical 8-4-4-4-12 spelling is accepted (any case), so
# nothing else ever reaches an upstream URL or a cache key (UPSTREAM.md: check before calling).
UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
STATIC_HEADERS = list(SECURITY_HEADERS.items())


def route_of(resource: Resource[Any]) -> str:
    """The Flask route's template: one series in logs, metrics and audit (``/v1/customers/<path:customer_id>``)."""
    return f"/v1/{resource.plural}/<path:{resource.name}_id>"


class Headers(Protocol):
    def get(self, name: str) -> str | None: ...


@dataclass(slots=True)
class LookupAnswer:
    """The answer, and what the request's log line says of it: who asked (once known), cache result."""

    http: HttpAnswer
    caller: Caller | None
    cache: CacheResult | None


class RecordLookup:
    """Answer one lookup of a record of one kind from its id (as in the path) and its request headers."""

    def __init__(self, resource: Resource[Any], authenticator: Authenticator, rate_limit: LookupRateLimit | None,
                 records: RecordService, cache_control: str, audit: AuditTrail,
                 refresh_limit: LookupRateLimit | None = None) -> None:
        self.resource = resource
        self.route = route_of(resource)
        self._is_customer = resource.is_customer  # its own owner: its id is checked, before any read
        self._scope = resource.scope
        self._problems: RecordProblems = RECORD_PROBLEMS[resource.name]
        self._authenticator = authenticator
        self._rate_limit = rate_limit
        self._refresh_limit = refresh_limit
        self._records = records
        self._cache_control = cache_control  # CUSTOMER_CACHE_CONTROL: what a browser may keep of personal data
        self._audit = audit

    def answer(self, raw_id: str, headers: Headers, client: str | None, request_id: str) -> LookupAnswer:
        caller = None
        problems = self._problems
        try:
            caller = self._authenticator.authenticate(headers)
            if self._rate_limit is not None:
                self._rate_limit.check(caller, client)
            if self._scope not in caller.scopes:
                raise Problem(INSUFFICIENT_SCOPE, f"This call needs the {self._scope} scope.")
            record_id = canonical_id(raw_id, problems)
            purpose = purpose_of(headers.get(PURPOSE_HEADER))
            if self._is_customer and not caller.may_read(record_id):
                raise Problem(problems.not_allowed, f"Customer {record_id} is not allowed for this caller.")
            refused = self._refresh_refused(caller, client, headers.get("Cache-Control"))
            if refused is None:
                found = self._revalidated(record_id, request_id)
            else:
                found = self._look_up(record_id, request_id)
                if refused and "; detail=" not in found.cache_status:  # a copy: answers may be shared
                    found = replace(found, cache_status=f"{found.cache_status}; detail={refused}")
            if not self._is_customer and found.entry.found and not caller.may_read_owned(found.entry.owner):
                raise Problem(problems.not_allowed,
                              f"This {self.resource.name} belongs to a customer not allowed for this caller.")
        except Problem as problem:
            return LookupAnswer(problem_answer(problem, request_id), caller, None)
        if not found.entry.found:
            not_found = Problem(problems.not_found, f"Passport has no {self.resource.name} with this id.",
                                cache_headers(found))
            return LookupAnswer(problem_answer(not_found, request_id), caller, found.cache)
        answer = record_answer(found, headers.get("If-None-Match"), request_id, self._cache_control, caller)
        if self._audit.enabled:
            result = NOT_MODIFIED if answer.status == 304 else found.cache.value
            self._audit.disclosed(self.resource.name, [(record_id, found.entry.owner, result)], caller=caller.name,
                                  route=self.route, request_id=request_id, purpose=purpose)
        return LookupAnswer(answer, caller, found.cache)

    def _refresh_refused(self, caller: Caller, client: str | None, cache_control: str | None) -> str | None:
        """None when this lookup is to revalidate; else why not (``""``: it did not ask).

        A refresh over ``RATELIMIT_REFRESH`` is answered as a plain lookup, not refused: the header
        is a hint (some HTTP clients send ``no-cache`` on every request), and the limit is there to
        protect Passport, which the cache does.
        """
        if not asks_revalidation(cache_control):
            return ""
        if REFRESH_SCOPE not in caller.scopes:
            return "refresh-not-allowed"
        if self._refresh_limit is not None:
            try:
                self._refresh_limit.check(caller, client)
            except Problem:
                return "refresh-rate-limited"
        return None

    def _revalidated(self, record_id: str, request_id: str) -> RecordAnswer:
        """The record fresh from Passport (or as fresh as a moment ago: one fetch for a storm)."""
        try:
            return self._records.revalidate(record_id, request_id)
        except PassportError as error:
            raise upstream_problem(error, self._problems) from None

    def _look_up(self, record_id: str, request_id: str) -> RecordAnswer:
        """A fresh hit straight from one read; anything else through the whole cache policy."""
        read = self._records.read(record_id)
        try:
            hit = self._records.cached_hit(record_id, read)
            return hit or self._records.lookup(record_id, request_id, read)
        except PassportError as error:
            raise upstream_problem(error, self._problems) from None


def upstream_problem(error: PassportError, problems: RecordProblems) -> Problem:
    """The problem for a lookup Passport failed with no copy to serve: a miss, and its Cache-Status."""
    problem = problem_from_passport(error, problems)
    problem.extra_headers.update({"X-Cache": CacheResult.MISS.value, "Cache-Status": str(UPSTREAM_FAILED)})
    return problem


def asks_revalidation(cache_control: str | None) -> bool:
    """Whether a request's ``Cache-Control`` asks for a copy fresh from the origin (RFC 9111 §5.2.1):
    ``no-cache``, or ``max-age=0``. Other directives are not acted on."""
    if not cache_control:
        return False
    directives = {part.strip().lower().replace('"', "") for part in cache_control.split(",")}
    return "no-cache" in directives or "max-age=0" in directives


def canonical_id(raw: str, problems: RecordProblems) -> str:
    """Return ``raw`` as a lower-case UUID, or raise the kind's 400 problem."""
    if not UUID_PATTERN.fullmatch(raw):
        raise Problem(problems.invalid_id, f"The {problems.name} id must be a UUID such as {problems.example_id}.")
    return raw.lower()


def seen_by(entry: CachedRecord, caller: Caller) -> tuple[bytes, str]:
    """The stored body ``caller`` may see, and its ETag: the masked one for a caller without ``pii.read``
    when the entry has one (every route that sends a record chooses here)."""
    if entry.masked_body is not None and entry.masked_etag is not None and PII_SCOPE not in caller.scopes:
        return entry.masked_body, entry.masked_etag
    return entry.body, entry.etag


def record_answer(found: RecordAnswer, if_none_match: str | None, request_id: str, cache_control: str,
                  caller: Caller) -> HttpAnswer:
    """The stored bytes ``caller`` may see with their caching headers; a 304 when it has them already."""
    body, etag = seen_by(found.entry, caller)
    headers = [("ETag", etag), *cache_headers(found, cache_control).items(), *STATIC_HEADERS,
               ("X-Request-ID", request_id)]
    if not_modified(if_none_match, etag):
        return HttpAnswer(304, headers, b"")
    headers += [("Content-Type", JSON), ("Content-Length", str(len(body)))]
    return HttpAnswer(200, headers, body)


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """True when ``If-None-Match`` names the entry's ETag (RFC 9110 §13.1.2: weak comparison)."""
    return bool(if_none_match) and parse_etags(if_none_match).contains_weak(unquote_etag(etag)[0])


def cache_headers(found: RecordAnswer, cache_control: str | None = None) -> dict[str, str]:
    """Say how fresh the answer is and where it came from (RFC 9111 Age, RFC 9211 Cache-Status).

    ``cache_control`` is what a browser may do with personal data (``CUSTOMER_CACHE_CONTROL``);
    without one (a remembered 404, no data in it) the browser may keep the answer as long as we do.
    """
    entry = found.entry
    headers = {
        "Cache-Control": cache_control or f"private, max-age={max(0, entry.fresh_left(found.answered_at))}",
        "X-Cache": found.cache.value,
        "Cache-Status": found.cache_status,
    }
    if found.cache in (CacheResult.HIT, CacheResult.STALE):
        headers["Age"] = str(entry.age(found.answered_at))
    return headers
