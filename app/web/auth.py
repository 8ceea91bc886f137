"""Caller authentication and authorization, decided before any cache lookup.

The cache is shared by every caller, so checking who asks *after* a hit would make it an
authorization bypass (OWASP API1). Every endpoint requires a caller except those marked
``@public`` (health checks). Two kinds of caller:

- **Service callers** send ``X-API-Key``. Only SHA-256 hashes are configured (``AUTH_API_KEYS``);
  the presented key's hash is compared with every configured hash in constant time.
- **Gateway-forwarded identities** send ``Authorization: Bearer <JWT>``, verified with PyJWT:
  HS256 against ``AUTH_JWT_SECRET`` or RS256/ES256 against the keys at ``AUTH_JWKS_URL``; each
  algorithm only with its own kind of key (no ``none``, no algorithm confusion); ``exp`` required,
  ``nbf``/``iss``/``aud`` checked, with a small leeway. The key is chosen by the token's ``kid``
  but used only if its type fits the token's ``alg`` (RFC 8725 §3.1); JWKS members we would never
  verify with (``oct``, ``use: enc``, other ``kty``/curves/algorithms) are dropped when the JWKS
  is loaded. Any token PyJWT cannot verify is the same 401, never a 500. Scopes come from
  ``scope`` (space-separated) or ``scp``; a ``customer_ids`` claim (name configurable) binds the
  caller to those customers.

``AUTH_MODE=gateway-trusted`` turns all of this off: the gateway is then the only line of defence.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, current_app, g, request

from app.web.problems import AUTH_UNAVAILABLE, INSUFFICIENT_SCOPE, UNAUTHENTICATED, Problem
from config.security import DEFAULT_SCOPES, SCOPES
from config.settings import AuthSettings

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)

EXTENSION = "passport_bff_auth"
API_KEY_HEADER = "X-API-Key"
REALM = 'realm="passport-bff"'
HMAC_ALGORITHMS = ("HS256",)
JWKS_ALGORITHMS = ("RS256", "ES256")
JWKS_TIMEOUT_SECONDS = 2
JWKS_CACHE_SECONDS = 300
MAX_TOKEN_CHARS = 16 * 1024  # twice gunicorn's header line limit: no real token is longer
VERIFIED_TOKEN_SECONDS = 60
VERIFIED_TOKENS_MAX = 10_000



@dataclass(frozen=True)
class Caller:
    name: str
    scopes: frozenset[str]
    customers: frozenset[str] | None = None  # None: any customer

    def may_read(self, customer_id: str) -> bool:
        return self.customers is None or customer_id in self.customers

    def may_read_owned(self, owner: str | None) -> bool:
        """A record owned by ``owner`` (a customer id; None: unknown) may be shown to this caller."""
        return self.customers is None or (owner is not None and owner in self.customers)


TRUSTED_GATEWAY = Caller("gateway", SCOPES)


def public(view: F) -> F:
    """Mark a view as needing no caller (health checks)."""
    view.public = True  # type: ignore[attr-defined]
    return view


def key_fits(algorithm: str, key: Any) -> bool:
    """Tell whether ``key`` is the kind of public key ``algorithm`` verifies with.

    PyJWT trusts the caller to hand it the right kind of key; a token naming an EC key with
    ``RS256`` would otherwise reach it and crash (RFC 8725 §3.1: the key, not the token, decides).
    """
    if algorithm == "RS256":
        return isinstance(key, rsa.RSAPublicKey)
    if algorithm == "ES256":
        return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    return False


def jwk_algorithm(jwk: dict[str, Any]) -> str | None:
    """The one algorithm of ``JWKS_ALGORITHMS`` this JWK's ``kty`` (and curve) fits, if any."""
    if jwk.get("kty") == "RSA":
        return "RS256"
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        return "ES256"
    return None


def jwk_refusal(jwk: Any) -> str | None:
    """Say why a JWKS member must not verify our tokens, or None if it may (RFC 7517 §4)."""
    if not isinstance(jwk, dict):
        return "it is not a JSON object"
    if not isinstance(jwk.get("kid"), str) or not jwk["kid"]:
        return "it has no kid"
    if jwk.get("use", "sig") != "sig":
        return "its use is not sig"
    if "key_ops" in jwk and (not isinstance(jwk["key_ops"], list) or "verify" not in jwk["key_ops"]):
        return "its key_ops do not include verify"
    if jwk.get("kty") == "oct":
        return "it is a symmetric key (HS256 tokens are verified with AUTH_JWT_SECRET only)"
    algorithm = jwk_algorithm(jwk)
    if algorithm is None:
        return f"its kty/crv is not one of {', '.join(JWKS_ALGORITHMS)}'s"
    if jwk.get("alg", algorithm) != algorithm:
        return f"its alg is not {algorithm}, the only one its kty allows here"
    try:
        jwt.PyJWK(jwk, algorithm)
    except jwt.PyJWTError:
        return "its key material is malformed"
    return None


