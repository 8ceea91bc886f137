"""The OpenAPI 3.1 document of passport-bff (``/openapi.json``) and its interactive page (``/docs``).

Why apispec and not flask-smorest: flask-smorest would have us rewrite the routes as its blueprints
with its own argument parsing and error handling, next to what ``app/web/api.py``, ``app/web/auth.py``
(``@public``, scopes) and ``app/web/errors.py`` (problem+json) already do. apispec with its marshmallow
plugin only *describes*: the routes stay plain Flask views, the bodies are the real marshmallow
schemas (``CustomerSchema`` is what frontends receive, so the document cannot drift from it), and
every path is read from the app's URL map. What the schemas cannot say — parameters, status codes,
problem types, headers — is written as data next to each view (its module's ``operations()``), with
the building blocks of ``app.web.api_docs``, keyed by the view's endpoint name.

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
from app.observability import REQUEST_ID_HEADER
from app.passport.resources import RESOURCES
from app.passport.schemas import BatchGetSchema, CustomerSchema
from app.web import api, api_collections, health, overview
from app.web.api_docs import (
    API_KEY_SCHEME,
    BEARER_SCHEME,
    HTML,
    JSON,
    UUID_JSON_PATTERN,
    headers,
    json_response,
    public_operation,
)
from app.web.auth import API_KEY_HEADER, public
from app.web.problems import TYPE_PREFIX

OPENAPI_VERSION = "3.1.0"
API_TITLE = "passport-bff"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "A caching backend-for-frontend for the Passport API. Frontends ask for a customer, an account, a "
    "Bre-B key or a recipient; passport-bff fetches it from Passport with its own credentials, validates "
    "and reshapes it, and caches the answer in Redis. Every error is RFC 9457 `application/problem+json`. "
    "Health, readiness, metrics and these docs need no credentials; the other endpoints need an "
    "`X-API-Key` or a gateway JWT (`Authorization: Bearer`) with the scope each names."
)
EXTENSION = "passport_bff_openapi"

DOCS_PAGE_TYPE = "text/html; charset=utf-8"
JAVASCRIPT = "text/javascript; charset=utf-8"


# TYPE_PREFIX is letters, colons and hyphens only: literal in a regular expression.
PROBLEM_TYPE_PATTERN = f"^{TYPE_PREFIX}[a-z0-9-]+$"

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
    passport = fields.String(required=True, validate=validate.OneOf([CLOSED, OPEN, HALF_OPEN, "paused"]),
                             metadata={"description": "State of the circuit breaker toward Passport, or `paused` "
                                                      "while a pause Passport asked for (Retry-After) is honoured."})
    token = fields.String(required=True, validate=validate.OneOf(["ok", "unavailable"]))


class ReadinessSchema(ma.Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "degraded", "not-ready", "draining"]))
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


def nullable_time(description: str) -> fields.DateTime:
    return fields.DateTime(required=True, allow_none=True, metadata={"description": description})


class CacheEntrySchema(ma.Schema):
    """``GET /v1/<plural>/{id}/cache``'s body: the entry without the record (``app.web.api``)."""

    id = fields.UUID(required=True)
    present = fields.Boolean(required=True, metadata={"description": "Whether the cache holds anything for the id."})
    kind = fields.String(required=True, allow_none=True,
                         validate=validate.OneOf([*(resource.name for resource in RESOURCES), "not-found"]),
                         metadata={"description": "A copy of the record (its kind: `customer`, `account`...), "
                                                  "or a remembered 404."})
    fetchedAt = nullable_time("When the copy was fetched from Passport.")  # noqa: N815 — the frontends' case
    updatedAt = nullable_time("The record's `updated_at` at Passport.")  # noqa: N815
    freshUntil = nullable_time("Until when it is answered as a HIT.")  # noqa: N815
    fresh = fields.Boolean(required=True)
    staleWhileRevalidateUntil = nullable_time(  # noqa: N815
        "Until when it may be served stale while one refresh runs.")
    staleIfErrorUntil = nullable_time("Until when it may be served stale when Passport fails.")  # noqa: N815
    etag = fields.String(required=True, allow_none=True)
    storedBytes = fields.Integer(required=True, allow_none=True,  # noqa: N815
                                 metadata={"description": "Its size in Redis (sealed, when encrypted)."})
    expiresInSeconds = fields.Float(required=True, allow_none=True,  # noqa: N815
                                    metadata={"description": "Time left before the store drops it."})
    fetchLockHeld = fields.Boolean(required=True, metadata={  # noqa: N815
        "description": "Whether a fetch of this record runs now, somewhere in the fleet."})
    purgedAt = nullable_time(  # noqa: N815
        "The last purge, while a fetch begun before it may still run (it will not be stored).")


COMPONENTS: dict[str, type[ma.Schema]] = {
    "CacheEntry": CacheEntrySchema,
    "Customer": CustomerSchema,
    "Problem": ProblemSchema,
    "Health": HealthSchema,
    "Readiness": ReadinessSchema,
    "BatchGetRequest": BatchGetSchema,
    "BatchGetResult": BatchGetResultSchema,
    "CustomerPage": CustomerPageSchema,
    "CustomerOverview": overview.OverviewSchema,
}
# Dump-only schemas of app/passport/schemas.py: every field is always rendered, so the document requires them all.
ALWAYS_COMPLETE = ("Customer", "Identification", "Address")


# --- Operations of this module's views; the others live next to their views ---------------------

def operations() -> dict[str, dict[str, dict[str, Any]]]:
    """Every documented operation: ``{endpoint: {method: operation}}``."""
    return {
        **api.operations(),
        **api_collections.operations(),
        **overview.operations(),
        **health.operations(),
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
            *({"name": resource.plural, "description": f"{resource.title}s from Passport, cached."}
              for resource in RESOURCES),
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
