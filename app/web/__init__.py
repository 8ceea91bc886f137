"""The HTTP surface: routes, the lookup fast path, caller auth, rate limits, problems, OpenAPI, health,
request logs and metrics, and the WSGI layers around Flask. The only layer that imports Flask.
"""
