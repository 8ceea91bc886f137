"""Caller authentication and authorization, always before the cache: API keys and JWTs."""
from __future__ import annotations

import base64
import hashlib
import json
import time

import jwt
import pytest

from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.jwks import AUDIENCE, ISSUER, SigningKeys, jwks_server, standard_claims

READ_KEY, PURGE_KEY, OTHER_KEY = "read-key-123", "purge-key-456", "never-configured"
SECRET = "s" * 40
OTHER_ID = "00000000-0000-4000-8000-000000000001"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


API_KEYS = f"web:{sha(READ_KEY)},ops:{sha(PURGE_KEY)}:customers.purge"


def url(customer_id: str = DOCS_CUSTOMER_ID) -> str:
    return f"/v1/customers/{customer_id}"


def hs256(**claims) -> str:
    return jwt.encode(standard_claims(**claims), SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def signing_keys() -> SigningKeys:
    return SigningKeys()


@pytest.fixture
def jwks_url(signing_keys):
    with jwks_server(signing_keys) as address:
        yield address


@pytest.fixture
def client(make_app, jwks_url):
    app = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=API_KEYS, AUTH_JWT_SECRET=SECRET, AUTH_JWKS_URL=jwks_url,
                   AUTH_JWT_ISSUER=ISSUER, AUTH_JWT_AUDIENCE=AUDIENCE)
    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(response) -> None:
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert "Bearer" in response.headers["WWW-Authenticate"]


class TestApiKeys:
    def test_valid_key_reads_a_customer(self, client, emulator):
        response = client.get(url(), headers={"X-API-Key": READ_KEY})
        assert response.status_code == 200

    def test_missing_credentials_are_401_with_a_challenge(self, client, emulator):
        assert_unauthorized(client.get(url()))

    @pytest.mark.parametrize("key", [OTHER_KEY, "", sha(READ_KEY), READ_KEY.upper(), READ_KEY + " "])
    def test_wrong_key_is_401(self, client, emulator, key):
        assert_unauthorized(client.get(url(), headers={"X-API-Key": key}))

    def test_a_key_without_the_read_scope_is_403(self, client, emulator):
        response = client.get(url(), headers={"X-API-Key": PURGE_KEY})
        assert response.status_code == 403
        assert response.get_json()["type"].endswith("insufficient-scope")

    def test_unauthenticated_requests_never_reach_passport_or_the_cache(self, client, emulator, redis_client):
        client.get(url(), headers={"X-API-Key": READ_KEY})  # warm the cache
        calls = emulator.customer_calls()
        assert_unauthorized(client.get(url(), headers={"X-API-Key": OTHER_KEY}))
        assert_unauthorized(client.get(url(OTHER_ID)))
        assert emulator.customer_calls() == calls

    def test_health_checks_need_no_caller(self, client, emulator):
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


class TestJwt:
    def test_hs256_token_reads_a_customer(self, client, emulator):
        assert client.get(url(), headers=bearer(hs256())).status_code == 200

    @pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
    def test_jwks_signed_token_reads_a_customer(self, client, emulator, signing_keys, algorithm):
        assert client.get(url(), headers=bearer(signing_keys.token(algorithm))).status_code == 200

    @pytest.mark.parametrize(
        "claims",
        [
            lambda now: {"exp": now - 120},
            lambda now: {"exp": None},
            lambda now: {"nbf": now + 120},
            lambda now: {"iss": "https://evil.test"},
            lambda now: {"aud": "someone-else"},
            lambda now: {"aud": None},
        ],
        ids=["expired", "no-exp", "not-yet-valid", "wrong-issuer", "wrong-audience", "no-audience"],
    )
    def test_invalid_claims_are_401(self, client, emulator, claims):
        # Times are taken when the test runs, not when it is collected (a long suite would drift).
        assert_unauthorized(client.get(url(), headers=bearer(hs256(**claims(int(time.time()))))))

    def test_small_clock_skew_is_tolerated(self, client, emulator):
        assert client.get(url(), headers=bearer(hs256(exp=int(time.time()) - 5))).status_code == 200

    def test_alg_none_is_rejected(self, client, emulator):
        token = jwt.encode(standard_claims(), None, algorithm="none")
        assert_unauthorized(client.get(url(), headers=bearer(token)))

    def test_wrong_secret_is_rejected(self, client, emulator):
        token = jwt.encode(standard_claims(), "x" * 40, algorithm="HS256")
        assert_unauthorized(client.get(url(), headers=bearer(token)))

    def test_algorithm_confusion_hs256_signed_with_the_public_key_is_rejected(self, client, emulator, signing_keys):
        """The classic attack: an HS256 token whose 'secret' is the RSA public key."""
        from cryptography.hazmat.primitives import serialization
        public_pem = signing_keys.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode()).rstrip(b"=")
        payload = base64.urlsafe_b64encode(json.dumps(standard_claims()).encode()).rstrip(b"=")
        import hmac
        signature = base64.urlsafe_b64encode(
            hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest()).rstrip(b"=")
        token = (header + b"." + payload + b"." + signature).decode()
        assert_unauthorized(client.get(url(), headers=bearer(token)))

    def test_rs256_header_on_an_hmac_token_is_rejected(self, client, emulator):
        token = hs256()
        header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": "rsa-1"}).encode()).rstrip(b"=")
        forged = header.decode() + "." + token.split(".", 1)[1]
        assert_unauthorized(client.get(url(), headers=bearer(forged)))

    @pytest.mark.parametrize("token", ["garbage", "a.b.c", "", "Bearer"])
    def test_malformed_tokens_are_401(self, client, emulator, token):
        assert_unauthorized(client.get(url(), headers={"Authorization": f"Bearer {token}"}))

    def test_basic_auth_is_not_a_caller(self, client, emulator):
        assert_unauthorized(client.get(url(), headers={"Authorization": "Basic dXNlcjpwYXNz"}))

    def test_token_without_the_read_scope_is_403(self, client, emulator):
        response = client.get(url(), headers=bearer(hs256(scope="customers.purge")))
        assert response.status_code == 403

    def test_scp_list_claim_is_understood(self, client, emulator):
        response = client.get(url(), headers=bearer(hs256(scope=None, scp=["customers.read"])))
        assert response.status_code == 200


