"""app.web.problems: one catalogue of problem types, rendered the same by every layer."""
from __future__ import annotations

import json

from app.web import problems


def test_every_problem_type_has_a_slug_of_its_own():
    slugs = [kind.slug for kind in problems.CATALOGUE]
    assert len(slugs) == len(set(slugs)), sorted(slugs)


def test_every_passport_problem_is_in_the_catalogue():
    assert {kind for kind, _ in problems.PASSPORT_PROBLEMS.values()} <= set(problems.CATALOGUE)


def test_a_problem_document_has_the_rfc_9457_members_and_the_request_id():
    body = json.loads(problems.problem_json(problems.CUSTOMER_NOT_FOUND, "No such customer.", "rid-7"))
    assert body == {"type": "urn:passport-bff:problem:customer-not-found", "title": "Customer not found",
                    "status": 404, "detail": "No such customer.", "request_id": "rid-7"}


def test_werkzeugs_own_refusals_are_catalogue_types_named_as_werkzeug_names_them():
    from werkzeug.exceptions import BadRequest, MethodNotAllowed, NotFound, RequestEntityTooLarge, TooManyRequests

    for refusal in (BadRequest(), NotFound(), MethodNotAllowed(), RequestEntityTooLarge(), TooManyRequests()):
        kind = problems.HTTP_PROBLEMS[refusal.code]
        assert kind in problems.CATALOGUE
        assert (kind.slug, kind.title) == (refusal.name.lower().replace(" ", "-"), refusal.name)
