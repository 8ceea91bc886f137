"""Flask's side of the one error shape: every error of a request answered as a problem.

Application errors are ``Problem`` exceptions naming a type of the catalogue (``app.web.problems``,
which also renders them); werkzeug's own ``HTTPException``s get the same shape; Passport's
errors are translated by its ``PASSPORT_PROBLEMS`` table. Unhandled exceptions become a bare 500
problem: the stack trace goes to the log, never to the caller.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from app.passport import errors as passport_errors
from app.web.problems import (
    HTTP_PROBLEMS,
    INTERNAL_ERROR,
    PROBLEM_CONTENT_TYPE,
    Problem,
    ProblemType,
    problem_from_passport,
    problem_json,
)

log = logging.getLogger(__name__)

def problem_response(kind: ProblemType, detail: str, headers: dict[str, str] | None = None) -> Response:
    """Render a problem document, carrying the request id."""
    response = Response(problem_json(kind, detail, g.get("request_id")), status=kind.status,
                        content_type=PROBLEM_CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers or {})
    return response


def handle_problem(error: Problem) -> Response:
    return problem_response(error.kind, error.detail or error.kind.title, error.extra_headers)


def handle_passport_error(error: passport_errors.PassportError) -> Response:
    return handle_problem(problem_from_passport(error))


def handle_http_exception(error: HTTPException) -> WerkzeugResponse:
    """Give werkzeug's own errors (404 route, 405, 413, ...) the same shape."""
    if isinstance(error.response, WerkzeugResponse):  # already rendered (the rate limiter's 429 problem)
        return error.response
    code = error.code or 500
    kind = HTTP_PROBLEMS.get(code) or ProblemType((error.name or "error").lower().replace(" ", "-"), code, error.name)
    kept = {k: v for k, v in error.get_headers() if k.lower() in ("allow", "retry-after", "www-authenticate")}
    return problem_response(kind, error.description or error.name, kept)


def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error")
    return problem_response(INTERNAL_ERROR, INTERNAL_ERROR.detail)


def init_app(app: Flask) -> None:
    """Route every error of ``app`` to a problem document."""
    app.register_error_handler(Problem, handle_problem)
    app.register_error_handler(passport_errors.PassportError, handle_passport_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
