"""The cache policy: freshness, coalescing, the customer service and listing.
Imports the storage and Passport layers; never Flask.
"""
