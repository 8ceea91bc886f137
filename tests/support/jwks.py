"""A gateway's signing keys for tests: RSA and EC key pairs, a JWKS endpoint on loopback, tokens.

Hostile tests also need what a real gateway would never send: JWKs of the wrong kind and tokens
built by hand (any header, any signature), which PyJWT itself refuses to encode.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm, get_default_algorithms

ISSUER = "https://gateway.test"
AUDIENCE = "passport-bff"


class SigningKeys:
    """One RSA (RS256) and one EC P-256 (ES256) key, published as a JWKS."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.rsa, kid="rsa-1", use="sig", alg="RS256"),
                         public_jwk(self.ec, kid="ec-1", use="sig", alg="ES256")]}

    def token(self, algorithm: str = "RS256", **claims: Any) -> str:
        key, kid = (self.rsa, "rsa-1") if algorithm == "RS256" else (self.ec, "ec-1")
        return jwt.encode(standard_claims(**claims), key, algorithm=algorithm, headers={"kid": kid})


def public_jwk(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, **members: Any) -> dict[str, Any]:
    """The public half of ``private_key`` as a JWK, with ``members`` (kid, use, alg...) added."""
    public_key = private_key.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        jwk = json.loads(RSAAlgorithm.to_jwk(public_key))
    else:
        jwk = json.loads(ECAlgorithm.to_jwk(public_key))
    return {**jwk, **members}


def standard_claims(**claims: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "web-frontend", "iat": now, "exp": now + 300,
            "scope": "customers.read"}
    base.update(claims)
    return {k: v for k, v in base.items() if v is not None}


def hs256_bearer(secret: str, **claims: Any) -> dict[str, str]:
    """An ``Authorization`` header with an HS256 token of ``standard_claims(**claims)``."""
    return {"Authorization": f"Bearer {jwt.encode(standard_claims(**claims), secret, algorithm='HS256')}"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(value: Any) -> str:
    """A token segment: ``bytes`` as they are (to send non-JSON), anything else as JSON."""
    return b64url(value if isinstance(value, bytes) else json.dumps(value).encode())


def compact_token(header: Any, claims: Any, signature: bytes = b"not-a-signature") -> str:
    """A compact JWS with any header, claims and signature, built by hand."""
    return f"{segment(header)}.{segment(claims)}.{b64url(signature)}"


def signed_token(header: dict[str, Any], claims: Any, private_key: Any) -> str:
    """A compact JWS with any header, really signed with ``private_key`` by the header's ``alg``
    (``jwt.encode`` would normalise or refuse a hostile header)."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    signer = get_default_algorithms()[header["alg"]]
    signature = signer.sign(signing_input.encode(), signer.prepare_key(private_key))
    return f"{signing_input}.{b64url(signature)}"


def hmac_token(header: Any, claims: Any, secret: bytes) -> str:
    """A compact JWS whose signature is HMAC-SHA256 over the signing input with ``secret``."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


@contextmanager
def jwks_server(keys: SigningKeys | dict[str, Any]) -> Iterator[str]:
    """Serve ``keys`` (or a JWKS document as given) at ``http://127.0.0.1:<port>/jwks.json``
    until the block ends."""
    body = json.dumps(keys.jwks() if isinstance(keys, SigningKeys) else keys).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
