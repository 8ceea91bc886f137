"""Command line: `python -m emulator [--host H] [--port N] ...` serves the Passport emulator.

Every option can also come from an EMULATOR_* environment variable; the command line wins.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from emulator.server import run_until_signalled
from emulator.settings import EmulatorSettings, env_defaults

EXIT_CANNOT_BIND = 1
EXIT_USAGE = 2


def build_parser(defaults: EmulatorSettings) -> argparse.ArgumentParser:
    """The argument parser, with defaults already taken from the environment."""
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Passport API emulator (customers and access tokens) for tests and dev.",
    )
    parser.add_argument("--host", default=defaults.host,
                        help="interface to bind (EMULATOR_HOST, default %(default)s)")
    parser.add_argument("--port", type=int, default=defaults.port,
                        help="port, 0 = any free port (EMULATOR_PORT, default %(default)s)")
    parser.add_argument("--customers", type=int, default=defaults.customers,
                        help="generated customers (EMULATOR_CUSTOMERS, default %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="random seed of the data (EMULATOR_SEED, default %(default)s)")
    parser.add_argument("--token-ttl", type=int, default=defaults.token_ttl,
                        help="token lifetime, seconds (EMULATOR_TOKEN_TTL, default %(default)s)")
    parser.add_argument("--client-id", default=defaults.client_id,
                        help="accepted client_id (EMULATOR_CLIENT_ID, default %(default)s)")
    parser.add_argument("--client-secret", default=defaults.client_secret,
                        help="accepted client_secret (EMULATOR_CLIENT_SECRET)")
    parser.add_argument("--verbose", action="store_true",
                        help="log one line per request to stderr")
    return parser


def parse_settings(argv: Sequence[str] | None = None) -> EmulatorSettings:
    """Settings from the environment overridden by the command line."""
    try:
        defaults = EmulatorSettings(**env_defaults())
    except ValueError as error:
        print(f"python -m emulator: {error}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from error
    parser = build_parser(defaults)
    args = parser.parse_args(argv)
    if args.customers < 0 or args.token_ttl < 1 or not 0 <= args.port <= 65535:
        parser.error("--customers must be >= 0, --token-ttl >= 1, --port 0..65535")
    return EmulatorSettings(
        host=args.host,
        port=args.port,
        customers=args.customers,
        seed=args.seed,
        token_ttl=args.token_ttl,
        client_id=args.client_id,
        client_secret=args.client_secret,
        verbose=args.verbose,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    try:
        run_until_signalled(settings)
    except OSError as error:
        print(f"python -m emulator: cannot listen on {settings.host}:{settings.port}: {error}",
              file=sys.stderr)
        return EXIT_CANNOT_BIND
    return 0


if __name__ == "__main__":
    sys.exit(main())
