"""app.policy.overview: a part's stored body and what the page reads back from it, without parsing."""
from __future__ import annotations

import json

import pytest

from app.policy.overview import part_body, part_items, part_kind


@pytest.mark.parametrize("truncated", [True, False])
@pytest.mark.parametrize("items", [[], [b'{"id":"a"}'], [b'{"id":"a","v":"],\\"truncated\\":true}"}', b'{"id":"b"}']])
def test_a_part_body_gives_back_its_items_and_whether_it_was_cut(items, truncated):
    body = part_body(items, truncated)
    assert json.loads(body) == {"items": [json.loads(item) for item in items], "truncated": truncated}
    array, cut = part_items(body)
    assert json.loads(array) == [json.loads(item) for item in items] and cut is truncated


def test_a_part_is_a_kind_of_its_own_per_listed_kind():
    assert part_kind("accounts") == "customer-accounts"
