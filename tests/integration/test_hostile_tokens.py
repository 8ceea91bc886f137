"""Hostile bearer tokens: every way a token can name a key it cannot use is a quiet 401.

Anyone can read the JWKS, so anyone can send a token whose ``alg`` does not fit the key its
``kid`` names, or that names a key we publish but must not verify with. Each such token gets the
answer any invalid token gets — a 401 problem with a Bearer challenge — and the log holds no stack
trace, no ERROR line and never the token itself. The JWKS is served over a real loopback socket.
"""
from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.web.auth import JwksClient
from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.jwks import (
    AUDIENCE,
    ISSUER,
    SigningKeys,
    b64url,
    compact_token,
    hmac_token,
    jwks_server,
    public_jwk,
    signed_token,
    standard_claims,
)

SECRET = "s" * 40
OCT_SECRET = b"a symmetric key anyone can read in the JWKS"
URL = f"/v1/customers/{DOCS_CUSTOMER_ID}"


@pytest.fixture(scope="module")
def keys() -> SigningKeys:
    return SigningKeys()


@pytest.fixture(scope="module")
def p384_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def hostile_jwks(keys, p384_key) -> dict:
    """The gateway's two good keys, plus every kind of JWK we must not verify RS256/ES256 with."""
    return {"keys": [
        *keys.jwks()["keys"],
        public_jwk(keys.rsa, kid="rsa-no-alg", use="sig"),
        public_jwk(keys.rsa, kid="rsa-enc", use="enc", alg="RS256"),
        public_jwk(keys.rsa, kid="rsa-claims-es256", use="sig", alg="ES256"),
        public_jwk(p384_key, kid="ec-384", use="sig", alg="ES384"),
        {"kty": "oct", "kid": "oct-1", "use": "sig", "alg": "HS256", "k": b64url(OCT_SECRET)},
        {"kty": "XYZ", "kid": "xyz-1", "use": "sig", "alg": "RS256", "x": b64url(b"whatever")},
    ]}


@pytest.fixture
def jwks_url(hostile_jwks):
    with jwks_server(hostile_jwks) as address:
        yield address


def app_config(jwks_url: str, **overrides) -> dict:
    return {"AUTH_MODE": "enforced", "AUTH_JWKS_URL": jwks_url, "AUTH_JWT_SECRET": SECRET,
            "AUTH_JWT_ISSUER": ISSUER, "AUTH_JWT_AUDIENCE": AUDIENCE, **overrides}


@pytest.fixture
def client(make_app, jwks_url, emulator, caplog):
    caplog.set_level(logging.DEBUG)
    return make_app(**app_config(jwks_url)).test_client()


def get(client, token: str):
    return client.get(URL, headers={"Authorization": f"Bearer {token}"})


def assert_refused(response, caplog, token: str) -> None:
    """The answer to any invalid token, and a log with nothing alarming and no token in it."""
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert 'Bearer realm="passport-bff", error="invalid_token"' in response.headers["WWW-Authenticate"]
    body = response.get_json()
    assert body["status"] == 401
    assert isinstance(body["request_id"], str) and body["request_id"]
    assert_quiet_log(caplog, token)
    assert not any("PyJWT raised" in r.getMessage() for r in caplog.records), "refused by the safety net only"


def assert_quiet_log(caplog, token: str) -> None:
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    for record in caplog.records:
        text = formatter.format(record)
        assert record.levelno < logging.ERROR, text
        assert record.exc_info is None and "Traceback" not in text, text
        assert token not in text


def rs256(keys: SigningKeys, **header) -> str:
    return signed_token({"alg": "RS256", **header}, standard_claims(), keys.rsa)


