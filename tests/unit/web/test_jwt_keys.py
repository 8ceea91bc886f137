"""Which key may verify which token: the pure rules of ``app.web.auth``, and its last-resort net."""
from __future__ import annotations

import logging

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.web.auth import JwtVerifier, describe_jwk, jwk_refusal, key_fits
from config.settings import AuthSettings
from tests.support.jwks import b64url, public_jwk, standard_claims

SECRET = "s" * 40


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def p256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def p384_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


class TestKeyFits:
    def test_an_rsa_key_fits_rs256(self, rsa_key):
        assert key_fits("RS256", rsa_key.public_key())

    def test_an_rsa_key_does_not_fit_es256(self, rsa_key):
        assert not key_fits("ES256", rsa_key.public_key())

    def test_a_p256_key_fits_es256(self, p256_key):
        assert key_fits("ES256", p256_key.public_key())

    def test_an_ec_key_does_not_fit_rs256(self, p256_key):
        assert not key_fits("RS256", p256_key.public_key())

    def test_a_p384_key_does_not_fit_es256(self, p384_key):
        assert not key_fits("ES256", p384_key.public_key())

    @pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
    @pytest.mark.parametrize("key", [SECRET, SECRET.encode(), None])
    def test_a_secret_fits_no_jwks_algorithm(self, algorithm, key):
        assert not key_fits(algorithm, key)

    @pytest.mark.parametrize("algorithm", ["HS256", "PS256", "RS512", "ES384", "none", "", None])
    def test_no_key_fits_an_algorithm_outside_the_jwks_ones(self, rsa_key, p384_key, algorithm):
        assert not key_fits(algorithm, rsa_key.public_key())
        assert not key_fits(algorithm, p384_key.public_key())


class TestJwkRefusal:
    def test_an_rsa_signing_key_is_usable(self, rsa_key):
        assert jwk_refusal(public_jwk(rsa_key, kid="r", use="sig", alg="RS256")) is None

    def test_a_p256_signing_key_is_usable(self, p256_key):
        assert jwk_refusal(public_jwk(p256_key, kid="e", use="sig", alg="ES256")) is None

    def test_a_key_without_alg_or_use_is_usable_for_its_kty(self, rsa_key, p256_key):
        assert jwk_refusal(public_jwk(rsa_key, kid="r")) is None
        assert jwk_refusal(public_jwk(p256_key, kid="e")) is None

    def test_a_key_whose_ops_include_verify_is_usable(self, rsa_key):
        assert jwk_refusal(public_jwk(rsa_key, kid="r", key_ops=["verify"])) is None

    def test_an_oct_key_is_refused_without_its_secret_in_the_reason(self):
        secret = b64url(b"the shared secret")
        reason = jwk_refusal({"kty": "oct", "kid": "o", "alg": "HS256", "k": secret})
        assert reason is not None and "symmetric" in reason and secret not in reason

    def test_an_encryption_key_is_refused(self, rsa_key):
        assert jwk_refusal(public_jwk(rsa_key, kid="r", use="enc", alg="RS256")) is not None

    @pytest.mark.parametrize("key_ops", [["encrypt"], [], "verify"])
    def test_a_key_whose_ops_exclude_verify_is_refused(self, rsa_key, key_ops):
        assert jwk_refusal(public_jwk(rsa_key, kid="r", key_ops=key_ops)) is not None

    @pytest.mark.parametrize("kty", ["XYZ", "OKP", "", None, ["RSA"]])
    def test_a_key_of_another_kty_is_refused(self, kty):
        assert jwk_refusal({"kty": kty, "kid": "k", "crv": "Ed25519", "x": b64url(b"x" * 32)}) is not None

    def test_an_ec_key_on_another_curve_is_refused(self, p384_key):
        assert jwk_refusal(public_jwk(p384_key, kid="e", alg="ES384")) is not None
        assert jwk_refusal(public_jwk(p384_key, kid="e")) is not None

    @pytest.mark.parametrize("alg", ["ES256", "PS256", "RS512", "HS256", "none", ["RS256"]])
    def test_an_rsa_key_with_an_alg_other_than_rs256_is_refused(self, rsa_key, alg):
        assert jwk_refusal(public_jwk(rsa_key, kid="r", alg=alg)) is not None

    @pytest.mark.parametrize("kid", [None, "", 1, ["r"]])
    def test_a_key_without_a_string_kid_is_refused(self, rsa_key, kid):
        jwk = {k: v for k, v in public_jwk(rsa_key, kid=kid).items() if v is not None}
        assert jwk_refusal(jwk) is not None

    def test_a_key_with_malformed_material_is_refused(self, rsa_key):
        assert jwk_refusal({**public_jwk(rsa_key, kid="r"), "n": "!!not base64!!"}) is not None

    @pytest.mark.parametrize("member", ["RSA", None, ["kty"], 1])
    def test_a_member_that_is_not_an_object_is_refused(self, member):
        assert jwk_refusal(member) is not None


class TestDescribeJwk:
    def test_names_a_key_by_position_and_kid_only(self, rsa_key):
        jwk = public_jwk(rsa_key, kid="rsa-1")
        described = describe_jwk(3, jwk)
        assert "#3" in described and "rsa-1" in described and jwk["n"] not in described

    def test_a_long_kid_is_cut(self):
        assert len(describe_jwk(1, {"kid": "k" * 10_000})) < 100


class TestSafetyNet:
    """PyJWT raising something other than PyJWTError is still a 401, logged without a traceback."""

    def test_an_unexpected_pyjwt_exception_is_a_401_warning(self, monkeypatch, caplog):
        verifier = JwtVerifier(AuthSettings(mode="enforced", api_keys=(), jwt_secret=SECRET, jwks_url=None,
                                            jwt_issuer=None, jwt_audience=None, jwt_leeway_seconds=0,
                                            jwt_customers_claim="customer_ids"))
        token = jwt.encode(standard_claims(), SECRET, algorithm="HS256")

        def crash(*args, **kwargs):
            raise TypeError("Expecting a PEM-formatted key.")

        monkeypatch.setattr(jwt, "decode", crash)
        with caplog.at_level(logging.DEBUG), pytest.raises(Exception) as raised:
            verifier.verify(token)
        assert raised.value.code == 401
        assert 'error="invalid_token"' in raised.value.extra_headers["WWW-Authenticate"]
        assert [(r.levelno, r.exc_info) for r in caplog.records] == [(logging.WARNING, None)]
        assert "TypeError" in caplog.records[0].getMessage() and token not in caplog.text
