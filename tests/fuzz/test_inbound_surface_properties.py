"""Properties of the HTTP surface frontends see, fuzzed through Flask's test client.

A real app on the session's redis-server and Passport emulator (``make_app`` / ``client``); one
app per test function, shared by its examples (Hypothesis runs them all inside one test call, so the
function-scoped fixtures are set up once: the ``function_scoped_fixture`` health check is
suppressed on purpose). The emulator is healthy throughout, so no answer may be a 5xx.

Examples per run in the ``ci`` profile (``deep`` in brackets; see tests/fuzz/conftest.py):

- ``test_any_request_gets_no_5xx_and_4xx_are_problems``                 150 (2500)
  any method, path under /v1/customers/, query, headers and body: never a 5xx; every answer has
  an X-Request-ID (a sane one echoed, else a fresh UUID); every 4xx is problem+json with type,
  title, status, detail and request_id.
- ``test_no_passport_call_for_an_invalid_id``                           150 (2500)
  the same requests: the emulator counts no customer call unless the decoded id is 8-4-4-4-12
  hex (any case); after the batch it has seen only canonical ids that were sent.
- ``test_conditional_get_is_304_only_for_the_current_etag``              50 (833)
- ``test_any_credentials_but_the_key_get_neither_2xx_nor_5xx``          150 (2500)
  caller auth enforced (one API key, HS256 JWTs): any X-API-Key / Authorization values but the
  key itself (near misses, forged, unsigned or mangled tokens) get a 401/403, never a Passport call.
- ``test_signed_tokens_with_any_claims_get_no_5xx_and_only_earned_2xx`` 150 (2500)
  correctly signed tokens with any header and claims: never a 5xx; a 2xx only for a token with
  a live ``exp``, the read scope and (if bound) this customer.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as fs
from tests.support.server_answers import as_served

pytestmark = pytest.mark.timeout(fs.TEST_TIMEOUT_SECONDS)
PROBLEM = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "request_id"}
HTTP_SETTINGS = settings(
    max_examples=fs.HTTP_EXAMPLES, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.large_base_example],
    report_multiple_bugs=False,  # shrink one failure, quickly: every example is an HTTP request
)

API_KEY = "fuzz-api-key-" + "k" * 20
API_KEYS = f"web:{hashlib.sha256(API_KEY.encode()).hexdigest()}"
JWT_SECRET = b"fuzz-jwt-secret-0123456789abcdef0123456789"
JWT_LEEWAY_SECONDS = 30
READ_SCOPE = "customers.read"
PURGE_PATH = re.compile(r"([^/]+)/cache")


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def assert_well_formed(response, request_headers: list[tuple[str, str]] | None = None) -> None:
    """No 5xx; a request id on every answer; every 4xx a complete problem document."""
    status = response.status_code
    assert status < 500, (status, response.data[:300])
    request_id = response.headers.get("X-Request-ID")
    assert request_id, "every answer carries X-Request-ID"
    sent = [value for name, value in request_headers or [] if name.lower() == "x-request-id"]
    if len(sent) == 1 and fs.SANE_REQUEST_ID.fullmatch(sent[0]):
        assert request_id == sent[0], "a sane gateway request id is kept"
    elif not sent:
        assert is_uuid(request_id), "a missing request id is replaced by a fresh one"
    else:
        assert request_id in sent or is_uuid(request_id), "a hostile request id is replaced"
    if 400 <= status < 500:
        assert response.mimetype == PROBLEM, (status, response.content_type)
        if response.request.method != "HEAD":  # HEAD answers carry no body
            problem = json.loads(response.data)
            assert PROBLEM_KEYS <= set(problem), problem
            assert problem["status"] == status
            assert problem["request_id"] == request_id
            assert all(isinstance(problem[k], str) and problem[k] for k in ("type", "title", "detail"))


def requested_customer_id(response) -> str | None:
    """The id the app saw in the decoded path: ``/v1/customers/<id>`` or the purge route's
    ``/v1/customers/<id>/cache``; None for another path."""
    path_info: str = response.request.environ["PATH_INFO"]
    path = path_info.encode("latin-1").decode("utf-8", "replace")
    if not path.startswith(fs.CUSTOMERS_PREFIX):
        return None
    rest = path[len(fs.CUSTOMERS_PREFIX):]
    purged = PURGE_PATH.fullmatch(rest)
    return purged.group(1) if purged else rest


def may_call_passport(response) -> bool:
    """Only a request about a well-formed id may reach Passport (a GET, or a purge with refresh)."""
    customer_id = requested_customer_id(response)
    return customer_id is not None and bool(fs.CUSTOMER_ID.fullmatch(customer_id))


@pytest.fixture
def guarded_client(make_app, emulator, redis_client):
    """Caller authentication enforced: one API key, and HS256 bearer tokens with ``JWT_SECRET``."""
    return as_served(make_app(AUTH_MODE="enforced", AUTH_API_KEYS=API_KEYS, AUTH_JWT_SECRET=JWT_SECRET.decode(),
                              AUTH_JWT_LEEWAY_SECONDS=JWT_LEEWAY_SECONDS)).test_client()


def send(client, req: dict[str, Any]):
    note(f"request: {req['method']!r} {req['path'][:300]!r} query={str(req['query_string'])[:100]!r} "
         f"headers={[(n, v[:80]) for n, v in req['headers']]!r} body={len(req['data'])} bytes")
    # The test client refuses a query string both in the path and as an argument: append it.
    url = req["path"] if req["query_string"] is None else req["path"] + "?" + req["query_string"]
    return client.open(url, method=req["method"], headers=req["headers"], data=req["data"])


# --- arbitrary requests ------------------------------------------------------------------------
@HTTP_SETTINGS
@given(req=fs.http_requests())
def test_any_request_gets_no_5xx_and_4xx_are_problems(client, emulator, req: dict[str, Any]) -> None:
    response = send(client, req)
    event(f"status {response.status_code}")
    assert_well_formed(response, req["headers"])


def test_no_passport_call_for_an_invalid_id(client, emulator) -> None:
    """Per example: no customer call unless the id is well formed. Per batch: the emulator saw
    only canonical (lower-case 8-4-4-4-12) ids that were sent, never anything else."""
    sent_well_formed: set[str] = set()

    @HTTP_SETTINGS
    @given(req=fs.http_requests(), segment=fs.path_segments())
    def one_request(req: dict[str, Any], segment: str) -> None:
        req = {**req, "path": fs.CUSTOMERS_PREFIX + segment}
        before = emulator.customer_calls()
        response = send(client, req)
        calls = emulator.customer_calls() - before
        allowed = may_call_passport(response)
        event("well-formed id" if allowed else "invalid id or method")
        assert_well_formed(response, req["headers"])
        if not allowed:
            assert calls == 0, f"Passport was called for {requested_customer_id(response)!r}"
            assert response.status_code != 200 or response.request.method == "OPTIONS"
        else:
            assert calls <= 1
            sent_well_formed.add(requested_customer_id(response).lower())

    one_request()
    called = set(emulator.stats()["customer_calls"])
    assert all(fs.CUSTOMER_ID.fullmatch(i) and i == i.lower() for i in called), called
    assert called <= sent_well_formed


@settings(HTTP_SETTINGS, max_examples=max(10, fs.HTTP_EXAMPLES // 3))
@given(tags=st.lists(fs.ENTITY_TAGS | fs.HEADER_VALUES, min_size=1, max_size=3).map(", ".join),
       spelling=st.sampled_from([str.lower, str.upper]), method=st.sampled_from(["GET", "HEAD"]))
def test_conditional_get_is_304_only_for_the_current_etag(client, emulator, tags: str, spelling, method) -> None:
    customer_id = spelling(fs.DOCS_CUSTOMER_ID)
    response = client.open(f"/v1/customers/{customer_id}", method=method, headers={"If-None-Match": tags})
    event(f"status {response.status_code}")
    assert_well_formed(response)
    assert response.status_code in (200, 304), response.status_code
    etag = response.headers["ETag"]
    if tags.strip() in (etag, "W/" + etag, "*"):
        assert response.status_code == 304, f"If-None-Match: {tags!r} names the current {etag}"
    if response.status_code == 304:
        assert response.data == b""
        assert etag.strip('"') in tags or "*" in tags, f"304 for If-None-Match: {tags!r}, current {etag}"


# --- caller authentication ---------------------------------------------------------------------
def near_misses_of_the_key() -> st.SearchStrategy[str]:
    """The real key changed a little: case, padding, truncation, extension, its hash, NUL."""
    return st.sampled_from([
        API_KEY.upper(), API_KEY[:-1], API_KEY + "k", API_KEY + "\x00", "\x00" + API_KEY, API_KEY + " ",
        " " + API_KEY, "\t" + API_KEY, API_KEY.replace("-", "_"), hashlib.sha256(API_KEY.encode()).hexdigest(),
        API_KEY + "," + API_KEY, "Bearer " + API_KEY, API_KEY.encode().hex(), "", "*", "null", "undefined",
    ])


def authorization_values() -> st.SearchStrategy[str]:
    wrong_secrets = st.binary(min_size=0, max_size=40).filter(lambda s: s != JWT_SECRET)
    scheme = st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "ApiKey", "Token", "", "Bearer\t"])
    return st.one_of(
        fs.HEADER_VALUES,
        st.tuples(scheme, st.sampled_from([" ", "  ", ""]), fs.forged_bearer_tokens(wrong_secrets)).map("".join),
        st.tuples(scheme, fs.HEADER_VALUES).map(" ".join),
        st.just("Bearer " + API_KEY),
        st.just("ApiKey " + API_KEY),
    )


@st.composite
def credential_headers(draw: st.DrawFn) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(0, 2))):
        headers.append(("X-API-Key", draw(near_misses_of_the_key() | fs.HEADER_VALUES)))
    for _ in range(draw(st.integers(0, 2))):
        headers.append(("Authorization", draw(authorization_values())))
    extra_name = draw(st.sampled_from(["x-api-key", "X-Api-Key", "Api-Key", "X-API-KEY", "Cookie",
                                       "Proxy-Authorization"]))
    if draw(st.booleans()):
        headers.append((extra_name, draw(near_misses_of_the_key())))
    return draw(st.permutations(headers))


@HTTP_SETTINGS
@given(headers=credential_headers(), customer_id=fs.uuid_spellings(), method=st.sampled_from(["GET", "HEAD"]))
def test_any_credentials_but_the_key_get_neither_2xx_nor_5xx(guarded_client, emulator, headers, customer_id, method):
    # The real key, verbatim, in the header the service reads first is a legitimate caller.
    api_keys = [v for n, v in headers if n.lower() == "x-api-key"]
    assume(not api_keys or api_keys[0] != API_KEY)
    note(f"headers: {[(n, v[:120]) for n, v in headers]!r}")
    before = emulator.customer_calls()
    response = guarded_client.open(f"/v1/customers/{customer_id}", method=method, headers=headers)
    event(f"status {response.status_code}")
    assert_well_formed(response, headers)
    assert not 200 <= response.status_code < 300, "authenticated without the key"
    assert response.status_code in (401, 403), response.status_code
    assert emulator.customer_calls() == before, "Passport was called for an unauthenticated request"


def earned_read(claims: Any, customer_id: str, now: float) -> bool:
    """Whether well-signed ``claims`` entitle their bearer to read ``customer_id`` (upper bound)."""
    if not isinstance(claims, dict):
        return False
    try:
        exp = int(claims["exp"])  # as PyJWT reads it (it also takes "123" and 12.5)
    except (KeyError, TypeError, ValueError, OverflowError):
        return False
    if exp + JWT_LEEWAY_SECONDS < now:
        return False
    scopes = claims.get("scope", claims.get("scp", ""))
    scope_list = scopes.split() if isinstance(scopes, str) else scopes
    if not isinstance(scope_list, list) or READ_SCOPE not in scope_list:
        return False
    bound = claims.get("customer_ids")
    return bound is None or (isinstance(bound, list)
                             and customer_id.lower() in [c.lower() for c in bound if isinstance(c, str)])


@st.composite
def signed_tokens(draw: st.DrawFn, customer_id: str) -> tuple[Any, str]:
    claims = draw(fs.jwt_claims(customer_id.lower(), now=time.time()))
    header = draw(st.just({"alg": "HS256", "typ": "JWT"}) | fs.jwt_headers())
    return claims, fs.jwt_text(header, claims, JWT_SECRET)


@HTTP_SETTINGS
@given(customer_id=fs.uuid_spellings(), data=st.data())
def test_signed_tokens_with_any_claims_get_no_5xx_and_only_earned_2xx(guarded_client, emulator, customer_id, data):
    claims, token = data.draw(signed_tokens(customer_id), label="claims, token")
    before = emulator.customer_calls()
    response = guarded_client.get(f"/v1/customers/{customer_id}", headers={"Authorization": f"Bearer {token}"})
    event(f"status {response.status_code}")
    assert_well_formed(response)
    if 200 <= response.status_code < 300:
        assert earned_read(claims, customer_id, time.time()), "a token that grants no read was accepted"
    if response.status_code in (401, 403):
        assert emulator.customer_calls() == before, "Passport was called for a refused caller"
