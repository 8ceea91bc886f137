"""The OpenAPI 3.1 document of passport-bff (``/openapi.json``) and its interactive page (``/docs``).

Why apispec and not flask-smorest: flask-smorest would have us rewrite the routes as its blueprints
with its own argument parsing and error handling, next to what ``app/web/api.py``, ``app/web/auth.py``
(``@public``, scopes) and ``app/web/errors.py`` (problem+json) already do. apispec with its marshmallow
plugin only *describes*: the routes stay plain Flask views, the bodies are the real marshmallow
schemas (``CustomerSchema`` is what frontends receive, so the document cannot drift from it), and
every path is read from the app's URL map. What the schemas cannot say — parameters, status codes,
problem types, headers — is written here as data, keyed by each view's endpoint name.

The document is built once, when the app is created, and its JSON bytes are kept.

``/docs`` is Swagger UI 5 (the first major version that renders OpenAPI 3.1), from the static files
that the ``flask-swagger-ui`` package ships: nothing comes from a CDN, so the page works on a host
without internet. Only those files are used, not the package's blueprint: its page carries an
inline script, which our CSP would have to allow. Our page loads the Swagger UI bundle and stylesheet
from ``/docs/assets/`` and a small start-up script served from this module, and passes the document's
URL in a ``data-`` attribute. Its CSP allows scripts, styles and fetches from 'self' only, and images
from 'self' and ``data:`` (the stylesheet's icons are ``data:`` SVGs): no inline script or style.
Swagger UI's online validator badge (a request to validator.swagger.io) is switched off.

``/openapi.json``, ``/docs`` and its assets need no caller (``@public``), like the health checks.
"""
from __future__ import annotations

import html
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import marshmallow as ma
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, abort, current_app, send_from_directory, url_for
from marshmallow import fields, validate

from app.breaker import CLOSED, HALF_OPEN, OPEN
from app.observability import REQUEST_ID_HEADER, SANE_REQUEST_ID
from app.passport.schemas import BatchGetSchema, CustomerSchema, ListQuerySchema
from app.policy.customers import CacheResult
from app.web.auth import API_KEY_HEADER, public
from app.web.lookup import UUID_PATTERN
from app.web.problems import (
    AUTH_UNAVAILABLE,
    CACHE_UNAVAILABLE,
    CUSTOMER_FORBIDDEN,
    CUSTOMER_NOT_ALLOWED,
    CUSTOMER_NOT_FOUND,
    INSUFFICIENT_SCOPE,
    INVALID_BODY,
    INVALID_CUSTOMER_ID,
    INVALID_PARAMETER,
    NOT_FOUND,
    PASSPORT_PROBLEMS,
    PROBLEM_CONTENT_TYPE,
    REQUEST_TOO_LARGE,
    TOO_MANY_REQUESTS,
    TYPE_PREFIX,
    UNAUTHENTICATED,
    ProblemType,
)
from config.security import PURGE_SCOPE, READ_SCOPE

OPENAPI_VERSION = "3.1.0"
API_TITLE = "passport-bff"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "A caching backend-for-frontend for the Passport customer API. Frontends ask for a customer; "
    "passport-bff fetches it from Passport with its own credentials, validates and reshapes it, and "
    "caches the answer in Redis. Every error is RFC 9457 `application/problem+json`. "
    "Health, readiness, metrics and these docs need no credentials; the customer endpoints need an "
    "`X-API-Key` or a gateway JWT (`Authorization: Bearer`)."
)
EXTENSION = "passport_bff_openapi"

JSON = "application/json"
TEXT = "text/plain"
HTML = "text/html"
DOCS_PAGE_TYPE = "text/html; charset=utf-8"
JAVASCRIPT = "text/javascript; charset=utf-8"

API_KEY_SCHEME = "apiKey"
BEARER_SCHEME = "bearerAuth"

