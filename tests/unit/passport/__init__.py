"""Specifications of app.passport's modules."""
