"""The customer (``GET /v1/customers/:id``): its schemas are ``app.passport.schemas``'s, the first ones written."""
from __future__ import annotations

from app.passport import masking
from app.passport.resource import FreshnessRule, Resource
from app.passport.schemas import Customer, CustomerSchema, parse_passport_customer, render_customer
from config.security import READ_SCOPE

CUSTOMER: Resource[Customer] = Resource(
    name="customer",
    plural="customers",
    title="Customer",
    passport_path="/v1/customers/{id}",
    parse=parse_passport_customer,
    render=render_customer,
    updated_at=lambda customer: customer.updated_at,
    owner=lambda customer: None,  # a customer is its own (Resource.is_customer)
    scope=READ_SCOPE,
    # CACHE_TTL_FACTOR / CACHE_TTL_MIN_SECONDS / CACHE_TTL_MAX_SECONDS override it (config.settings).
    freshness=FreshnessRule(factor=0.1, min_seconds=30, max_seconds=3600),
    frontend_schema=CustomerSchema,
    example_id="db7e89e7-59d8-4ab1-b675-a2ae52c3339e",
    masked_fields={"email": masking.EMAIL, "mobilePhone": masking.PHONE,
                   "identification.number": masking.IDENTIFICATION_NUMBER},
)
