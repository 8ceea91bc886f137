"""Only the canonical spelling of a path is served: any other spelling is a 404 problem.

Why: the server decodes the request target before the app sees it (PEP 3333's ``PATH_INFO``), so
``/v1/customers/db7e%389e7-…``, ``//v1/customers/…`` or ``/v1%2Fcustomers/…`` would reach the same
route, and the same customer, as the canonical spelling. A gateway rule written on raw paths
("callers of group X may not call /v1/customers:batchGet") would not see them as the same path, and
could be walked around. So the path as sent (``RAW_URI``, which gunicorn and Werkzeug both set) is
checked against RFC 3986's canonical form (section 6.2.2) before any route runs:

- no percent-encoding of a character that may stand as itself in a path (section 2.3: unreserved,
  sub-delims, ``:`` and ``@``), and upper-case hex in every percent-encoding (section 2.1);
- no empty segment (``//``) and no dot segment (``.``, ``..``; section 5.2.4);
- no encoded ``/`` (``%2F``): decoded, it would name another path altogether.

Such a request is answered 404 ``non-canonical-path``, naming the rule it broke; nothing is looked
up. A raw character that should have been percent-encoded (a space, ``{``, a non-ASCII byte) is
left to the routes: no path of ours holds one, so no spelling of it reaches a resource, and an id
holding one is a 400 like any other bad id. The query string is not judged: routes read their
parameters decoded, by name. A server that
sets no raw target (none of ours) is not judged either. ``app.web.fast_path`` only takes lookups whose
raw path is their ``PATH_INFO``, which a canonical lookup path always is.
"""
from __future__ import annotations

import re
import string
from typing import Any
from urllib.parse import urlsplit

from flask import request

from app.web.problems import NON_CANONICAL_PATH, Problem

RAW_TARGET_KEYS = ("RAW_URI", "REQUEST_URI")  # gunicorn sets RAW_URI; Werkzeug sets both
UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
MAY_STAND_AS_ITSELF = UNRESERVED | frozenset("!$&'()*+,;=:@")  # RFC 3986 section 3.3, pchar
PERCENT_ENCODING = re.compile(r"%(.?.?)")
UPPER_HEX = re.compile(r"[0-9A-F]{2}")


def raw_path(environ: dict[str, Any]) -> str | None:
    """The path of the request target as the client sent it; None when the server did not keep it."""
    target = next((environ[key] for key in RAW_TARGET_KEYS if environ.get(key)), None)
    if target is None:
        return None
    if target.startswith("/"):
        return str(target.partition("?")[0])
    if "://" in target:  # absolute-form (RFC 9112 section 3.2.2)
        return urlsplit(target).path or "/"
    return None  # asterisk-form or authority-form: no path to judge


def non_canonical_reason(path: str) -> str | None:
    """Why ``path`` (raw, as sent) is not in canonical form; None when it is."""
    if "//" in path:
        return "It has an empty segment ('//')."
    if any(segment in (".", "..") for segment in path.split("/")):
        return "It has a dot segment ('.' or '..')."
    for match in PERCENT_ENCODING.finditer(path):
        reason = encoding_reason(match.group(1))
        if reason:
            return reason
    return None


def encoding_reason(hex_digits: str) -> str | None:
    """Why the percent-encoding ``%<hex_digits>`` is not canonical; None when it is."""
    if not UPPER_HEX.fullmatch(hex_digits):
        return "A percent-encoding is malformed or uses lower-case hex."
    char = chr(int(hex_digits, 16))
    if char == "/":
        return "It has an encoded '/' (%2F), which names another path."
    if char in MAY_STAND_AS_ITSELF:
        return f"It percent-encodes '{char}', which needs no encoding."
    return None


def refuse_non_canonical_paths() -> None:
    """Answer a non-canonical spelling with a 404 problem before any route runs."""
    path = raw_path(request.environ)
    reason = non_canonical_reason(path) if path is not None else None
    if reason:
        raise Problem(NON_CANONICAL_PATH, f"Only the canonical spelling of a path is served. {reason}")
