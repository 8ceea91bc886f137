"""Passport API emulator: an in-memory stand-in for Passport (like stripe-mock is for Stripe).

Start it with ``python -m emulator --port 0`` (see ``python -m emulator --help``); it prints
exactly one stdout line, ``Passport emulator listening on http://127.0.0.1:<port>``, once
bound, and exits cleanly on SIGTERM/SIGINT. In-process: ``create_app(EmulatorSettings(...))``
or ``serve_in_thread(settings) -> (server, base_url)`` then ``stop_server(server)``; as a
child process: ``start_emulator_process() -> EmulatorProcess`` (``.base_url``, ``.stop()``).

Passport endpoints (see shared/passport/UPSTREAM.md): ``POST /v1/iam/oauth/tokens``,
``DELETE /v1/iam/oauth/tokens/<token_id>``, ``GET /v1/customers/<id>``, ``GET /v1/customers``,
``PATCH /v1/customers/<id>``, and the read-only resources ``GET /v1/accounts/<id>``,
``GET /v1/accounts``, ``GET /v1/keys/<id>``, ``GET /v1/keys``, ``GET /v1/recipients/breb/<id>``,
``GET /v1/recipients``. Errors are ``{message, http_code, type, trace_id, code}``: 401 without a
valid token, 400 for a malformed (non-UUID) id or list parameter, 404 for an unknown id.
Seed data: the docs' example customer ``db7e89e7-59d8-4ab1-b675-a2ae52c3339e`` and
``--customers`` generated Colombian businesses, deterministic for a seed and start time. The
example customer owns the docs' example account, key and recipient (``EXAMPLE_ACCOUNT_ID``,
``EXAMPLE_KEY_ID``, ``EXAMPLE_RECIPIENT_ID``; the recipient's typo ``customer_id`` fixed); every
generated customer owns 1-3 accounts, 0-3 Bre-B keys per account (ID, PHONE, EMAIL, ALPHA,
BCODE; values unique) and 0-4 recipients, made on first read (emulator/resources_seed.py).
Bank accounts are not the entity ``account_id`` of token answers.

Resource lists take ``page_params.page_size|page_number``,
``page_params.first_request_timestamp.seconds|nanos``, ``order_params.order_key``
(``created_at``|``updated_at``) and ``order_params.order_direction``
(``ORDER_DIRECTION_ENUM_UNSPECIFIED`` = ASC, ``ASC``, ``DESC``) and always answer 200:
``{"accounts"|"keys"|"recipients": [...], "pagination_info": {...}}``, ``[]`` when nothing
matches or past the last page (customers keep their 404). Filters: accounts ``customer_id``,
``account_id``, ``status``, ``account_type``, ``account_number``; keys ``customer_id`` (through
the key's account), ``account_id``, ``key_type``, ``key_id``, ``status``, ``key_value``;
recipients ``customer_id``, ``type``, ``recipient_id`` (``identification_number``,
``account_number``, ``account_type`` accepted and ignored). Where the docs are silent (unknown
key id = 404, first_request_timestamp hides later records, enum filters unchecked, key status
``SUSPENDED``, ...) emulator/resources_api.py and resources_seed.py say what was chosen.

Test-only controls, under ``/_emulator/``, no auth, JSON in and out:

- ``GET /health`` -> ``{"status": "ok"}``.
- ``GET /stats`` -> ``{"token_calls", "token_revoke_calls", "customer_calls": {id: n},
  "customer_calls_total", "list_calls", "patch_calls", "request_ids": [last 1000
  X-Request-ID values, null when a call had none], "trace_headers": [...],
  "last_authorization_ok", "account_calls": {id: n}, "account_calls_total", "key_calls",
  "key_calls_total", "recipient_calls", "recipient_calls_total", "account_list_calls",
  "key_list_calls", "recipient_list_calls"}``. Every call to a Passport endpoint counts, errors
  and injected faults included; ids lower-case. ``trace_headers`` holds the last 1000 customer,
  list, token-issue and resource calls in arrival order, each ``{"kind": "customer"|"list"|
  "token"|"account"|"key"|"recipient"|"account_list"|"key_list"|"recipient_list",
  "customer_id": id|null, "traceparent": str|null, "tracestate": str|null}``: the W3C trace
  headers as received (raw, null when absent), so a test can see trace context reach
  Passport; ``customer_id`` is the id retrieved (an account's, key's or recipient's for
  those) or a list's customer_id filter. Revocations and patches are left out.
- ``POST /reset`` (optional ``{"clear_tokens": true}``) -> restores the seed customers and
  resources (planted, touched and deleted ones included), zeroes counters, request ids and
  trace headers, drops faults and undoes revocations. Issued tokens stay valid (a client's
  cached token survives) unless ``clear_tokens`` forgets them all.
- ``POST /faults`` ``{"target": "customers"|"tokens"|"list"|"patch"|"accounts"|"keys"|
  "recipients"|"account_list"|"key_list"|"recipient_list"|"all" (default "customers"),
  "customer_id"?: only calls about that id, "status"?: int, "body"?: raw string,
  "content_type"?: default application/json, "latency_ms"?: int, "times"?: int (default
  unlimited), "retry_after"?: a Retry-After header for the answer (any text)}`` -> 201
  ``{"fault": {..., "fault_id"}, "active": n}``. Targets: customers = GET /v1/customers/<id>,
  list = GET /v1/customers (customer_id = its filter), patch = PATCH /v1/customers/<id>,
  tokens = both token endpoints; accounts, keys, recipients = their retrieve by id
  (customer_id = that resource's id), account_list, key_list, recipient_list = their lists
  (customer_id = the list's customer_id filter); all = every Passport endpoint. A fault
  applies after the call is counted and before the token is checked. Every matching
  delay-only fault adds its latency; the first matching fault with status/body answers
  (status + body, or status + a Passport error body, or 200 + body) and the others wait; each
  fault applied uses one of its ``times``. ``GET /faults`` lists them, ``DELETE /faults``
  clears them.
- ``PUT /customers/<id>`` any JSON -> stored raw as that customer (no validation; JSON null
  reads as absent); ``DELETE /customers/<id>`` removes it (404 if unknown).
- ``POST /customers/<id>/touch`` (optional ``{"updated_at": "..."}``) -> sets updated_at
  to now (or that value) and returns the record.
- ``PUT``, ``DELETE`` ``/accounts/<id>``, ``/keys/<id>``, ``/recipients/<id>`` and ``POST
  /accounts/<id>/touch`` (keys, recipients alike): the same for resources. A planted record
  lists under the owner its body names (a key: through its ``account_id``).
- ``GET /customers/<id>/resources`` -> ``{"accounts": [ids], "keys": [ids], "recipients":
  [ids]}``: what that customer owns now (seed and planted records, minus deleted ones).
- ``POST /tokens/revoke`` -> ``{"revoked": n}``; old tokens then get 401.
- ``GET /customers?limit=N`` -> JSON list of the first N stored customer ids (seed order,
  docs example first; all of them without ``limit``).
"""

from __future__ import annotations

from emulator.app import create_app
from emulator.example import EXAMPLE_ACCOUNT_ID, EXAMPLE_CUSTOMER_ID, EXAMPLE_KEY_ID, EXAMPLE_RECIPIENT_ID
from emulator.process import EmulatorProcess, start_emulator_process
from emulator.server import serve_in_thread, stop_server
from emulator.settings import EmulatorSettings

__all__ = [
    "EXAMPLE_ACCOUNT_ID",
    "EXAMPLE_CUSTOMER_ID",
    "EXAMPLE_KEY_ID",
    "EXAMPLE_RECIPIENT_ID",
    "EmulatorProcess",
    "EmulatorSettings",
    "create_app",
    "serve_in_thread",
    "start_emulator_process",
    "stop_server",
]
