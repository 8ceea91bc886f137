"""The Passport client: every HTTP call to Passport, with a timeout on each, errors translated here.

Its exceptions are the tree of ``app.passport.errors``.

Resilience lives here too, around each call: a record GET is retried (tenacity: jittered
exponential backoff) only on connection errors and 502/503/504, inside one overall deadline;
each attempt, however its bytes trickle, ends by its own time budget and by that deadline
(``app.passport.upstream_budget``); every call passes a circuit breaker that opens on failures of Passport
itself (timeouts, connection errors, 5xx, 429), never on a 404, a 403 or one record's bad body.

Passport's error bodies are undocumented and never relied upon: they are read (bounded) and
dropped, never logged or passed on.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlencode, urlsplit

import marshmallow as ma
import requests
import urllib3
from requests.adapters import HTTPAdapter
from tenacity import (
    DoAttempt,
    DoSleep,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from app import metrics, tracing
from app.breaker import CircuitBreaker, CircuitOpen
from app.observability import add_upstream_time
from app.passport.back_pressure import FleetPause, InFlightLimit, RetryBudget, retry_after_seconds
from app.passport.errors import (
    PassportBadResponse,
    PassportBusy,
    PassportCircuitOpen,
    PassportCredentialsRejected,
    PassportForbidden,
    PassportNotFound,
    PassportOverloaded,
    PassportPaused,
    PassportRateLimited,
    PassportRejectedRequest,
    PassportServerError,
    PassportTimeout,
    PassportUnauthorized,
    PassportUnreachable,
    is_passport_failure,
    is_retryable,
)
from app.passport.schemas import FullMatch
from app.passport.upstream_budget import BudgetedAdapter, PassportPoolBusy, attempt_budget

log = logging.getLogger(__name__)
T = TypeVar("T")

TOKEN_PATH = "/v1/iam/oauth/tokens"
LIST_PATH = "/v1/customers"
TOKEN_ENDPOINT = "token"  # the metrics' ``endpoint`` label of token and list calls (records: their kind's name)
LIST_ENDPOINT = "list"
NOT_FOUND_STATUSES = (404,)
USER_AGENT = "passport-bff/1"
CHUNK_BYTES = 64 * 1024
DEFAULT_MAX_CONNECTIONS = 100  # per worker (PASSPORT_MAX_CONNECTIONS)
DEFAULT_MAX_RETRY_AFTER_SECONDS = 300.0
PAUSED = "paused"


STATUS_OUTCOMES = {200: "ok", 401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate_limited"}
MAX_BACKOFF_SECONDS = 1.0


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_in: int | None


class TokenGrantSchema(ma.Schema):
    """The token endpoint's answer; only what we use is required (the rest is unofficial)."""

    class Meta:
        unknown = ma.EXCLUDE

    # A bearer token is visible ASCII without spaces (RFC 6750 §2.1 b64token).
    access_token = ma.fields.String(required=True, validate=FullMatch(r"^[!-~]{1,8192}$"))
    expires_in = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1), strict=True)


TOKEN_GRANT = TokenGrantSchema()


