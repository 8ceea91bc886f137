"""The stored format: round-trips, and anything foreign or damaged is a miss (None)."""
from __future__ import annotations

import pytest

from app.store.entry import decode_entry, encode_entry, found_entry, not_found_entry, strong_etag

BODY = b'{"id":"x","name":"Caf\xc3\xa9\nLine"}'
ENTRY = found_entry(BODY, fetched_at=1000.5, updated_at=900.25, fresh_seconds=30)


def test_customer_entry_round_trips_with_body_bytes_untouched():
    assert decode_entry(encode_entry(ENTRY)) == ENTRY


def test_an_owned_entry_round_trips_with_its_owner_and_its_masked_body():
    entry = found_entry(BODY, 1000.5, 900.25, 30, owner="db7e89e7-59d8-4ab1-b675-a2ae52c3339e",
                        masked_body=b'{"id":"x","name":"C***"}')
    decoded = decode_entry(encode_entry(entry))
    assert decoded == entry
    assert (decoded.owner, decoded.masked_body) == ("db7e89e7-59d8-4ab1-b675-a2ae52c3339e", b'{"id":"x","name":"C***"}')
    assert decoded.masked_etag == strong_etag(b'{"id":"x","name":"C***"}') != decoded.etag


def test_an_entry_without_owner_or_masked_body_says_so():
    decoded = decode_entry(encode_entry(ENTRY))
    assert (decoded.owner, decoded.masked_body, decoded.masked_etag) == (None, None, None)


def test_not_found_entry_round_trips():
    entry = not_found_entry(fetched_at=1000.0, fresh_seconds=30)
    decoded = decode_entry(encode_entry(entry))
    assert decoded == entry and not decoded.found


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"garbage",
        b"pbff1 200 1.0 1.0 30 \"x\"\nbody",  # another format version (the one before owners)
        b"pbff2 200 1.0 1.0 thirty \"x\" - - 4\nbody",
        b"pbff2 200 1.0 1.0 30 \"x\" - -\nbody",  # a field short
        b"pbff2 200 1.0 1.0 30 \"x\" - - 0\n",  # a record without a body
        b"pbff2 404 1.0 0.0 30 - - - 4\nbody",  # a negative entry with one
        b"pbff2 500 1.0 0.0 30 - - - 4\nbody",  # errors are never stored
        b"pbff2 200 1.0 1.0 30 \"x\" - - 2\nbody",  # bytes past the body, no masked body announced
        b"pbff2 200 1.0 1.0 30 \"x\" - \"m\" 4\nbody",  # a masked body announced, none there
        b"pbff2 200 1.0 1.0 30 \"x\" - - -1\nbody",
        b"\x80\x04\x95 pickle-like bytes",
    ],
)
def test_foreign_or_damaged_entries_decode_to_none(raw):
    assert decode_entry(raw) is None


def test_strong_etag_is_quoted_and_depends_only_on_the_body():
    assert strong_etag(BODY) == strong_etag(bytes(BODY))
    assert strong_etag(BODY) != strong_etag(BODY + b" ")
    assert strong_etag(BODY).startswith('"') and strong_etag(BODY).endswith('"')
    assert ENTRY.etag == strong_etag(BODY)


def test_age_and_freshness_left_are_whole_seconds():
    assert ENTRY.age(1010.9) == 10
    assert ENTRY.fresh_left(1010.5) == 20
    assert ENTRY.fresh_left(1030.5) == 0
    assert ENTRY.fresh_left(1040.5) < 0
    assert ENTRY.age(999.0) == 0  # a clock behind the writer's never gives a negative Age