def describe_jwk(position: int, jwk: Any) -> str:
    """Name a JWKS member for the log by position and kid, never by key material."""
    kid = jwk.get("kid") if isinstance(jwk, dict) else None
    return f"JWKS key #{position}" + (f" (kid {kid[:64]!r})" if isinstance(kid, str) else "")


class JwksClient(jwt.PyJWKClient):
    """PyJWT's JWKS client (fetching, caching, refresh on an unknown kid), keeping only the keys
    that may verify our tokens, and refusing a key whose type does not fit the token's ``alg``."""

    def __init__(self, url: str) -> None:
        super().__init__(url, lifespan=JWKS_CACHE_SECONDS, timeout=JWKS_TIMEOUT_SECONDS)
        self._reported: tuple[str, ...] = ()

    def fetch_data(self) -> Any:
        """The JWKS without its unusable members (PyJWKClient's documented hook for filtering)."""
        document = super().fetch_data()
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(None)  # what super() cached is unfiltered; get_jwk_set caches ours
        members = document.get("keys")
        if not isinstance(members, list):
            return document  # PyJWKSet refuses it: no key, every JWKS token a 401
        refusals = [(describe_jwk(n, jwk), jwk_refusal(jwk)) for n, jwk in enumerate(members, start=1)]
        self._report([f"{name} skipped: {reason}" for name, reason in refusals if reason])
        return {**document, "keys": [jwk for jwk, (_, reason) in zip(members, refusals, strict=True) if reason is None]}

    def _report(self, skipped: list[str]) -> None:
        """Warn about skipped keys once, not on every reload of the same JWKS."""
        if tuple(skipped) != self._reported:
            for line in skipped:
                log.warning("%s", line)
            self._reported = tuple(skipped)

    def signing_key_for(self, algorithm: str, kid: Any) -> jwt.PyJWK:
        """The JWKS key named by ``kid``, if it is the kind of key ``algorithm`` needs."""
        if not isinstance(kid, str) or not kid:
            raise jwt.InvalidTokenError("the token names no key")
        signing_key = self.get_signing_key(kid)
        if not key_fits(algorithm, signing_key.key):
            raise jwt.InvalidKeyError("the key the token names does not fit its algorithm")
        return signing_key


class JwtVerifier:
    """Verify gateway-issued JWTs and turn their claims into a ``Caller``."""

    def __init__(self, settings: AuthSettings) -> None:
        self._secret = settings.jwt_secret
        self._jwks = JwksClient(settings.jwks_url) if settings.jwks_url else None
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._customers_claim = settings.jwt_customers_claim
        # Signature checks (RSA, ECDSA) cost more than the rest of a cache hit; callers reuse tokens.
        self._verified: dict[str, tuple[Caller, float]] = {}

    def verify(self, token: str) -> Caller:
        """The token's caller; a token verified before is trusted again until it expires (or for
        ``VERIFIED_TOKEN_SECONDS``, so that a key withdrawn from the JWKS stops working soon)."""
        remembered = self._verified.get(token)
        if remembered is not None and remembered[1] > time.time():
            return remembered[0]
        caller, claims = self._verify_signature_and_claims(token)
        if len(self._verified) >= VERIFIED_TOKENS_MAX:
            self._verified.clear()
        self._verified[token] = (caller, min(float(claims["exp"]), time.time() + VERIFIED_TOKEN_SECONDS))
        return caller

    def _verify_signature_and_claims(self, token: str) -> tuple[Caller, dict[str, Any]]:
        try:
            claims = self._decode(token)
        except (jwt.PyJWKClientConnectionError, OSError):
            raise Problem(AUTH_UNAVAILABLE, "The keys to verify tokens cannot be fetched now.") from None
        except jwt.PyJWTError:
            raise invalid_token() from None
        except Exception as error:  # noqa: BLE001 - defence in depth: PyJWT crashing on a bad token
            log.warning("bearer token refused: PyJWT raised %s", type(error).__name__)
            raise invalid_token() from None
        return self._caller_from(claims), claims

    def _decode(self, token: str) -> dict[str, Any]:
        """The token's verified claims; raises PyJWT's errors (ours too) for any token to refuse."""
        if len(token) > MAX_TOKEN_CHARS:
            raise jwt.DecodeError("token too long")
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        key = self._key_for(algorithm, header.get("kid"))  # refuses a missing or unaccepted alg
        return jwt.decode(
            token, key, algorithms=[str(algorithm)], audience=self._audience,
            issuer=self._issuer, leeway=self._leeway,
            options={"require": ["exp"], "verify_aud": self._audience is not None},
        )

    def _key_for(self, algorithm: Any, kid: Any) -> str | jwt.PyJWK:
        """The key for ``algorithm``: the secret for HS256 (never a JWKS key: no key confusion),
        a JWKS key of the fitting type for RS256/ES256; any other algorithm is refused."""
        if algorithm in HMAC_ALGORITHMS and self._secret:
            return self._secret
        if algorithm in JWKS_ALGORITHMS and self._jwks is not None:
            return self._jwks.signing_key_for(algorithm, kid)
        raise jwt.InvalidAlgorithmError("algorithm not accepted")

    def _caller_from(self, claims: dict[str, Any]) -> Caller:
        scopes = claims.get("scope", claims.get("scp", ""))
        scope_list = scopes.split() if isinstance(scopes, str) else scopes
        if not isinstance(scope_list, list) or not all(isinstance(s, str) for s in scope_list):
            raise unauthorized("The bearer token's scopes are malformed.", error="invalid_token")
        customers = claims.get(self._customers_claim)
        if customers is not None and (
            not isinstance(customers, list) or not all(isinstance(c, str) for c in customers)
        ):
            raise unauthorized("The bearer token's customer binding is malformed.", error="invalid_token")
        subject = claims.get("sub")
        name = subject if isinstance(subject, str) else "jwt"
        bound = frozenset(c.lower() for c in customers) if customers is not None else None
        return Caller(f"jwt:{name[:64]}", frozenset(scope_list) & SCOPES, bound)


