"""An HTTP answer as data, and the headers every answer carries, whoever writes it: Flask
(``app.web.security``), the lookup (``app.web.lookup``) or gunicorn's worker classes
(``app.web.server_errors``). No Flask here."""
from __future__ import annotations

from dataclasses import dataclass

from app.observability import REQUEST_ID_HEADER
from app.web.problems import PROBLEM_CONTENT_TYPE, Problem, problem_json

JSON = "application/json"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


@dataclass(slots=True)  # one per lookup: no frozen __setattr__ on the hit path
class HttpAnswer:
    """Status, headers (all of them, in order) and body: what any server or framework can send."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def problem_answer(problem: Problem, request_id: str) -> HttpAnswer:
    """``problem`` as a whole answer: its document, never cached unless it says how (a remembered 404)."""
    body = problem_json(problem.kind, problem.detail or problem.kind.title, request_id)
    headers = {"Content-Type": PROBLEM_CONTENT_TYPE, "Cache-Control": "no-store", **problem.extra_headers,
               **SECURITY_HEADERS, REQUEST_ID_HEADER: request_id, "Content-Length": str(len(body))}
    return HttpAnswer(problem.kind.status, list(headers.items()), body)