DOCS_CUSTOMER_ID = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"  # the example customer of Passport's docs
X_CACHE_VALUES = [result.value for result in CacheResult]
CACHE_STATUS_PATTERN = "^passport-bff; "
# TYPE_PREFIX is letters, colons and hyphens only: literal in a regular expression.
PROBLEM_TYPE_PATTERN = f"^{TYPE_PREFIX}[a-z0-9-]+$"
UUID_JSON_PATTERN = f"^{UUID_PATTERN.pattern}$"
REFRESH_PATTERN = "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"  # true/false, any case (app/web/api.py)

# Swagger UI, from the dist folder of the flask-swagger-ui package; only these files are served.
SWAGGER_UI_PACKAGE = "flask_swagger_ui"
SWAGGER_UI_DIST = "dist"
SWAGGER_UI_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"})
STARTUP_SCRIPT = "passport-bff-docs.js"
ASSET_MAX_AGE_SECONDS = 86400  # the files change only with the pinned package
DOCS_CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
# The docs page and its start-up script are files beside this module (a script file, not inline,
# for the page's CSP); the page's {placeholders} are filled in by ``docs()``.
DOCS_PAGE_DIR = Path(__file__).with_name("docs_page")
STARTUP_JS = (DOCS_PAGE_DIR / STARTUP_SCRIPT).read_text(encoding="utf-8")
DOCS_HTML = (DOCS_PAGE_DIR / "docs.html").read_text(encoding="utf-8")

bp = Blueprint("openapi", __name__)


# --- Schemas that only this document needs -------------------------------------------------------

class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as ``app/web/errors.py`` renders every error."""

    type = fields.String(required=True, validate=validate.Regexp(PROBLEM_TYPE_PATTERN),
                         metadata={"description": f"`{TYPE_PREFIX}` + the problem's slug.",
                                   "example": f"{TYPE_PREFIX}customer-not-found"})
    title = fields.String(required=True, metadata={"description": "Short summary of the problem type."})
    status = fields.Integer(required=True, validate=validate.Range(400, 599),
                            metadata={"description": "The HTTP status."})
    detail = fields.String(required=True, metadata={"description": "What happened to this request."})
    request_id = fields.String(required=True, metadata={"description": "The request id, as in `X-Request-ID`."})


class HealthSchema(ma.Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class ReadinessChecksSchema(ma.Schema):
    redis = fields.String(required=True, validate=validate.OneOf(["ok", "unavailable", "not-configured"]))
    passport = fields.String(required=True, validate=validate.OneOf([CLOSED, OPEN, HALF_OPEN]),
                             metadata={"description": "State of the circuit breaker toward Passport."})
    token = fields.String(required=True, validate=validate.OneOf(["ok", "unavailable"]))


class ReadinessSchema(ma.Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "not-ready"]))
    checks = fields.Nested(ReadinessChecksSchema, required=True)


class FailedLookupSchema(ma.Schema):
    """One id of a batch that could not be answered, with the status a single lookup would have had."""

    id = fields.String(required=True)
    status = fields.Integer(required=True, validate=validate.Range(400, 599))
    title = fields.String(required=True)


class BatchGetResultSchema(ma.Schema):
    """``POST /v1/customers:batchGet``'s body (rendered in ``app/web/api_collections.py``)."""

    customers = fields.List(fields.Nested(CustomerSchema), required=True,
                            metadata={"description": "The customers found, in the order asked."})
    not_found = fields.List(fields.String(), required=True, data_key="notFound",
                            metadata={"description": "Ids Passport does not know (lower case)."})
    failed = fields.List(fields.Nested(FailedLookupSchema), required=True)


class PageInfoSchema(ma.Schema):
    number = fields.Integer(required=True, validate=validate.Range(min=1))
    size = fields.Integer(required=True, validate=validate.Range(min=1))
    total_pages = fields.Integer(required=True, data_key="totalPages", validate=validate.Range(min=0))
    total_items = fields.Integer(required=True, data_key="totalItems", validate=validate.Range(min=0))


