"""The operator console: what the admin's pages and buttons need beyond plain ModelAdmins.

- `views`: the custom admin views (Plan, Provision, Verify, Drift check, Teardown, lift
  protection, reveal key, apply a plan, a deployment's live state), wired by `portal.admin`;
- `plans`: what "apply exactly this plan" means (a fingerprint);
- `overview`: the index's counts, runs and sparkline series, in a constant number of queries;
- `badges` and `hints`: states as symbol and word, and what to do about an error.
- `tokens`: the API token pages (create, shown once; list; revoke), through `portal.services.tokens`.
The pictures are drawn by `portal.svg`; who may do what is `portal.permissions`.
"""
