"""Who acts and how a service refuses: the pieces every service function and the one guard
(`portal.services.authz`) share, kept apart from the domains' modules (`environments`, `runs`,
`releases`, `tokens`, `schedules`...) so that the guard does not import the services it guards."""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provisioning.spec import EnvironmentSpec, SpecError

if TYPE_CHECKING:
    from portal.models import Deployment, Environment
    from portal.tokens.reach import Reach


class ActionError(Exception):
    """Refused before anything ran; `problems` lists every reason (the CLI exits 2)."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems) or [message]


class InvalidInput(ActionError):
    pass


class NotFound(ActionError):
    pass


class Forbidden(ActionError):
    """The actor's role or token does not allow this (the API answers 403, the console shows the
    message, the CLI exits 2). `portal.services.authz` raises it."""


class Conflict(ActionError):
    """A queued or running deployment already holds the environment."""

    def __init__(self, message: str, running: Deployment | None = None) -> None:
        super().__init__(message)
        self.running = running


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (admin UI or CLI), or a schedule; and from where."""

    source: str  # ui / cli / schedule / api (AuditEvent.Source)
    user: Any = None
    label: str = ""
    remote_addr: str | None = None
    # an API token's reach (stages, name patterns, read-only); None: not limited by a token
    reach: Reach | None = None

    @classmethod
    def cli(cls, user: Any = None) -> Actor:
        try:
            who = getpass.getuser()
        except Exception:  # no login name in some containers
            who = "unknown"
        return cls("cli", user, f"cli:{who}")

    @classmethod
    def schedule(cls, task: str) -> Actor:
        return cls("schedule", None, f"schedule:{task}")

    @property
    def name(self) -> str:
        if self.user is not None:
            return str(self.user.get_username())
        return self.label or self.source

    @property
    def trigger(self) -> str:
        return {"ui": "user", "cli": "cli", "schedule": "schedule", "api": "api"}[self.source]


def unknown_environment(suffix: str) -> NotFound:
    """What an absent environment answers; an environment out of a token's reach answers the same."""
    return NotFound(f"unknown environment {suffix[:40]!r}; `manage.py env list` shows the environments")


def spec_of(env: Environment) -> EnvironmentSpec:
    """The environment's spec, or InvalidInput when its stored definition no longer builds one."""
    try:
        return env.spec()
    except SpecError as exc:
        raise InvalidInput(f"environment {env.suffix} has an invalid definition", [str(exc)]) from None
