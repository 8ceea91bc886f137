"""Log redaction: customer PII and credentials never survive into a log line."""
from __future__ import annotations

import io
import logging

import pytest

from app.observability import log_handler
from app.redaction import RedactingFilter, redact

CUSTOMER_ID = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("mail eAqpUh6u@example.com here", "eAqpUh6u@example.com"),
        ("phone 573956158117", "573956158117"),
        ("phone +573956158117.", "573956158117"),
        ("nit 903978023", "903978023"),
        ('{"identification_number": "903978023"}', "903978023"),
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        ('{"client_secret": "s3cr3t-value"}', "s3cr3t-value"),
        ("access_token=tok-987", "tok-987"),
    ],
)
def test_pii_and_credentials_are_redacted(text, secret):
    assert secret not in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        f"customer {CUSTOMER_ID} failed",
        "GET /v1/customers/<path:customer_id> 200 12.5ms",
        "2026-11-25 04:21:07,336 INFO",
        "listening on 127.0.0.1:8000",
        "request id 00000000-0000-4000-8000-000000000000",
    ],
)
def test_ordinary_log_content_is_kept(text):
    assert redact(text) == text


def capture(logger_name: str = "test.redaction") -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(logger_name)
    logger.handlers = [log_handler(stream)]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_arguments_are_redacted_after_formatting():
    logger, stream = capture()
    logger.warning("customer %s has email %s", CUSTOMER_ID, "someone@example.com")
    assert "someone@example.com" not in stream.getvalue()
    assert CUSTOMER_ID in stream.getvalue()


def test_extra_fields_are_redacted():
    record = logging.makeLogRecord({"msg": "lookup", "phone": "573956158117", "customer_id": CUSTOMER_ID})
    RedactingFilter().filter(record)
    assert "573956158117" not in record.phone
    assert record.customer_id == CUSTOMER_ID


def test_exception_text_is_redacted():
    logger, stream = capture()
    try:
        raise ValueError("bad email someone@example.com and nit 903978023")
    except ValueError:
        logger.exception("failed")
    text = stream.getvalue()
    assert "Traceback" in text
    assert "someone@example.com" not in text and "903978023" not in text
