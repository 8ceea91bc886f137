"""Specifications of app.store's modules."""
