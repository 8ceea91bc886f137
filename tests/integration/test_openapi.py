"""The OpenAPI document and the docs page: valid 3.1, true to the app's routes and to real answers,
served from local files, and open to callers without credentials."""
from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser

import pytest
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from app.web import openapi
from tests.support.emulator import DOCS_CUSTOMER_ID

API_KEY = "openapi-test-key"
CUSTOMER_URL = f"/v1/customers/{DOCS_CUSTOMER_ID}"
NOT_API_OPERATIONS = {"static", "openapi.asset"}  # Flask's static files and the docs page's files
FLASK_METHODS = {"HEAD", "OPTIONS"}  # answered by Flask itself on every route
PUBLIC_PATHS = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"}
FLASK_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


@pytest.fixture
def enforced(make_app):
    """An app that demands a caller on every non-public route."""
    keys = f"web:{hashlib.sha256(API_KEY.encode()).hexdigest()}"
    return make_app(AUTH_MODE="enforced", AUTH_API_KEYS=keys)


@pytest.fixture
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    return response.get_json()


def schema_of(document: dict, schema: dict) -> OAS31Validator:
    """A validator of ``schema`` that resolves ``#/components/...`` in ``document``."""
    return OAS31Validator({**schema, "components": document["components"]})


def documented_operations(document: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item}