class TestAlgorithmMustFitTheKey:
    def test_es256_token_naming_the_rsa_key_is_401(self, client, caplog):
        token = compact_token({"alg": "ES256", "kid": "rsa-1"}, standard_claims())
        assert_refused(get(client, token), caplog, token)

    def test_rs256_token_naming_the_ec_key_is_401(self, client, caplog):
        token = compact_token({"alg": "RS256", "kid": "ec-1"}, standard_claims())
        assert_refused(get(client, token), caplog, token)

    def test_es256_token_signed_by_the_ec_key_but_naming_the_rsa_key_is_401(self, client, keys, caplog):
        token = signed_token({"alg": "ES256", "kid": "rsa-1"}, standard_claims(), keys.ec)
        assert_refused(get(client, token), caplog, token)

    def test_es256_token_naming_a_p384_key_is_401(self, client, keys, caplog):
        token = signed_token({"alg": "ES256", "kid": "ec-384"}, standard_claims(), keys.ec)
        assert_refused(get(client, token), caplog, token)

    def test_token_naming_a_jwk_whose_alg_contradicts_its_kty_is_401(self, client, keys, caplog):
        token = signed_token({"alg": "ES256", "kid": "rsa-claims-es256"}, standard_claims(), keys.ec)
        assert_refused(get(client, token), caplog, token)

    def test_rs256_token_verified_by_a_jwk_without_alg(self, client, keys):
        assert get(client, rs256(keys, kid="rsa-no-alg")).status_code == 200

    def test_es256_token_naming_an_rsa_jwk_without_alg_is_401(self, client, keys, caplog):
        token = signed_token({"alg": "ES256", "kid": "rsa-no-alg"}, standard_claims(), keys.ec)
        assert_refused(get(client, token), caplog, token)

    @pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
    def test_good_tokens_still_verify_beside_unusable_keys(self, client, keys, algorithm):
        assert get(client, keys.token(algorithm)).status_code == 200


class TestKeysWeMustNotVerifyWith:
    def test_hs256_token_signed_with_a_published_oct_key_is_401(self, client, caplog):
        token = hmac_token({"alg": "HS256", "kid": "oct-1"}, standard_claims(), OCT_SECRET)
        assert_refused(get(client, token), caplog, token)

    def test_hs256_token_signed_with_a_published_oct_key_is_401_without_a_secret(self, make_app, jwks_url, emulator,
                                                                                caplog):
        caplog.set_level(logging.DEBUG)
        client = make_app(**app_config(jwks_url, AUTH_JWT_SECRET=None)).test_client()
        token = hmac_token({"alg": "HS256", "kid": "oct-1"}, standard_claims(), OCT_SECRET)
        assert_refused(get(client, token), caplog, token)

    def test_rs256_token_naming_an_oct_key_is_401(self, client, caplog):
        token = compact_token({"alg": "RS256", "kid": "oct-1"}, standard_claims())
        assert_refused(get(client, token), caplog, token)

    def test_token_naming_a_key_of_unknown_kty_is_401(self, client, caplog):
        token = compact_token({"alg": "RS256", "kid": "xyz-1"}, standard_claims())
        assert_refused(get(client, token), caplog, token)

    def test_token_signed_by_an_encryption_key_is_401(self, client, keys, caplog):
        token = rs256(keys, kid="rsa-enc")
        assert_refused(get(client, token), caplog, token)

    @pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
    def test_hs256_token_signed_with_the_rsa_public_key_is_401(self, client, keys, caplog, encoding):
        """The classic key confusion: the public key used as an HMAC secret."""
        public_key = keys.rsa.public_key().public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)
        token = hmac_token({"alg": "HS256", "kid": "rsa-1"}, standard_claims(), public_key)
        assert_refused(get(client, token), caplog, token)


class TestAlgorithms:
    @pytest.mark.parametrize("algorithm", ["none", "None", "NONE", ""])
    def test_unsigned_token_is_401(self, client, caplog, algorithm):
        token = compact_token({"alg": algorithm, "kid": "rsa-1"}, standard_claims(), b"")
        assert_refused(get(client, token), caplog, token)

    @pytest.mark.parametrize("algorithm", ["PS256", "RS512", "RS384"])
    def test_rsa_signed_token_with_an_algorithm_the_config_does_not_allow_is_401(self, client, keys, caplog,
                                                                                  algorithm):
        token = signed_token({"alg": algorithm, "kid": "rsa-1"}, standard_claims(), keys.rsa)
        assert_refused(get(client, token), caplog, token)

    def test_es384_token_signed_by_a_published_p384_key_is_401(self, client, p384_key, caplog):
        token = signed_token({"alg": "ES384", "kid": "ec-384"}, standard_claims(), p384_key)
        assert_refused(get(client, token), caplog, token)

    def test_hs512_token_signed_with_the_configured_secret_is_401(self, client, caplog):
        token = signed_token({"alg": "HS512"}, standard_claims(), SECRET.encode())
        assert_refused(get(client, token), caplog, token)

    @pytest.mark.parametrize("algorithm", ["EdDSA", "XS256", "rs256"])
    def test_unknown_algorithm_is_401(self, client, caplog, algorithm):
        token = compact_token({"alg": algorithm, "kid": "rsa-1"}, standard_claims())
        assert_refused(get(client, token), caplog, token)

    @pytest.mark.parametrize("algorithm", [None, 256, ["RS256"], {"RS256": True}, True])
    def test_alg_that_is_not_a_string_is_401(self, client, caplog, algorithm):
        token = compact_token({"alg": algorithm, "kid": "rsa-1"}, standard_claims())
        assert_refused(get(client, token), caplog, token)

    def test_token_without_alg_is_401(self, client, caplog):
        token = compact_token({"kid": "rsa-1"}, standard_claims())
        assert_refused(get(client, token), caplog, token)