class TestCustomerBinding:
    def test_bound_caller_reads_its_customer(self, client, emulator):
        token = hs256(customer_ids=[DOCS_CUSTOMER_ID.upper()])
        assert client.get(url(), headers=bearer(token)).status_code == 200

    def test_bound_caller_is_refused_other_customers_on_a_miss(self, client, emulator):
        token = hs256(customer_ids=[OTHER_ID])
        response = client.get(url(), headers=bearer(token))
        assert response.status_code == 403
        assert response.get_json()["type"].endswith("customer-not-allowed")
        assert emulator.customer_calls() == 0

    def test_bound_caller_is_refused_other_customers_on_a_hit_too(self, client, emulator):
        assert client.get(url(), headers={"X-API-Key": READ_KEY}).headers["X-Cache"] == "MISS"
        response = client.get(url(), headers=bearer(hs256(customer_ids=[OTHER_ID])))
        assert response.status_code == 403
        assert "X-Cache" not in response.headers

    def test_malformed_binding_is_401(self, client, emulator):
        assert_unauthorized(client.get(url(), headers=bearer(hs256(customer_ids=DOCS_CUSTOMER_ID))))


class TestVerifiedTokens:
    """A verified token is remembered (signature checks cost more than a cache hit), never past its exp."""

    def test_a_remembered_token_stops_working_when_it_expires(self, make_app, emulator):
        client = make_app(AUTH_MODE="enforced", AUTH_JWT_SECRET=SECRET, AUTH_JWT_LEEWAY_SECONDS=0,
                          AUTH_JWT_ISSUER=ISSUER, AUTH_JWT_AUDIENCE=AUDIENCE).test_client()
        expires = int(time.time()) + 2
        token = hs256(exp=expires)
        assert [client.get(url(), headers=bearer(token)).status_code for _ in range(3)] == [200, 200, 200]
        time.sleep(max(0.0, expires - time.time()) + 0.05)
        assert_unauthorized(client.get(url(), headers=bearer(token)))

    def test_a_remembered_token_keeps_its_scopes_and_binding(self, client, emulator):
        token = hs256(customer_ids=[DOCS_CUSTOMER_ID])
        assert client.get(url(), headers=bearer(token)).status_code == 200
        assert client.get(url(OTHER_ID), headers=bearer(token)).status_code == 403
        assert client.get(url(OTHER_ID), headers=bearer(token)).status_code == 403


class TestModes:
    def test_development_config_accepts_the_documented_development_key(self, emulator, redis_server):
        from app import create_app
        app = create_app(environ={"APP_ENV": "development", "PASSPORT_BASE_URL": emulator.base_url,
                                  "REDIS_URL": redis_server.url})
        client = app.test_client()
        assert client.get(url()).status_code == 401
        assert client.get(url(), headers={"X-API-Key": "dev-api-key"}).status_code == 200

    def test_gateway_trusted_mode_needs_no_credentials(self, make_app, emulator):
        assert make_app(AUTH_MODE="gateway-trusted").test_client().get(url()).status_code == 200
