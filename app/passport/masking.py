"""Personal data masked for callers without ``pii.read``: one rule per kind of value, applied to frontend JSON.

A kind of record declares which of its frontend fields hold personal data and how each is masked
(``Resource.masked_fields``). The masked body is rendered once, when the record is fetched, and
stored beside the whole one (``app.store.entry``): a hit still parses nothing, whichever the
caller. The rules (issue 15): an account number or a Bre-B key value keeps its last 4
characters, an e-mail its first character and its domain, a phone number its last 4 digits, an
identification number its last 3. A value too short to keep anything of is masked whole: a
masked value never shows as much as the whole one.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

MASK = "*"

Mask = Callable[[str], str]


def keep_last(count: int) -> Mask:
    """All but the last ``count`` characters masked (the whole value when it has no more than that)."""

    def masked(value: str) -> str:
        if len(value) <= count:
            return MASK * len(value)
        return MASK * (len(value) - count) + value[-count:]

    return masked


def email(value: str) -> str:
    """The first character and the domain: ``j***@example.com``."""
    local, at, domain = value.rpartition("@")
    if not at or not local:
        return keep_last(4)(value)
    return f"{local[0]}***@{domain}"


def phone(value: str) -> str:
    """The last 4 digits, the rest (a ``+``, separators) masked: ``*********4567``."""
    digits = [index for index, character in enumerate(value) if character.isdigit()]
    shown = set(digits[-4:]) if len(digits) > 4 else set()
    return "".join(character if index in shown else MASK for index, character in enumerate(value))


ACCOUNT_NUMBER = keep_last(4)
KEY_VALUE = keep_last(4)
IDENTIFICATION_NUMBER = keep_last(3)
EMAIL = email
PHONE = phone


def mask_fields(record: dict[str, Any], masks: Mapping[str, Mask]) -> dict[str, Any]:
    """``record`` (frontend JSON, freshly parsed: it is changed in place) with each ``masks`` path
    (``key.value``) masked where it is a string."""
    for path, mask in masks.items():
        *parents, leaf = path.split(".")
        target: Any = record
        for parent in parents:
            target = target.get(parent) if isinstance(target, dict) else None
        if isinstance(target, dict) and isinstance(target.get(leaf), str):
            target[leaf] = mask(target[leaf])
    return record


def masked_body(body: bytes, masks: Mapping[str, Mask]) -> bytes:
    """The frontend JSON ``body``, rendered again with its personal fields masked (same compact form)."""
    return dump(mask_fields(json.loads(body), masks))


def dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
