"""Every kind of Passport record passport-bff serves, registered here: one line each.

A kind's module declares its ``Resource`` (``app.passport.resource``): Passport's path, the strict
upstream schema and the frontend shape, owner, freshness, scope and personal fields. Routes, cache
keys, metrics, audit events, problem types and the OpenAPI document follow from this list.
"""
from __future__ import annotations

from typing import Any

from app.passport.resource import Resource
from app.passport.resources.account import ACCOUNT
from app.passport.resources.customer import CUSTOMER
from app.passport.resources.key import KEY
from app.passport.resources.recipient import RECIPIENT

RESOURCES: tuple[Resource[Any], ...] = (
    CUSTOMER,
    ACCOUNT,
    KEY,
    RECIPIENT,
)
BY_NAME: dict[str, Resource[Any]] = {resource.name: resource for resource in RESOURCES}

__all__ = ["ACCOUNT", "BY_NAME", "CUSTOMER", "KEY", "RECIPIENT", "RESOURCES"]