class PageLinks(HTMLParser):
    """Collect every URL a page loads, and any inline script or style."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [value for name, value in attrs if name in ("src", "href", "data-openapi-url") and value]
        if tag == "style" or "style" in values or any(name.startswith("on") for name in values):
            self.inline.append(tag)
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


def page_links(html: str) -> PageLinks:
    parser = PageLinks()
    parser.feed(html)
    return parser


class TestDocument:
    def test_is_a_valid_openapi_3_1_document(self, document):
        assert document["openapi"] == "3.1.0"
        validate(document, cls=OpenAPIV31SpecValidator)
        assert document["info"]["title"] == "passport-bff"
        assert document["info"]["version"] and document["info"]["description"]

    def test_every_route_is_documented_and_every_operation_is_a_route(self, client, document):
        routes = {
            (FLASK_VARIABLE.sub(r"{\1}", rule.rule), method)
            for rule in client.application.url_map.iter_rules() if rule.endpoint not in NOT_API_OPERATIONS
            for method in rule.methods - FLASK_METHODS
        }
        assert routes == documented_operations(document)

    def test_customer_endpoints_need_credentials_and_the_rest_do_not(self, document):
        schemes = document["components"]["securitySchemes"]
        assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
        assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
        assert "security" not in document
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if path in PUBLIC_PATHS:
                    assert "security" not in operation, (method, path)
                else:
                    assert {name for option in operation["security"] for name in option} == set(schemes)

    def test_get_customer_documents_its_statuses_and_headers(self, document):
        operation = document["paths"]["/v1/customers/{customer_id}"]["get"]
        responses = operation["responses"]
        assert set(responses) == {"200", "304", "400", "401", "403", "404", "413", "429", "502", "503", "504"}
        assert set(responses["200"]["headers"]) == {"ETag", "Cache-Control", "Age", "X-Cache", "Cache-Status",
                                                    "X-Request-ID"}
        assert responses["200"]["headers"]["X-Cache"]["schema"]["enum"] == ["HIT", "MISS", "STALE", "BYPASS"]
        assert "Retry-After" in responses["429"]["headers"] and "Retry-After" in responses["503"]["headers"]
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], status
        parameters = {(p["in"], p["name"]): p for p in operation["parameters"]}
        assert set(parameters) == {("path", "customer_id"), ("header", "X-Request-ID"), ("header", "If-None-Match"),
                                   ("header", "X-Purpose"), ("header", "Cache-Control")}
        assert re.fullmatch(parameters[("header", "X-Purpose")]["schema"]["pattern"], "ticket:SUP-1234")
        pattern = parameters[("path", "customer_id")]["schema"]["pattern"]
        assert re.fullmatch(pattern, DOCS_CUSTOMER_ID.upper()) and not re.fullmatch(pattern, "not-a-uuid")

    def test_purge_documents_its_refresh_parameter(self, document):
        operation = document["paths"]["/v1/customers/{customer_id}/cache"]["delete"]
        refresh = next(p for p in operation["parameters"] if p["name"] == "refresh")
        assert refresh["in"] == "query"
        for value in ("true", "false", "TRUE"):
            assert re.fullmatch(refresh["schema"]["pattern"], value)
        assert not re.fullmatch(refresh["schema"]["pattern"], "yes")
        assert "204" in operation["responses"]

    def test_customer_component_matches_a_real_answer(self, client, document, emulator):
        response = client.get(CUSTOMER_URL)
        assert response.status_code == 200
        body = response.get_json()
        schemas = document["components"]["schemas"]
        customer = schemas["Customer"]
        assert set(customer["properties"]) == set(customer["required"]) == set(body)
        assert set(schemas["Identification"]["properties"]) == set(body["identification"])
        assert set(schemas["Address"]["properties"]) == set(body["address"])
        schema = document["paths"]["/v1/customers/{customer_id}"]["get"]["responses"]["200"]["content"][
            "application/json"]["schema"]
        schema_of(document, schema).validate(body)

    def test_problem_component_matches_a_real_problem(self, client, document):
        response = client.get("/v1/customers/not-a-uuid")
        assert response.status_code == 400
        schema = document["paths"]["/v1/customers/{customer_id}"]["get"]["responses"]["400"]["content"][
            "application/problem+json"]["schema"]
        schema_of(document, schema).validate(response.get_json())
        with pytest.raises(ValidationError):
            schema_of(document, schema).validate({**response.get_json(), "status": 404})

    def test_readiness_component_matches_a_real_answer(self, client, document, emulator):
        response = client.get("/readyz")
        schema = document["paths"]["/readyz"]["get"]["responses"][str(response.status_code)]["content"][
            "application/json"]["schema"]
        schema_of(document, schema).validate(response.get_json())

    def test_is_built_once_when_the_app_is_created(self, make_app, monkeypatch):
        app = make_app()
        monkeypatch.setattr(openapi, "build_document", lambda _: pytest.fail("document built per request"))
        client = app.test_client()
        assert client.get("/openapi.json").data == client.get("/openapi.json").data == app.extensions[openapi.EXTENSION]


class TestDocsPage:
    def test_is_html_that_loads_only_local_urls(self, client):
        response = client.get("/docs")
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        page = response.get_data(as_text=True)
        assert "http://" not in page and "https://" not in page
        links = page_links(page)
        assert links.urls, "the page loads nothing"
        for url in links.urls:
            assert url.startswith("/") and not url.startswith("//"), url
        assert "/openapi.json" in links.urls

    def test_its_assets_are_served(self, client):
        for url in page_links(client.get("/docs").get_data(as_text=True)).urls:
            response = client.get(url)
            assert response.status_code == 200, url
            assert response.data, url
            if url.endswith(".js"):
                assert response.mimetype == "text/javascript", url
            if url.endswith(".css"):
                assert response.mimetype == "text/css", url
                assert not re.search(r"url\(\s*['\"]?(https?:)?//", response.get_data(as_text=True)), url

    def test_csp_allows_only_its_own_scripts_and_styles(self, client):
        response = client.get("/docs")
        assert not page_links(response.get_data(as_text=True)).inline
        directives = dict(
            (part.split()[0], part.split()[1:]) for part in response.headers["Content-Security-Policy"].split(";")
        )
        assert directives["default-src"] == ["'none'"]
        assert directives["script-src"] == ["'self'"]
        assert directives["style-src"] == ["'self'"]
        assert directives["connect-src"] == ["'self'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"

    def test_serves_only_the_files_the_page_uses(self, client):
        for name in ("oauth2-redirect.html", "index.template.html", "../flask_swagger_ui.py", "LICENSE", "nope.js"):
            response = client.get(f"/docs/assets/{name}")
            assert response.status_code == 404, name
            assert response.content_type == "application/problem+json"


class TestNoCredentialsNeeded:
    def test_document_docs_and_assets_are_open_when_callers_are_enforced(self, enforced, emulator):
        client = enforced.test_client()
        assert client.get(CUSTOMER_URL).status_code == 401  # the control: callers are enforced
        assert client.get(CUSTOMER_URL, headers={"X-API-Key": API_KEY}).status_code == 200
        assert client.get("/openapi.json").status_code == 200
        page = client.get("/docs")
        assert page.status_code == 200
        for url in page_links(page.get_data(as_text=True)).urls:
            assert client.get(url).status_code == 200, url
