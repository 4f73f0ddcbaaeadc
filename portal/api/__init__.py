"""The HTTP API under /api/v1/ (Django REST Framework, schema by drf-spectacular).

A thin caller of `portal.actions`, like the admin and the CLI: it parses requests, checks the
token's scope and the user's role (`portal.permissions`), and maps `ActionError`s to JSON
problems. `tokens` (hashing, no DRF) and `models` are imported by the rest of the portal; the
DRF modules (`auth`, `views`, `urls`...) only by the URLconf.
"""