class PassportClient:
    """Talk to one Passport base URL with one set of client credentials."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout_seconds: float,
        connect_timeout_seconds: float,
        max_response_bytes: int,
        breaker: CircuitBreaker,
        deadline_seconds: float,
        retries: int,
        retry_backoff_seconds: float,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        pause: FleetPause | None = None,
        in_flight: InFlightLimit | None = None,
        retry_budget: RetryBudget | None = None,
        max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._host = urlsplit(self.base_url).hostname or ""
        self.breaker = breaker
        self._credentials = {"client_id": client_id, "client_secret": client_secret}
        self._connect_timeout = connect_timeout_seconds
        self._attempt_seconds = timeout_seconds
        self._max_response_bytes = max_response_bytes
        self._deadline_seconds = deadline_seconds
        self._retries = retries
        self._retry_backoff = retry_backoff_seconds
        self._max_connections = max_connections
        self._pause = pause
        self._in_flight = in_flight
        self._retry_budget = retry_budget
        self._max_retry_after = max_retry_after_seconds
        self._session = self._new_session()
        self._pool, self._target, self._headers = self._transport()
        self._retrying = self._new_retrying()

    def _new_session(self) -> requests.Session:
        """A keep-alive session whose proxy and CA settings are read from the environment once.

        requests reads ``HTTPS_PROXY``/``NO_PROXY``, ``REQUESTS_CA_BUNDLE`` and ``.netrc`` again on
        every call (``trust_env``): about a tenth of a miss's CPU. They are taken once here, as the
        rest of the configuration is; ``.netrc`` credentials are never wanted (we send tokens).
        """
        session = requests.Session()
        from_environment = session.merge_environment_settings(self.base_url, {}, None, None, None)
        session.proxies.update(from_environment["proxies"])
        session.verify = from_environment["verify"]
        session.trust_env = False
        session.mount(self.base_url, BudgetedAdapter(pool_maxsize=self._max_connections, pool_block=True))
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        return session

    def _transport(self) -> tuple[Any, str, dict[str, str]]:
        """The connection pool requests would send our calls through, the target prefix, the headers.

        requests decides, once, everything about reaching Passport: the proxy (``NO_PROXY`` too), the
        TLS verification and CA bundle, the pool (``BudgetedAdapter``'s, bounded) and whether the
        target is a path or, through an HTTP proxy, the absolute URL. Each call then goes straight
        to that urllib3 pool: ``Session.send`` would build a ``Response``, copy headers into
        case-insensitive dicts, run hooks and extract cookies twice per call — about an eighth of
        a miss's instructions, for nothing a Passport call uses (no cookies, no redirects, no hooks).
        """
        session = self._session
        template = session.prepare_request(requests.Request("GET", self.base_url))
        adapter = cast(HTTPAdapter, session.get_adapter(self.base_url))  # _new_session's BudgetedAdapter
        pool = adapter.get_connection_with_tls_context(template, session.verify, session.proxies)
        target = adapter.request_url(template, session.proxies).rstrip("/")
        return pool, target, {name: str(value) for name, value in session.headers.items()}

    @property
    def state(self) -> str:
        """For readiness: ``paused`` while Passport's pause is honoured, else the breaker's state."""
        if self._pause is not None and self._pause.paused:
            return PAUSED
        return self.breaker.state

    def issue_token(self, request_id: str | None = None) -> TokenGrant:
        """Ask Passport for a new access token with our client credentials."""
        return self._guarded(lambda: self._issue_token_once(request_id))

    def _issue_token_once(self, request_id: str | None) -> TokenGrant:
        body = dict(self._credentials, grant_type="client_credentials")
        deadline = time.monotonic() + self._attempt_seconds  # one attempt, never retried
        status, content, headers = self._send(TOKEN_ENDPOINT, "POST", TOKEN_PATH, request_id, deadline,
                                              json_body=body)
        if status in (400, 401, 403):
            log.error("Passport refused our client credentials (HTTP %s): check PASSPORT_CLIENT_ID/SECRET", status)
            raise PassportCredentialsRejected(f"token endpoint answered {status}")
        self._raise_for_status(status, headers)
        try:
            return TokenGrant(**TOKEN_GRANT.load(_decode_json(content)))
        except ma.ValidationError:
            raise PassportBadResponse("token endpoint answered an unusable body") from None

    def get_record(self, endpoint: str, path: str, access_token: str, request_id: str | None,
                   not_found: tuple[int, ...] = NOT_FOUND_STATUSES) -> Any:
        """Return Passport's decoded JSON body for one record at ``path`` (not yet validated).

        ``endpoint`` names the kind of record in metrics and spans (``customer``, ``account``...);
        ``path`` is built by ``app.passport.resource`` from an id already checked to be a UUID;
        ``not_found``: the statuses that mean Passport has no such record (``PassportNotFound``).
        """
        return self._get_with_retries(path, access_token, request_id, endpoint, not_found)

    def list_customers(self, query: dict[str, str], access_token: str, request_id: str | None) -> Any:
        """Return Passport's decoded JSON body for one page of customers (not yet validated)."""
        return self._get_with_retries(f"{LIST_PATH}?{urlencode(query)}", access_token, request_id, LIST_ENDPOINT)

    def _get_with_retries(self, path: str, access_token: str, request_id: str | None, endpoint: str,
                          not_found: tuple[int, ...] = NOT_FOUND_STATUSES) -> Any:
        """GET ``path`` through the breaker, retrying what may succeed next time, within the deadline."""
        auth = {"Authorization": f"Bearer {access_token}"}
        deadline = time.monotonic() + self._deadline_seconds
        if self._retry_budget is not None:
            self._retry_budget.called()
        return self._guarded(lambda: self._with_retries(
            lambda: self._get_json(endpoint, path, auth, request_id, deadline, not_found)))

    def _with_retries(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` under the retry policy, whose bookkeeping starts only once an attempt failed.

        Why: most calls succeed the first time, and tenacity's bookkeeping of a call (thread-local
        statistics, a ``Future`` per outcome, a chain of actions per step) was ~4 % of a miss's
        instructions (``bench/instructions.py --misses``). The call's ``RetryCallState`` exists from
        the start (its start time is what ``stop_before_delay`` counts from), and after a failure the
        steps are tenacity's ``Retrying.__call__`` loop: the same decisions, to the same attempt.
        """
        retrying = self._retrying
        state = RetryCallState(retrying, attempt, (), {})
        try:
            return attempt()
        except BaseException:
            state.set_exception(sys.exc_info())  # type: ignore[arg-type]  # never (None, None, None) here
        retrying.begin()
        while True:
            step = retrying.iter(state)
            if isinstance(step, DoAttempt):
                try:
                    result = attempt()
                except BaseException:
                    state.set_exception(sys.exc_info())  # type: ignore[arg-type]
                else:
                    state.set_result(result)
            elif isinstance(step, DoSleep):
                state.prepare_for_next_attempt()
                retrying.sleep(step)
            else:
                return cast(T, step)

    def _may_retry(self, error: BaseException) -> bool:
        """Retry what may succeed next time, while the retry budget allows."""
        return is_retryable(error) and (self._retry_budget is None or self._retry_budget.may_retry())

    def _new_retrying(self) -> Retrying:
        """The retry policy of every record GET, built once: a call's state is its ``RetryCallState``
        (and tenacity's thread-locals, once it failed)."""
        return Retrying(
            stop=stop_after_attempt(self._retries + 1) | stop_before_delay(self._deadline_seconds),
            wait=wait_random_exponential(multiplier=self._retry_backoff, max=MAX_BACKOFF_SECONDS),
            retry=retry_if_exception(self._may_retry),
            reraise=True,
        )

    def _guarded(self, call: Callable[[], T]) -> T:
        """Run ``call`` through the breaker; an open breaker is a ``PassportCircuitOpen``."""
        try:
            with self.breaker.guard(is_passport_failure):
                return call()
        except CircuitOpen as exc:
            metrics.UPSTREAM_REQUESTS.labels("any", "circuit_open").inc()
            raise PassportCircuitOpen(max(1, math.ceil(exc.retry_after))) from None

    def _get_json(self, endpoint: str, path: str, auth: dict[str, str], request_id: str | None,
                  deadline: float, not_found: tuple[int, ...] = NOT_FOUND_STATUSES) -> Any:
        """One GET attempt: send, check the status, decode the body."""
        status, content, headers = self._send(endpoint, "GET", path, request_id, deadline, headers=auth)
        if status in not_found:
            raise PassportNotFound("no such record")
        self._raise_for_status(status, headers)
        return _decode_json(content)

    def _send(
        self, endpoint: str, method: str, path: str, request_id: str | None, deadline: float, *,
        headers: dict[str, str] | None = None, json_body: Any = None,
    ) -> tuple[int, bytes, Any]:
        """Make one call, measured: its duration and outcome go to the metrics and the request log."""
        try:
            probing = self._pause.admit() if self._pause is not None else False
            with self._in_flight or contextlib.nullcontext():
                return self._send_measured(endpoint, method, path, request_id, deadline, headers, json_body, probing)
        except (PassportPaused, PassportOverloaded) as refused:  # not sent: counted apart
            outcome = "paused" if isinstance(refused, PassportPaused) else "overloaded"
            metrics.UPSTREAM_REQUESTS.labels(endpoint, outcome).inc()
            raise

    def _send_measured(
        self, endpoint: str, method: str, path: str, request_id: str | None, deadline: float,
        headers: dict[str, str] | None, json_body: Any, probing: bool,
    ) -> tuple[int, bytes, Any]:
        """One call, with its span, metrics and time; Passport's pauses heard and shared."""
        started = time.perf_counter()
        outcome = "unreachable"
        route = tracing.passport_route(path)
        span = tracing.begin_client_span(f"{method} {route}", {
            "http.request.method": method, "url.template": route, "server.address": self._host,
            "passport_bff.endpoint": endpoint})
        sent = dict(headers or {})
        tracing.inject(span, sent)  # Passport's trace joins ours
        try:
            status, content, headers = self._send_once(method, path, request_id, deadline, sent, json_body)
            self._hear_back_pressure(status, headers, probing)
            outcome = outcome_for_status(status)
            tracing.end_client_span(span, status)
            return status, content, headers
        except Exception as exc:
            if isinstance(exc, (PassportTimeout, PassportBadResponse)):
                outcome = ("busy" if isinstance(exc, PassportBusy) else "timeout" if isinstance(exc, PassportTimeout)
                           else "bad_response")
            tracing.end_client_span(span, error=exc)
            if probing and self._pause is not None:
                self._pause.probe_failed()  # no answer to judge by: let the next call probe at once
            raise
        finally:
            elapsed = time.perf_counter() - started
            metrics.UPSTREAM_REQUESTS.labels(endpoint, outcome).inc()
            metrics.UPSTREAM_DURATION.labels(endpoint).observe(elapsed)
            add_upstream_time(elapsed)

    def _hear_back_pressure(self, status: int, headers: Any, probing: bool) -> None:
        """A 429, or a 503 with ``Retry-After``, pauses the fleet; the probe's other answers lift it."""
        if self._pause is None:
            return
        if status == 429 or (status == 503 and headers.get("Retry-After")):
            self._pause.pause(headers.get("Retry-After"))
        elif probing:
            self._pause.resume()

    def _send_once(
        self, method: str, path: str, request_id: str | None, deadline: float, headers: dict[str, str],
        json_body: Any,
    ) -> tuple[int, bytes, Any]:
        """Make one attempt: connect, send, read the head and the body, all by the attempt's end.

        The attempt ends ``PASSPORT_TIMEOUT_SECONDS`` after it starts, or at the fetch's deadline
        if that comes first; ``app.passport.upstream_budget`` holds every socket operation to it.
        ``path`` is built from an id already checked to be a UUID, or from an encoded query.
        """
        if request_id:
            headers["X-Request-ID"] = request_id
        started = time.monotonic()
        ends_at = min(started + self._attempt_seconds, deadline)
        if ends_at <= started:
            raise PassportTimeout(f"{method} {path}: no time left for another attempt")
        left = ends_at - started
        sent = self._headers | headers
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        try:
            with attempt_budget(ends_at):
                response = self._pool.urlopen(
                    method, self._target + path, body=body, headers=sent, retries=False, redirect=False,
                    assert_same_host=False, preload_content=False, decode_content=True,
                    timeout=urllib3.Timeout(connect=min(self._connect_timeout, left), read=left),
                )
                try:
                    return response.status, self._read_bounded(response), response.headers
                except BaseException:
                    response.close()  # the rest of the body is unread: the connection cannot be reused
                    raise
                finally:
                    response.release_conn()
        except PassportPoolBusy:
            raise PassportBusy(f"{method} {path}: every connection to Passport stayed busy") from None
        except urllib3.exceptions.NewConnectionError as exc:  # refused, no route, no such name: no timeout
            raise PassportUnreachable(f"{method} {path} failed: {type(exc).__name__}") from None
        except urllib3.exceptions.TimeoutError:
            raise PassportTimeout(f"{method} {path} timed out") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise PassportUnreachable(f"{method} {path} failed: {type(exc).__name__}") from None

    def _read_bounded(self, response: urllib3.BaseHTTPResponse) -> bytes:
        """Read the body, refusing one that is too large; a trickle is cut by the attempt's budget.

        ``read1`` returns whatever one socket read brings, so a body sent a byte at a time is
        counted as it comes (``iter_content`` would block until a whole chunk arrived).
        """
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_response_bytes:
            raise PassportBadResponse(f"body of {declared} bytes is over the limit")
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := response.read1(CHUNK_BYTES):
                size += len(chunk)
                if size > self._max_response_bytes:
                    raise PassportBadResponse("body is over the size limit")
                chunks.append(chunk)
        except urllib3.exceptions.ReadTimeoutError:
            raise PassportTimeout("body did not arrive in time") from None
        except urllib3.exceptions.HTTPError as exc:
            raise PassportUnreachable(f"body broken: {type(exc).__name__}") from None
        return b"".join(chunks)

    def _raise_for_status(self, status: int, headers: Any) -> None:
        """Translate a non-200 status into this module's exceptions."""
        if status == 200:
            return
        if status == 404:
            raise PassportNotFound("no such record")
        if status == 403:
            raise PassportForbidden("no permission for this record")
        if status == 401:
            raise PassportUnauthorized("access token refused")
        if status == 429:
            raise PassportRateLimited(math.ceil(retry_after_seconds(headers.get("Retry-After"),
                                                                    self._max_retry_after, time.time())))
        if 400 <= status < 500:
            raise PassportRejectedRequest(f"answered {status}")
        if status >= 500:
            raise PassportServerError(status)
        raise PassportBadResponse(f"unexpected status {status}")


def outcome_for_status(status: int) -> str:
    """Name an answer's status for the metrics (a small closed set of labels)."""
    if status in STATUS_OUTCOMES:
        return STATUS_OUTCOMES[status]
    return "server_error" if status >= 500 else "client_error"


def _decode_json(content: bytes) -> Any:
    """Decode an answer as I-JSON (RFC 7493): strict UTF-8 JSON, no NaN/Infinity, no repeated name.

    Python's ``json`` accepts ``NaN`` and ``Infinity`` (RFC 8259 has neither) and keeps the last
    of two members with one name, so ``{"id": "<other>", …, "id": "<asked>"}`` would pass the id
    check while another reader of the same bytes sees the other customer. Both are refused.
    """
    try:
        text = content.decode("utf-8")  # I-JSON is UTF-8 only; json.loads(bytes) would also guess UTF-16/32
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_object_without_repeats)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: hostile nesting
        raise PassportBadResponse("body is not I-JSON") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("an object repeats a member name")
    return members


