"""The HTTP surface for frontends: thin routes over the customer service."""
from __future__ import annotations

import re

from flask import Blueprint, Flask, Response, g, request
from werkzeug.http import parse_etags, unquote_etag
from werkzeug.routing import PathConverter

from app.metrics import CACHE_REQUESTS
from app.passport.errors import PassportError
from app.policy.customers import CacheResult, CustomerAnswer
from app.store.cache import StoreUnavailable
from app.web.auth import authorize_customers, require_scope
from app.web.errors import Problem, problem_from_passport
from app.web.problems import CACHE_UNAVAILABLE, CUSTOMER_NOT_FOUND, INVALID_CUSTOMER_ID, INVALID_PARAMETER
from app.web.services import services

bp = Blueprint("customers", __name__)

# Passport ids are UUIDs; only the canonical 8-4-4-4-12 spelling is accepted (any case), so
# nothing else ever reaches an upstream URL or a cache key (UPSTREAM.md: check before calling).
UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
JSON = "application/json"
UPSTREAM_FAILED_STATUS = "passport-bff; fwd=miss; detail=upstream-error"
# Set in the WSGI environ by app.web.fast_path to (customer id, outcome) when its lookup ended in a
# problem for this route to render: a not-found answer, or the PassportError it raised.
LOOKUP_OUTCOME = "passport_bff.lookup_outcome"


def register(app: Flask) -> None:
    app.url_map.converters["path"] = CustomerPathConverter
    app.register_blueprint(bp)


def canonical_customer_id(raw: str) -> str:
    """Return ``raw`` as a lower-case UUID, or raise a 400 problem."""
    if not UUID_PATTERN.fullmatch(raw):
        raise Problem(INVALID_CUSTOMER_ID,
                      "The customer id must be a UUID such as db7e89e7-59d8-4ab1-b675-a2ae52c3339e.")
    return raw.lower()


class CustomerPathConverter(PathConverter):
    """Werkzeug's ``path``, newlines included, so every id, however odd, reaches the 400 check —
    but never ``<id>/cache``, which belongs to the purge route (GET there is a 405 naming DELETE)."""

    regex = "(?!(?s:.*)/cache\\Z)[^/](?s:.*?)"


@bp.get("/v1/customers/<path:customer_id>")
@require_scope("customers.read")
def get_customer(customer_id: str) -> Response:
    canonical = canonical_customer_id(customer_id)
    authorize_customers([canonical])
    try:
        answer = looked_up_already(canonical) or services().customers.lookup(canonical, g.request_id)
    except PassportError as exc:
        CACHE_REQUESTS.labels("error").inc()
        problem = problem_from_passport(exc)
        problem.extra_headers.update({"X-Cache": "MISS", "Cache-Status": UPSTREAM_FAILED_STATUS})
        raise problem from None
    CACHE_REQUESTS.labels(answer.cache.value.lower()).inc()
    if not answer.entry.found:
        raise Problem(CUSTOMER_NOT_FOUND, "Passport has no customer with this id.", cache_headers(answer))
    return customer_response(answer)


def looked_up_already(customer_id: str) -> CustomerAnswer | None:
    """The outcome ``app.web.fast_path`` reached for this lookup, if it handed one over (an error is raised)."""
    handed_id, outcome = request.environ.get(LOOKUP_OUTCOME, (None, None))
    if handed_id != customer_id:
        return None
    if isinstance(outcome, PassportError):
        raise outcome
    handed: CustomerAnswer = outcome
    return handed


@bp.delete("/v1/customers/<customer_id>/cache")
@require_scope("customers.purge")
def purge_customer(customer_id: str) -> Response:
    """Forget the cached copy (and a remembered 404); with ``?refresh=true`` fetch it again now."""
    canonical = canonical_customer_id(customer_id)
    refresh = request.args.get("refresh", "false").lower()
    if refresh not in ("true", "false"):
        raise Problem(INVALID_PARAMETER, "refresh must be true or false.")
    try:
        services().customers.purge(canonical)
    except StoreUnavailable:
        raise Problem(CACHE_UNAVAILABLE, "The cache cannot be reached; nothing was purged.") from None
    if refresh == "true":
        try:
            services().customers.lookup(canonical, g.request_id)
        except PassportError as exc:
            raise problem_from_passport(exc) from None
    return Response(status=204)


def customer_response(answer: CustomerAnswer) -> Response:
    """Send the stored bytes with the caching headers; 304 when the caller has them already."""
    headers = {"ETag": answer.entry.etag, **cache_headers(answer)}
    if not_modified(request.headers.get("If-None-Match"), answer.entry.etag):
        return Response(status=304, headers=headers)
    return Response(answer.entry.body, status=200, content_type=JSON, headers=headers)


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """True when ``If-None-Match`` names the entry's ETag (RFC 9110 §13.1.2: weak comparison)."""
    return bool(if_none_match) and parse_etags(if_none_match).contains_weak(unquote_etag(etag)[0])


def cache_headers(answer: CustomerAnswer) -> dict[str, str]:
    """Say how fresh the answer is and where it came from (RFC 9111 Age, RFC 9211 Cache-Status)."""
    entry = answer.entry
    headers = {
        "Cache-Control": f"private, max-age={max(0, entry.fresh_left(answer.answered_at))}",
        "X-Cache": answer.cache.value,
        "Cache-Status": answer.cache_status,
    }
    if answer.cache in (CacheResult.HIT, CacheResult.STALE):
        headers["Age"] = str(entry.age(answer.answered_at))
    return headers