class Authenticator:
    """Find out who is calling from the request headers."""

    def __init__(self, settings: AuthSettings) -> None:
        self.enforced = settings.enforced
        self._api_keys = settings.api_keys
        self._jwt = JwtVerifier(settings) if settings.jwt_secret or settings.jwks_url else None

    def authenticate(self, headers: Any) -> Caller:
        if not self.enforced:
            return TRUSTED_GATEWAY
        api_key = headers.get(API_KEY_HEADER)
        if api_key is not None:
            return self._caller_for_key(api_key)
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip() and self._jwt is not None:
            return self._jwt.verify(token.strip())
        raise unauthorized("Send an X-API-Key header or an Authorization: Bearer token.")

    def _caller_for_key(self, presented: str) -> Caller:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).hexdigest()
        found = None
        for entry in self._api_keys:  # no early exit: the time taken says nothing about the keys
            if hmac.compare_digest(entry.sha256_hex, digest):
                found = entry
        if found is None:
            raise unauthorized("The API key is not valid.")
        return Caller(found.name, found.scopes)


def invalid_token() -> Problem:
    """The one answer to every token we cannot verify: which check failed is not told (RFC 6750 §3.1)."""
    return unauthorized("The bearer token is invalid or expired.", error="invalid_token")


def unauthorized(detail: str, error: str | None = None) -> Problem:
    """A 401 with the challenges a client needs (RFC 9110 §11.6.1, RFC 6750 §3)."""
    bearer = f"Bearer {REALM}" + (f', error="{error}"' if error else "")
    return Problem(UNAUTHENTICATED, detail, {"WWW-Authenticate": f"{bearer}, ApiKey {REALM}"})


def authenticate_request() -> None:
    """Before every request: identify the caller, unless the view is public.

    A request that matched no route (404) or no method (405) reaches no data: it gets its routing
    answer, not a 401, so that a wrong method on a public path is a plain 405.
    """
    view = current_app.view_functions.get(request.endpoint or "")
    if request.method == "OPTIONS" or request.routing_exception is not None or getattr(view, "public", False):
        return
    if getattr(view, "answers_itself", False):  # the lookup authenticates itself (app.web.lookup)
        return
    g.caller = current_app.extensions[EXTENSION].authenticate(request.headers)


def require_scope(scope: str) -> Callable[[F], F]:
    """Let the view run only for callers holding ``scope``."""
    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if scope not in g.caller.scopes:
                raise Problem(INSUFFICIENT_SCOPE, f"This call needs the {scope} scope.")
            return view(*args, **kwargs)
        return guarded  # type: ignore[return-value]
    return decorate


def init_app(app: Flask, settings: AuthSettings) -> Authenticator:
    """Keep the app's authenticator, for ``authenticate_request`` (the lookup is handed it directly)."""
    authenticator = app.extensions[EXTENSION] = Authenticator(settings)
    return authenticator


__all__ = ["Caller", "DEFAULT_SCOPES", "init_app", "public", "require_scope"]
