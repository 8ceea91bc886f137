"""Passport's documented example customer, and what frontends receive for it: the suite's reference pair."""
from __future__ import annotations

DOCS_EXAMPLE = {
    "business_name": "changing", "type": "BUSINESS", "created_at": "2025-10-09T10:40:27.446Z",
    "updated_at": "2025-10-09T17:19:27.951Z", "email": "eAqpUh6u@example.com", "status": "ACTIVE",
    "identification_number": "903978023", "merchant_category_code": "0412",
    "mobile_phone_number": "573956158117",
    "address": {"line_3": "Calle 20 675", "city": "Cartagena", "line_1": "Diagonal 46 1104", "country": "CO",
                "post_code": "101010", "state": "Bolivar", "line_2": "Carrera 18 2111"},
    "identification_type": "NIT", "id": "db7e89e7-59d8-4ab1-b675-a2ae52c3339e",
}
CUSTOMER_ID = DOCS_EXAMPLE["id"]
FRONTEND_EXAMPLE = {
    "id": "db7e89e7-59d8-4ab1-b675-a2ae52c3339e", "type": "BUSINESS", "status": "ACTIVE", "name": "changing",
    "identification": {"type": "NIT", "number": "903978023"}, "email": "eAqpUh6u@example.com",
    "mobilePhone": "+573956158117", "merchantCategoryCode": "0412",
    "address": {"lines": ["Diagonal 46 1104", "Carrera 18 2111", "Calle 20 675"], "city": "Cartagena",
                "state": "Bolivar", "postCode": "101010", "country": "CO"},
    "createdAt": "2025-10-09T10:40:27.446Z", "updatedAt": "2025-10-09T17:19:27.951Z",
}
