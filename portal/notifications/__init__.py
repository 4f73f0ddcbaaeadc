"""Notifications: events of the portal (a run failed, drift found, protection lifted...) sent to
channels an admin configured (e-mail, Slack-compatible webhooks, signed generic webhooks).

`events.emit` is called where an event happens, inside its transaction; it only registers an
on-commit hook. Once committed, the matching rules make `Delivery` rows and a Celery task
(`tasks.deliver`) sends each, with retries and backoff, never inside the run that caused it.
A Django app of its own (label `notifications`), on the tables the portal app made.
"""
