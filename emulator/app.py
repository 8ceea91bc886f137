"""The emulator's Flask application factory."""

from __future__ import annotations

from flask import Flask

from emulator import controls, customers_api, resources_api, tokens_api
from emulator.errors import register_error_handlers
from emulator.example import load_example, load_example_resources
from emulator.resources_seed import SeedResources
from emulator.seed import account_id_for, generate_customers
from emulator.settings import EmulatorSettings
from emulator.store import STORE_EXTENSION_KEY, Store


def build_store(settings: EmulatorSettings) -> Store:
    """Seed data (the docs examples first, then generated customers and what they own) in a fresh Store."""
    now = settings.clock()
    generated = generate_customers(settings.customers, settings.seed, now)
    resources = SeedResources(settings.seed, now, generated, load_example_resources())
    return Store(settings, [load_example(settings.example_path), *generated], account_id_for(settings.seed), resources)


def create_app(settings: EmulatorSettings | None = None) -> Flask:
    """A Flask app emulating Passport, with its own in-memory state."""
    settings = settings or EmulatorSettings()
    app = Flask("passport_emulator")
    app.json.sort_keys = False
    app.extensions[STORE_EXTENSION_KEY] = build_store(settings)
    app.register_blueprint(tokens_api.blueprint)
    app.register_blueprint(customers_api.blueprint)
    app.register_blueprint(resources_api.blueprint)
    app.register_blueprint(controls.blueprint)
    register_error_handlers(app)
    return app