class TestKeyIds:
    def test_kid_not_in_the_jwks_is_401(self, client, keys, caplog):
        token = rs256(keys, kid="rsa-2")
        assert_refused(get(client, token), caplog, token)

    def test_rs256_token_without_kid_is_401(self, client, keys, caplog):
        token = rs256(keys)
        assert_refused(get(client, token), caplog, token)

    @pytest.mark.parametrize("kid", [None, 1, 1.5, True, "", ["rsa-1"], {"kid": "rsa-1"}])
    def test_kid_that_is_not_a_non_empty_string_is_401(self, client, keys, caplog, kid):
        token = rs256(keys, kid=kid)
        assert_refused(get(client, token), caplog, token)


class TestMalformedHeaders:
    @pytest.mark.parametrize("header", [b"not json", b"{\"alg\": \"RS256\"", b"\xff\xfe\x00", b""])
    def test_header_that_is_not_json_is_401(self, client, caplog, header):
        token = compact_token(header, standard_claims())
        assert_refused(get(client, token), caplog, token)

    @pytest.mark.parametrize("header", [["RS256"], "RS256", 1, None, True])
    def test_header_that_is_not_an_object_is_401(self, client, caplog, header):
        token = compact_token(header, standard_claims())
        assert_refused(get(client, token), caplog, token)

    def test_header_segment_that_is_not_base64url_is_401(self, client, caplog):
        token = "!!!." + compact_token({}, standard_claims()).split(".", 1)[1]
        assert_refused(get(client, token), caplog, token)

    def test_huge_header_is_401(self, client, caplog):
        token = compact_token({"alg": "RS256", "kid": "k" * 1_000_000}, standard_claims())
        assert_refused(get(client, token), caplog, token)

    def test_deeply_nested_header_is_401(self, client, caplog):
        token = compact_token(b"[" * 100_000 + b"]" * 100_000, standard_claims())
        assert_refused(get(client, token), caplog, token)

    def test_many_header_members_are_401(self, client, caplog):
        header = {"alg": "ES256", "kid": "rsa-1", **{f"x{i}": i for i in range(50_000)}}
        token = compact_token(header, standard_claims())
        assert_refused(get(client, token), caplog, token)


class TestUnusableJwksKeys:
    SKIPPED = ("rsa-enc", "rsa-claims-es256", "ec-384", "oct-1", "xyz-1")

    def test_each_unusable_key_is_logged_once_at_warning(self, client, keys, caplog):
        for _ in range(3):
            assert get(client, keys.token()).status_code == 200
        skipped = [r for r in caplog.records if r.name == "app.web.auth" and r.levelno == logging.WARNING]
        for kid in self.SKIPPED:
            assert sum(kid in r.getMessage() for r in skipped) == 1, kid
        assert not any("rsa-no-alg" in r.getMessage() or "'rsa-1'" in r.getMessage() for r in skipped)

    def test_a_reloaded_jwks_does_not_repeat_the_warnings(self, jwks_url, caplog):
        caplog.set_level(logging.DEBUG)
        client = JwksClient(jwks_url)
        for _ in range(2):
            loaded = client.get_jwk_set(refresh=True)
        assert sorted(key.key_id for key in loaded.keys) == ["ec-1", "rsa-1", "rsa-no-alg"]
        for kid in self.SKIPPED:
            assert sum(kid in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING) == 1, kid

    def test_skipped_keys_are_logged_without_key_material(self, client, keys, hostile_jwks, caplog):
        assert get(client, keys.token()).status_code == 200
        material = [b64url(OCT_SECRET)] + [jwk[m] for jwk in hostile_jwks["keys"] for m in ("n", "x", "y", "k")
                                             if m in jwk]
        assert caplog.records
        for record in caplog.records:
            assert not any(value in record.getMessage() for value in material)
