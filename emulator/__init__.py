"""Passport API emulator: an in-memory stand-in for Passport (like stripe-mock is for Stripe).

Start it with ``python -m emulator --port 0`` (see ``python -m emulator --help``); it prints
exactly one stdout line, ``Passport emulator listening on http://127.0.0.1:<port>``, once
bound, and exits cleanly on SIGTERM/SIGINT. In-process: ``create_app(EmulatorSettings(...))``
or ``serve_in_thread(settings) -> (server, base_url)`` then ``stop_server(server)``; as a
child process: ``start_emulator_process() -> EmulatorProcess`` (``.base_url``, ``.stop()``).

Passport endpoints (see shared/passport/UPSTREAM.md): ``POST /v1/iam/oauth/tokens``,
``DELETE /v1/iam/oauth/tokens/<token_id>``, ``GET /v1/customers/<id>``, ``GET /v1/customers``,
``PATCH /v1/customers/<id>``. Errors are ``{message, http_code, type, trace_id, code}``.
Seed data: the docs' example customer ``db7e89e7-59d8-4ab1-b675-a2ae52c3339e`` and
``--customers`` generated Colombian businesses, deterministic for a seed and start time.

Test-only controls, under ``/_emulator/``, no auth, JSON in and out:

- ``GET /health`` -> ``{"status": "ok"}``.
- ``GET /stats`` -> ``{"token_calls", "token_revoke_calls", "customer_calls": {id: n},
  "customer_calls_total", "list_calls", "patch_calls", "request_ids": [last 1000
  X-Request-ID values, null when a call had none], "trace_headers": [...],
  "last_authorization_ok"}``. Every call to a Passport endpoint counts, errors and injected
  faults included; customer ids lower-case. ``trace_headers`` holds the last 1000 customer,
  list and token-issue calls in arrival order, each ``{"kind": "customer"|"list"|"token",
  "customer_id": id|null, "traceparent": str|null, "tracestate": str|null}``: the W3C trace
  headers as received (raw, null when absent), so a test can see trace context reach
  Passport; a list call's customer_id is its filter. Revocations and patches are left out.
- ``POST /reset`` (optional ``{"clear_tokens": true}``) -> restores the seed customers,
  zeroes counters, request ids and trace headers, drops faults and undoes revocations.
  Issued tokens stay valid (a client's cached token survives) unless ``clear_tokens``
  forgets them all.
- ``POST /faults`` ``{"target": "customers"|"tokens"|"list"|"patch"|"all" (default
  "customers"), "customer_id"?: only calls about that id, "status"?: int, "body"?: raw
  string, "content_type"?: default application/json, "latency_ms"?: int, "times"?: int,
  "retry_after"?: a Retry-After header for the answer (any text)
  (default unlimited)}`` -> 201 ``{"fault": {..., "fault_id"}, "active": n}``. Targets:
  customers = GET /v1/customers/<id>, list = GET /v1/customers (customer_id = its filter),
  patch = PATCH /v1/customers/<id>, tokens = both token endpoints. A fault applies after
  the call is counted and before the token is checked. Every matching delay-only fault
  adds its latency; the first matching fault with status/body answers (status + body, or
  status + a Passport error body, or 200 + body) and the others wait; each fault applied
  uses one of its ``times``. ``GET /faults`` lists them, ``DELETE /faults`` clears them.
- ``PUT /customers/<id>`` any JSON -> stored raw as that customer (no validation; JSON null
  reads as absent); ``DELETE /customers/<id>`` removes it (404 if unknown).
- ``POST /customers/<id>/touch`` (optional ``{"updated_at": "..."}``) -> sets updated_at
  to now (or that value) and returns the record.
- ``POST /tokens/revoke`` -> ``{"revoked": n}``; old tokens then get 401.
- ``GET /customers?limit=N`` -> JSON list of the first N stored customer ids (seed order,
  docs example first; all of them without ``limit``).
"""

from __future__ import annotations

from emulator.app import create_app
from emulator.example import EXAMPLE_CUSTOMER_ID
from emulator.process import EmulatorProcess, start_emulator_process
from emulator.server import serve_in_thread, stop_server
from emulator.settings import EmulatorSettings

__all__ = [
    "EXAMPLE_CUSTOMER_ID",
    "EmulatorProcess",
    "EmulatorSettings",
    "create_app",
    "serve_in_thread",
    "start_emulator_process",
    "stop_server",
]
