"""The emulator as a WSGI app for a production server (``gunicorn -w 1 -k gthread emulator.wsgi:app``).

Settings come from the ``EMULATOR_*`` environment variables, as for ``python -m emulator``. One
process only: the emulator keeps its customers, tokens and counters in memory. The benchmark
serves it this way because Werkzeug's server closes every connection after one answer, while
Passport, like any production API, keeps them open — the miss figures should not count a new TCP
connection per call.
"""
from __future__ import annotations

from emulator.app import create_app
from emulator.settings import EmulatorSettings, env_defaults

app = create_app(EmulatorSettings(**env_defaults()))
