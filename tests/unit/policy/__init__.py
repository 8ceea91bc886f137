"""Specifications of app.policy's modules."""
