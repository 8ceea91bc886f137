"""The Passport layer: the one HTTP client to Passport, its errors, tokens and Passport's schemas.
Imports the storage layer only (tokens are shared through the store); never Flask.
"""
