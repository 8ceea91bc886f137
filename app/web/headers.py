"""The headers every answer carries, whoever writes it: Flask (``app.web.security``), the lookup
fast path, or gunicorn's worker classes (``app.web.server_errors``). No Flask here."""
from __future__ import annotations

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
