"""The HTTP surface for frontends: one customer, and its purge; thin routes over the lookup and the service."""
from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.routing import PathConverter

from app.passport.errors import PassportError
from app.store.cache import StoreUnavailable
from app.web.auth import require_scope
from app.web.lookup import CustomerLookup, canonical_customer_id
from app.web.problems import CACHE_UNAVAILABLE, INVALID_PARAMETER, Problem, problem_from_passport
from app.web.services import services
from config.security import PURGE_SCOPE

bp = Blueprint("customers", __name__)
LOOKUP_EXTENSION = "passport_bff_lookup"


def register(app: Flask, lookup: CustomerLookup) -> None:
    app.url_map.converters["path"] = CustomerPathConverter
    app.extensions[LOOKUP_EXTENSION] = lookup
    app.register_blueprint(bp)


def lookup_of(app: Flask) -> CustomerLookup:
    """The app's one customer lookup (``app.web.lookup``)."""
    lookup: CustomerLookup = app.extensions[LOOKUP_EXTENSION]
    return lookup


class CustomerPathConverter(PathConverter):
    """Werkzeug's ``path``, newlines included, so every id, however odd, reaches the 400 check —
    but never ``<id>/cache``, which belongs to the purge route (GET there is a 405 naming DELETE)."""

    regex = "(?!(?s:.*)/cache\\Z)[^/](?s:.*?)"


@bp.get("/v1/customers/<path:customer_id>")
def get_customer(customer_id: str) -> Response:
    """The lookup, when Flask serves it (the fast path is off, or the request is a browser's)."""
    found = lookup_of(current_app).answer(customer_id, request.headers, request.remote_addr, g.request_id)
    g.caller = found.caller
    return Response(found.http.body, found.http.status, found.http.headers)


get_customer.answers_itself = True  # type: ignore[attr-defined]  # authenticates and limits itself


@bp.delete("/v1/customers/<customer_id>/cache")
@require_scope(PURGE_SCOPE)
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