class CustomerPageSchema(ma.Schema):
    """``GET /v1/customers``'s body (rendered in ``app/policy/listing.py``)."""

    customers = fields.List(fields.Nested(CustomerSchema), required=True)
    page = fields.Nested(PageInfoSchema, required=True)


COMPONENTS: dict[str, type[ma.Schema]] = {
    "Customer": CustomerSchema,
    "Problem": ProblemSchema,
    "Health": HealthSchema,
    "Readiness": ReadinessSchema,
    "BatchGetRequest": BatchGetSchema,
    "BatchGetResult": BatchGetResultSchema,
    "CustomerPage": CustomerPageSchema,
}
# Dump-only schemas of app/passport/schemas.py: every field is always rendered, so the document requires them all.
ALWAYS_COMPLETE = ("Customer", "Identification", "Address")


# --- Headers and responses -----------------------------------------------------------------------

# Problems that werkzeug and Flask-Limiter raise (their slug is made from the HTTP reason phrase).

HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {"description": "Strong validator of the body.", "schema": {"type": "string", "pattern": '^"[^"]+"$'}},
    "Cache-Control": {"description": "`private, max-age=<seconds of freshness left>` on a customer (or a remembered "
                                     "404), `no-store` on errors.", "schema": {"type": "string"}},
    "Age": {"description": "Seconds since the cached copy was fetched (cached answers only).",
            "schema": {"type": "integer", "minimum": 0}},
    "X-Cache": {"description": "Where the answer came from.", "schema": {"type": "string", "enum": X_CACHE_VALUES}},
    "Cache-Status": {"description": "RFC 9211 cache status, e.g. `passport-bff; hit; ttl=42`.",
                     "schema": {"type": "string", "pattern": CACHE_STATUS_PATTERN}},
    REQUEST_ID_HEADER: {"description": "The caller's request id if it was sane, otherwise a new UUID.",
                        "schema": {"type": "string", "pattern": f"^{SANE_REQUEST_ID.pattern}$"}},
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer", "minimum": 0}},
    "WWW-Authenticate": {"description": "The Bearer and ApiKey challenges.", "schema": {"type": "string"}},
}
ALWAYS = ("Cache-Control", REQUEST_ID_HEADER)
CUSTOMER_HEADERS = ("ETag", "Cache-Control", "X-Cache", "Cache-Status", REQUEST_ID_HEADER)
UPSTREAM_HEADERS = ("X-Cache", "Cache-Status")


def schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def with_const(name: str, field: str, value: Any) -> dict[str, Any]:
    """The component ``name``, with ``field`` pinned to ``value`` (e.g. a problem's status)."""
    return {"allOf": [schema_ref(name), {"properties": {field: {"const": value}}}]}


