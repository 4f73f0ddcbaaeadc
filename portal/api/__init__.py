"""The HTTP API under /api/v1/ (Django REST Framework, schema by drf-spectacular).

A thin caller of `portal.services`, like the admin and the CLI: it parses requests, hands the
service the request's actor (the user narrowed to the token's role, and the token's reach), whose
guard (`portal.services.authz`) decides, and maps `ActionError`s to JSON problems. The token rows,
their reach and their credentials are `portal.tokens`'s (no DRF), not this package's; nothing else of
the portal imports this one: the URLconf includes `urls`, and the settings name its middleware,
authentication, permission, throttle, parser and exception handler.
"""
