"""app.web.request_target: which raw paths are the canonical spelling (RFC 3986 section 6.2.2)."""
from __future__ import annotations

import pytest

from app.web.request_target import non_canonical_reason, raw_path

ID = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"


@pytest.mark.parametrize("path", [
    "/", "/healthz", f"/v1/customers/{ID}", f"/v1/customers/{ID.upper()}", "/v1/customers:batchGet",
    f"/v1/customers/{ID}/cache", "/v1/customers/", "/v1/customers/not%20a%20uuid", "/v1/caf%C3%A9",
    "/v1/%25", "/v1/a%3Fb", "/v1/a%23b", "/v1/customers/{x}", "/v1/a b", "/v1/caf\xc3\xa9",
])
def test_canonical_paths_pass(path):
    assert non_canonical_reason(path) is None


@pytest.mark.parametrize("path, reason", [
    (f"//v1/customers/{ID}", "empty segment"),
    (f"/v1/customers//{ID}", "empty segment"),
    (f"/v1/./customers/{ID}", "dot segment"),
    (f"/v1/customers/../customers/{ID}", "dot segment"),
    (f"/v1/customers%2F{ID}", "encoded '/'"),
    (f"/v1/customers%2f{ID}", "lower-case hex"),
    (f"/v1/customers/%64{ID[1:]}", "percent-encodes 'd'"),
    ("/v1/customers%3AbatchGet", "percent-encodes ':'"),
    ("/v1/%2E/customers", "percent-encodes '.'"),
    ("/v1/caf%c3%a9", "lower-case hex"),
    ("/v1/100%", "malformed"),
    ("/v1/%zz", "malformed"),
])
def test_non_canonical_paths_say_which_rule_they_break(path, reason):
    assert reason in (non_canonical_reason(path) or "")


@pytest.mark.parametrize("environ, path", [
    ({"RAW_URI": f"/v1/customers/{ID}?a=%64"}, f"/v1/customers/{ID}"),
    ({"REQUEST_URI": "/healthz"}, "/healthz"),
    ({"RAW_URI": f"http://example.test/v1/customers/{ID}?x=1"}, f"/v1/customers/{ID}"),
    ({"RAW_URI": "http://example.test"}, "/"),
    ({"RAW_URI": "*"}, None),
    ({"RAW_URI": "example.test:443"}, None),
    ({}, None),
])
def test_the_raw_path_is_the_target_without_its_query(environ, path):
    assert raw_path(environ) == path
