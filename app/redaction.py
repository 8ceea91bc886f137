"""Keep customer PII and credentials out of logs, whatever code (ours or a library's) logs them.

A logging filter on our handler rewrites each record before it is formatted: e-mail addresses,
phone and identification numbers (runs of 6 to 15 digits, with or without ``+``, that are not part
of a longer token such as a UUID or a timestamp), bearer tokens and ``client_secret`` /
``access_token`` values in messages, arguments, extra fields and exception text.
"""
from __future__ import annotations

import logging
import re

REDACTED = "[REDACTED]"
PATTERNS = (
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), "[REDACTED-EMAIL]"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"(?i)([\"']?(?:client_secret|access_token|api[_-]?key|password)[\"']?\s*[:=]\s*)[\"']?[^\"',\s}]+[\"']?"),
     r"\1" + f'"{REDACTED}"'),
    (re.compile(r"(?<![\w.:/-])\+?\d{6,15}(?![\w-])"), "[REDACTED-NUMBER]"),
)
# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


def redact(text: str) -> str:
    """Return ``text`` with PII and credentials replaced."""
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrite a record's message, extras and exception text before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for name, value in list(vars(record).items()):
            if name not in STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
