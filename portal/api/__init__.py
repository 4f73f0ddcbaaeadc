"""The HTTP API under /api/v1/ (Django REST Framework, schema by drf-spectacular).

A thin caller of `portal.services`, like the admin and the CLI: it parses requests, hands the
service the request's actor (the user narrowed to the token's role, and the token's reach), whose
guard (`portal.services.authz`) decides, and maps `ActionError`s to JSON problems. `tokens`
(hashing, no DRF) and `models` are imported by the rest of the portal; the DRF modules (`auth`,
`views`, `urls`...) only by the URLconf.
"""
