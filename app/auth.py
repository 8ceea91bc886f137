"""Caller authentication and authorization, decided before any cache lookup.

The cache is shared by every caller, so checking who asks *after* a hit would make it an
authorization bypass (OWASP API1). Every endpoint requires a caller except those marked
``@public`` (health checks). Two kinds of caller:

- **Service callers** send ``X-API-Key``. Only SHA-256 hashes are configured (``AUTH_API_KEYS``);
  the presented key's hash is compared with every configured hash in constant time.
- **Gateway-forwarded identities** send ``Authorization: Bearer <JWT>``, verified with PyJWT:
  HS256 against ``AUTH_JWT_SECRET`` or RS256/ES256 against the keys at ``AUTH_JWKS_URL``; each
  algorithm only with its own kind of key (no ``none``, no algorithm confusion); ``exp`` required,
  ``nbf``/``iss``/``aud`` checked, with a small leeway. Scopes come from ``scope`` (space-separated)
  or ``scp``; a ``customer_ids`` claim (name configurable) binds the caller to those customers.

``AUTH_MODE=gateway-trusted`` turns all of this off: the gateway is then the only line of defence.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import jwt
from flask import Flask, current_app, g, request

from app.errors import Problem, ProblemType
from config.security import DEFAULT_SCOPES, SCOPES, ApiKeyEntry

F = TypeVar("F", bound=Callable[..., Any])

EXTENSION = "passport_bff_auth"
API_KEY_HEADER = "X-API-Key"
REALM = 'realm="passport-bff"'
HMAC_ALGORITHMS = ("HS256",)
JWKS_ALGORITHMS = ("RS256", "ES256")
JWKS_TIMEOUT_SECONDS = 2
JWKS_CACHE_SECONDS = 300
VERIFIED_TOKEN_SECONDS = 60
VERIFIED_TOKENS_MAX = 10_000

UNAUTHENTICATED = ProblemType("unauthenticated", 401, "Authentication required")
INSUFFICIENT_SCOPE = ProblemType("insufficient-scope", 403, "Not allowed for this caller")
CUSTOMER_NOT_ALLOWED = ProblemType("customer-not-allowed", 403, "This customer is not allowed for this caller")
AUTH_UNAVAILABLE = ProblemType("auth-unavailable", 503, "Caller authentication is unavailable")


@dataclass(frozen=True)
class Caller:
    name: str
    scopes: frozenset[str]
    customers: frozenset[str] | None = None  # None: any customer

    def may_read(self, customer_id: str) -> bool:
        return self.customers is None or customer_id in self.customers


TRUSTED_GATEWAY = Caller("gateway", SCOPES)


def public(view: F) -> F:
    """Mark a view as needing no caller (health checks)."""
    view.public = True  # type: ignore[attr-defined]
    return view


class JwtVerifier:
    """Verify gateway-issued JWTs and turn their claims into a ``Caller``."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._secret: str | None = config["AUTH_JWT_SECRET"]
        url = config["AUTH_JWKS_URL"]
        self._jwks = jwt.PyJWKClient(url, lifespan=JWKS_CACHE_SECONDS, timeout=JWKS_TIMEOUT_SECONDS) if url else None
        self._issuer: str | None = config["AUTH_JWT_ISSUER"]
        self._audience: str | None = config["AUTH_JWT_AUDIENCE"]
        self._leeway: int = config["AUTH_JWT_LEEWAY_SECONDS"]
        self._customers_claim: str = config["AUTH_JWT_CUSTOMERS_CLAIM"]
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
            algorithm = jwt.get_unverified_header(token).get("alg")
            key = self._key_for(algorithm, token)
            claims = jwt.decode(
                token, key, algorithms=[algorithm], audience=self._audience, issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp"], "verify_aud": self._audience is not None},
            )
        except jwt.PyJWKClientConnectionError:
            raise Problem(AUTH_UNAVAILABLE, "The keys to verify tokens cannot be fetched now.") from None
        except jwt.PyJWTError:
            raise unauthorized("The bearer token is invalid or expired.", error="invalid_token") from None
        return self._caller_from(claims), claims

    def _key_for(self, algorithm: Any, token: str) -> Any:
        if algorithm in HMAC_ALGORITHMS and self._secret:
            return self._secret
        if algorithm in JWKS_ALGORITHMS and self._jwks is not None:
            return self._jwks.get_signing_key_from_jwt(token).key
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
        name = claims.get("sub") if isinstance(claims.get("sub"), str) else "jwt"
        bound = frozenset(c.lower() for c in customers) if customers is not None else None
        return Caller(f"jwt:{name[:64]}", frozenset(scope_list) & SCOPES, bound)


class Authenticator:
    """Find out who is calling from the request headers."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.enforced = config["AUTH_MODE"] == "enforced"
        self._api_keys: tuple[ApiKeyEntry, ...] = config["AUTH_API_KEYS"]
        jwt_configured = config["AUTH_JWT_SECRET"] or config["AUTH_JWKS_URL"]
        self._jwt = JwtVerifier(config) if jwt_configured else None

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


def authorize_customers(customer_ids: Iterable[str]) -> None:
    """Refuse ids outside the caller's customer binding — before any cache lookup."""
    caller: Caller = g.caller
    for customer_id in customer_ids:
        if not caller.may_read(customer_id):
            raise Problem(CUSTOMER_NOT_ALLOWED, f"Customer {customer_id} is not allowed for this caller.")


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Authenticator(app.config)
    app.before_request(authenticate_request)


__all__ = ["Caller", "DEFAULT_SCOPES", "authorize_customers", "init_app", "public", "require_scope"]