def headers(required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Header objects from ``HEADERS``; ``required`` ones are always sent."""
    return {
        **{name: {**HEADERS[name], "required": True} for name in required},
        **{name: {**HEADERS[name], "required": False} for name in optional if name not in required},
    }


def problem(*kinds: ProblemType, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """A problem+json response carrying one of ``kinds`` (all of one status)."""
    (status,) = {kind.status for kind in kinds}
    return {
        "description": "Problem types: " + ", ".join(f"`{kind.slug}` ({kind.title})" for kind in kinds) + ".",
        "headers": headers(ALWAYS + required, optional),
        "content": {PROBLEM_CONTENT_TYPE: {"schema": with_const("Problem", "status", status)}},
    }


def json_response(description: str, schema: dict[str, Any], required: tuple[str, ...] = (REQUEST_ID_HEADER,)
                  ) -> dict[str, Any]:
    return {"description": description, "headers": headers(required), "content": {JSON: {"schema": schema}}}


def caller_problems() -> dict[str, dict[str, Any]]:
    """What any authenticated endpoint can answer before its own work starts."""
    return {
        "401": problem(UNAUTHENTICATED, required=("WWW-Authenticate",)),
        "413": problem(REQUEST_TOO_LARGE),
        "429": problem(TOO_MANY_REQUESTS, required=("Retry-After",)),
    }


def passport_problems(status: int) -> tuple[ProblemType, ...]:
    """The problems a Passport failure is answered with at ``status`` (``PASSPORT_PROBLEMS``), each once."""
    return tuple(dict.fromkeys(kind for kind, _ in PASSPORT_PROBLEMS.values() if kind.status == status))


def upstream_problems(*extra_503: ProblemType, optional: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """What a call to Passport can end in, when no cached copy can stand in."""
    return {
        "502": problem(*passport_problems(502), optional=optional),
        "503": problem(*extra_503, *passport_problems(503), AUTH_UNAVAILABLE, optional=("Retry-After",) + optional),
        "504": problem(*passport_problems(504), optional=optional),
    }


# --- Operations, keyed by the endpoint of their view ---------------------------------------------

def customer_id_parameter() -> dict[str, Any]:
    return {
        "name": "customer_id", "in": "path", "required": True,
        "description": "The Passport customer id: a UUID in its 8-4-4-4-12 form, any case.",
        "schema": {"type": "string", "pattern": UUID_JSON_PATTERN},
        "example": DOCS_CUSTOMER_ID,
    }


def request_id_parameter() -> dict[str, Any]:
    return {
        "name": REQUEST_ID_HEADER, "in": "header", "required": False,
        "description": "The gateway's request id: kept when it is up to 128 characters of "
                       "`A-Z a-z 0-9 . _ : + = / -`, otherwise replaced by a new UUID (never refused).",
        "schema": {"type": "string"},
    }


def security(scope: str) -> list[dict[str, list[str]]]:
    """Either scheme will do; OpenAPI 3.1 lets non-OAuth schemes name the role (scope) needed."""
    return [{API_KEY_SCHEME: [scope]}, {BEARER_SCHEME: [scope]}]


def get_customer_operation() -> dict[str, Any]:
    cached = headers(CUSTOMER_HEADERS, ("Age",))
    return {
        "operationId": "getCustomer",
        "tags": ["customers"],
        "summary": "Get a customer (cached)",
        "description": "The customer as frontends receive it, from the cache when it is fresh. "
                       "Needs the `customers.read` scope; a JWT's `customer_ids` claim limits the ids.",
        "security": security(READ_SCOPE),
        "parameters": [
            customer_id_parameter(),
            request_id_parameter(),
            {"name": "If-None-Match", "in": "header", "required": False,
             "description": "ETags the caller holds; 304 when one matches (weak comparison).",
             "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {"description": "The customer.", "headers": cached, "content": {JSON: {"schema": CustomerSchema}}},
            "304": {"description": "The caller's copy (`If-None-Match`) is current.", "headers": cached},
            "400": problem(INVALID_CUSTOMER_ID),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE, CUSTOMER_NOT_ALLOWED, CUSTOMER_FORBIDDEN),
            "404": problem(CUSTOMER_NOT_FOUND, NOT_FOUND, optional=UPSTREAM_HEADERS + ("Age",)),
            **upstream_problems(optional=UPSTREAM_HEADERS),
        },
    }


def purge_customer_operation() -> dict[str, Any]:
    return {
        "operationId": "purgeCustomerCache",
        "tags": ["customers"],
        "summary": "Forget a cached customer",
        "description": "Drops the cached copy (and a remembered 404); with `refresh=true` fetches it again "
                       "now (an id Passport does not know is then remembered as such: still 204). "
                       "Needs the `customers.purge` scope.",
        "security": security(PURGE_SCOPE),
        "parameters": [
            customer_id_parameter(),
            {"name": "refresh", "in": "query", "required": False,
             "description": "`true` to fetch the customer again at once (any case).",
             "schema": {"type": "string", "pattern": REFRESH_PATTERN, "default": "false"}},
            request_id_parameter(),
        ],
        "responses": {
            "204": {"description": "Purged (and refreshed, if asked).", "headers": headers(ALWAYS)},
            "400": problem(INVALID_CUSTOMER_ID, INVALID_PARAMETER),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE, CUSTOMER_FORBIDDEN),
            "404": problem(NOT_FOUND),
            **upstream_problems(CACHE_UNAVAILABLE),
        },
    }


def batch_get_operation() -> dict[str, Any]:
    return {
        "operationId": "batchGetCustomers",
        "tags": ["customers"],
        "summary": "Get up to 100 customers at once (cached)",
        "description": "Each id is looked up as by `GET /v1/customers/{customer_id}` and succeeds or fails on "
                       "its own: found, `notFound`, or `failed` with the status a single lookup would have had "
                       "(also 403 for ids outside a JWT's `customer_ids`). Duplicates are folded. "
                       "Needs the `customers.read` scope.",
        "security": security(READ_SCOPE),
        "parameters": [request_id_parameter()],
        "requestBody": {"required": True, "content": {JSON: {"schema": schema_ref("BatchGetRequest")}}},
        "responses": {
            "200": json_response("One entry per distinct id.", schema_ref("BatchGetResult"), ALWAYS),
            "400": problem(INVALID_BODY, INVALID_CUSTOMER_ID),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE),
            "503": problem(AUTH_UNAVAILABLE),
        },
    }


def list_customers_operation() -> dict[str, Any]:
    return {
        "operationId": "listCustomers",
        "tags": ["customers"],
        "summary": "List customers a page at a time (cached briefly)",
        "description": "Passport's pages, reshaped like single lookups. Unknown or repeated parameters are "
                       "refused. Needs the `customers.read` scope; callers bound to `customer_ids` cannot list.",
        "security": security(READ_SCOPE),
        "parameters": [{"in": "query", "schema": ListQuerySchema}, request_id_parameter()],
        "responses": {
            "200": json_response("A page of customers.", schema_ref("CustomerPage"), ALWAYS + ("X-Cache",)),
            "400": problem(INVALID_PARAMETER),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE, CUSTOMER_NOT_ALLOWED, CUSTOMER_FORBIDDEN),
            **upstream_problems(),
        },
    }


def public_operation(operation_id: str, tag: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"operationId": operation_id, "tags": [tag], "summary": summary, "responses": responses}


def operations() -> dict[str, dict[str, dict[str, Any]]]:
    """Every documented operation: ``{endpoint: {method: operation}}``."""
    return {
        "customers.get_customer": {"get": get_customer_operation()},
        "customers.purge_customer": {"delete": purge_customer_operation()},
        "customer_collections.batch_get": {"post": batch_get_operation()},
        "customer_collections.list_customers": {"get": list_customers_operation()},
        "health.healthz": {"get": public_operation("getHealth", "operations", "Liveness: the process is up", {
            "200": json_response("Alive; no dependency is checked.", schema_ref("Health")),
        })},
        "health.readyz": {"get": public_operation("getReadiness", "operations", "Readiness: can serve now", {
            "200": json_response("Ready.", with_const("Readiness", "status", "ready")),
            "503": json_response("Not ready; `checks` names what failed.",
                                 with_const("Readiness", "status", "not-ready")),
        })},
        "health.metrics": {"get": public_operation("getMetrics", "operations", "Prometheus metrics", {
            "200": {"description": "Prometheus text exposition.", "headers": headers((REQUEST_ID_HEADER,)),
                    "content": {TEXT: {"schema": {"type": "string"}}}},
        })},
        "openapi.document": {"get": public_operation("getOpenApi", "documentation", "This OpenAPI document", {
            "200": json_response("OpenAPI 3.1 document.", {"type": "object"}),
        })},
        "openapi.docs": {"get": public_operation("getDocs", "documentation", "Interactive API docs (Swagger UI)", {
            "200": {"description": "HTML page; its scripts and styles are served by this service.",
                    "headers": headers((REQUEST_ID_HEADER,)), "content": {HTML: {"schema": {"type": "string"}}}},
        })},
    }


# --- Building the document -----------------------------------------------------------------------

RULE_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def openapi_path(rule: str) -> str:
    """Flask's ``/v1/customers/<path:customer_id>`` is OpenAPI's ``/v1/customers/{customer_id}``."""
    return RULE_VARIABLE.sub(r"{\1}", rule)


def rules_by_endpoint(app: Flask) -> dict[str, str]:
    return {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()}


def new_spec() -> APISpec:
    spec = APISpec(
        title=API_TITLE, version=API_VERSION, openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin()],
        info={"description": API_DESCRIPTION},
        tags=[
            {"name": "customers", "description": "Customers from Passport, cached."},
            {"name": "operations", "description": "Health, readiness and metrics; no credentials."},
            {"name": "documentation", "description": "This document and its interactive page; no credentials."},
        ],
    )
    spec.components.security_scheme(API_KEY_SCHEME, {
        "type": "apiKey", "in": "header", "name": API_KEY_HEADER,
        "description": "A service caller's key; the service holds only its SHA-256.",
    })
    spec.components.security_scheme(BEARER_SCHEME, {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A gateway-issued JWT (HS256, or RS256/ES256 from the JWKS); scopes in `scope` or `scp`.",
    })
    for name, schema in COMPONENTS.items():
        spec.components.schema(name, schema=schema)
    return spec


def refine_components(spec: APISpec) -> None:
    """Say what the marshmallow schemas leave implicit.

    The frontend schemas only dump, and always every field: all are required. A batch id is only
    checked to be a UUID after loading (so that the problem names its position): say so here.
    """
    schemas = spec.components.schemas
    for name in ALWAYS_COMPLETE:
        schemas[name]["required"] = list(schemas[name]["properties"])
    schemas["BatchGetRequest"]["properties"]["ids"]["items"]["pattern"] = UUID_JSON_PATTERN


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app``: each documented endpoint at the path of its route."""
    spec = new_spec()
    rules = rules_by_endpoint(app)
    for endpoint, methods in operations().items():
        if endpoint in rules:
            spec.path(path=openapi_path(rules[endpoint]), operations=methods)
    refine_components(spec)
    return spec.to_dict()


def document_bytes(app: Flask) -> bytes:
    return json.dumps(build_document(app), separators=(",", ":")).encode("utf-8")


# --- Views ---------------------------------------------------------------------------------------

def swagger_ui_dist() -> Path:
    return Path(str(resources.files(SWAGGER_UI_PACKAGE) / SWAGGER_UI_DIST))


@bp.get("/openapi.json")
@public
def document() -> Response:
    return Response(current_app.extensions[EXTENSION], content_type=JSON)


@bp.get("/docs")
@public
def docs() -> Response:
    page = DOCS_HTML.format(
        title=html.escape(API_TITLE),
        stylesheet=html.escape(url_for("openapi.asset", filename="swagger-ui.css")),
        icon=html.escape(url_for("openapi.asset", filename="favicon-32x32.png")),
        document=html.escape(url_for("openapi.document")),
        bundle=html.escape(url_for("openapi.asset", filename="swagger-ui-bundle.js")),
        startup=html.escape(url_for("openapi.asset", filename=STARTUP_SCRIPT)),
    )
    response = Response(page, content_type=DOCS_PAGE_TYPE)
    response.headers["Content-Security-Policy"] = DOCS_CSP  # set before security.py's setdefault
    return response


@bp.get("/docs/assets/<path:filename>")
@public
def asset(filename: str) -> Response:
    """Swagger UI's files (only those the page uses) and our start-up script."""
    if filename == STARTUP_SCRIPT:
        response = Response(STARTUP_JS, content_type=JAVASCRIPT)
        response.cache_control.public = True
        response.cache_control.max_age = ASSET_MAX_AGE_SECONDS
        return response
    if filename not in SWAGGER_UI_FILES:
        abort(404)
    return send_from_directory(swagger_ui_dist(), filename, max_age=ASSET_MAX_AGE_SECONDS)


def init_app(app: Flask) -> None:
    """Serve the document and the docs; call after every other blueprint is registered."""
    app.register_blueprint(bp)
    app.extensions[EXTENSION] = document_bytes(app)
