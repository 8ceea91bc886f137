"""Passport's failures, as this service names them: one tree, translated once by the client.

``app.passport.client`` raises these, and only these (no ``requests`` exception escapes it)::

    PassportError
     ├── PassportNotFound            404: no customer with that id
     ├── PassportForbidden           403: our entity may not see this customer
     ├── PassportUnauthorized        401: token expired, revoked or lacking scope
     ├── PassportCredentialsRejected the token endpoint refused our client credentials
     ├── PassportRejectedRequest     any other 4xx
     ├── PassportRateLimited         429, with the Retry-After Passport asked for
     │    └── PassportPaused         not called: Passport asked the fleet for a pause (back_pressure)
     ├── PassportOverloaded          not called: this worker's calls in flight are at their cap
     ├── PassportServerError         5xx
     ├── PassportTimeout             no (complete) answer within the configured time
     ├── PassportUnreachable         connection refused, reset or broken mid-answer
     ├── PassportCircuitOpen         Passport failed repeatedly; not called for a while
     └── PassportBadResponse         a 200 whose body is not JSON, too large, or malformed

Which of them say that Passport itself is unwell (and count toward its breaker), and which a
retry may fix, is decided here too.
"""
from __future__ import annotations


class PassportError(Exception):
    """Passport could not give us what we asked for."""


class PassportNotFound(PassportError):
    pass


class PassportForbidden(PassportError):
    pass


class PassportUnauthorized(PassportError):
    pass


class PassportCredentialsRejected(PassportError):
    pass


class PassportRejectedRequest(PassportError):
    pass


class PassportRateLimited(PassportError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


class PassportPaused(PassportRateLimited):
    """Not called: the fleet honours a pause Passport asked for (``app.passport.back_pressure``)."""


class PassportOverloaded(PassportError):
    """Not called: this worker already has ``PASSPORT_MAX_IN_FLIGHT`` calls to Passport in flight."""


class PassportServerError(PassportError):
    def __init__(self, status: int) -> None:
        super().__init__(f"answered {status}")
        self.status = status


class PassportTimeout(PassportError):
    pass


class PassportBusy(PassportTimeout):
    """No connection to Passport came free within the attempt: this worker is busy, Passport may be well.

    A timeout to the caller (504, or the stale copy), but not counted against Passport's breaker.
    """


class PassportUnreachable(PassportError):
    pass


class PassportBadResponse(PassportError):
    pass


class PassportCircuitOpen(PassportError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"circuit open, retry after {retry_after}s")
        self.retry_after = retry_after


# Failures that say Passport itself is unwell: they count toward the breaker.
PASSPORT_FAILURES = (PassportTimeout, PassportUnreachable, PassportServerError, PassportRateLimited)
RETRYABLE_STATUSES = frozenset({502, 503, 504})


def is_passport_failure(error: BaseException) -> bool:
    return isinstance(error, PASSPORT_FAILURES) and not isinstance(error, (PassportBusy, PassportPaused))


def is_retryable(error: BaseException) -> bool:
    """Retry what another attempt may fix without doubling load on a slow Passport: no timeouts."""
    if isinstance(error, PassportServerError):
        return error.status in RETRYABLE_STATUSES
    return isinstance(error, PassportUnreachable)


class InvalidPassportRecord(ValueError):
    """Passport answered 200 with a body that is not a valid record (or not the one asked for).

    Not a ``PassportError``: raised by a record's schema (``app.passport.resource``), for the
    policy to log with its context and answer as ``PassportBadResponse``.
    """
