"""Settings of one emulator instance, and how to read them from the environment."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090
DEFAULT_CUSTOMERS = 300
DEFAULT_SEED = 42
DEFAULT_TOKEN_TTL_SECONDS = 86400
DEFAULT_CLIENT_ID = "dev-client-id"
DEFAULT_CLIENT_SECRET = "dev-client-secret"

Clock = Callable[[], float]


@dataclass
class EmulatorSettings:
    """Everything that shapes an emulator instance.

    `clock` returns POSIX seconds; tests inject a fake one to expire tokens without sleeping.
    `example_path` overrides where the docs' example customer is read from.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    customers: int = DEFAULT_CUSTOMERS
    seed: int = DEFAULT_SEED
    token_ttl: int = DEFAULT_TOKEN_TTL_SECONDS
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    verbose: bool = False
    example_path: str | None = None
    clock: Clock = field(default=time.time, repr=False, compare=False)


# setting name -> (environment variable, converter)
ENV_VARIABLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "host": ("EMULATOR_HOST", str),
    "port": ("EMULATOR_PORT", int),
    "customers": ("EMULATOR_CUSTOMERS", int),
    "seed": ("EMULATOR_SEED", int),
    "token_ttl": ("EMULATOR_TOKEN_TTL", int),
    "client_id": ("EMULATOR_CLIENT_ID", str),
    "client_secret": ("EMULATOR_CLIENT_SECRET", str),
}


def env_defaults(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """Setting values found in the environment (only those that are set), converted.

    Raises ValueError naming the variable when a number does not parse.
    """
    source = os.environ if environ is None else environ
    found: dict[str, object] = {}
    for name, (variable, convert) in ENV_VARIABLES.items():
        raw = source.get(variable)
        if raw is None or raw == "":
            continue
        try:
            found[name] = convert(raw)
        except ValueError as error:
            raise ValueError(f"{variable}={raw!r} is not valid: {error}") from error
    return found
