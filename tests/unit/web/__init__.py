"""Specifications of app.web's modules."""
