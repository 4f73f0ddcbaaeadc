"""manage.py env create|update|list|show|delete: define environments (validated by the engine's build_spec).

    env create NAME --stage dev|staging|prod [--region R] [--owner O] [--cost-centre C]
               [--alarm-email E]... [--set KEY=VALUE]... [--expires DATE]
    env update NAME [--set KEY=VALUE]... [--owner O] [--cost-centre C] [--alarm-email E]...
               [--expires DATE|none]
    env list [--json]
    env show NAME [--json]
    env delete NAME --yes [--json]
    env token NAME [--ttl DURATION] [--subject S] [--json]

`env token` prints a bearer token for an environment in auth mode `token` (signed with its key from
Secrets Manager; audited, the token itself never stored). Send it as `Authorization: Bearer TOKEN`
beside the API key. DURATION: seconds (900) or a number with s, m, h or d (15m, 2h), at most 24h.

`--set KEY=` (empty value) in an update goes back to the stage default. `--expires` takes a date
(2025-07-01, the start of that day, UTC), a date and time (ISO 8601), or a delay (+7d, +12h), at most
MAX_AHEAD_DAYS ahead; a past one only in an update (the hourly sweep then tears the preview down).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from portal.access import access_summary
from portal.documents import environment_document
from portal.management.cli import EnvportCommand, shown, when
from portal.models import Environment
from portal.services import environments as environment_service
from portal.services.base import ActionError, Actor
from provisioning.inventory import InventoryItem, inventory
from provisioning.spec import OVERRIDABLE, STAGES, SpecError

_DELAY = re.compile(r"^\+?(\d+)([dh])$")
_DURATION = re.compile(r"^(\d{1,6})([smhd]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(raw: str) -> int | None:
    """`900`, `15m`, `2h`, `1d` in seconds; None when it is none of these."""
    match = _DURATION.match(raw.strip().lower())
    return int(match.group(1)) * _SECONDS[match.group(2)] if match else None


def parse_sets(items: list[str]) -> tuple[dict[str, str], list[str]]:
    """`KEY=VALUE` strings to a dict (typed later by build_spec), and a problem per malformed one."""
    values: dict[str, str] = {}
    problems = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"--set {item!r}: use KEY=VALUE, KEY one of {', '.join(OVERRIDABLE)}")
        elif key in values:
            problems.append(f"--set {key}: given twice")
        else:
            values[key] = value.strip()
    return values, problems


# An expiry is for previews: more than this ahead is "never" (say `none`). The bound also keeps every
# accepted value far from the calendar's end, where adding a delay or changing zone overflows.
MAX_AHEAD_DAYS = 3650
EXPIRES_FORMS = (
    "a date (2025-07-01), an ISO 8601 date and time (2025-07-01T18:00:00+02:00), a delay (+7d, +12h) or none"
)


def parse_expires(
    raw: str | None, now: dt.datetime | None = None, *, allow_past: bool = False
) -> tuple[dt.datetime | None, list[str]]:
    """The expiry `--expires` names, in UTC, and a problem (never an exception) when it is not one:
    not one of the forms, outside the calendar, more than MAX_AHEAD_DAYS ahead, or in the past where
    that is refused (creating: a new environment that expired already would be torn down at once)."""
    if raw is None or raw.strip().lower() in ("", "none", "never"):
        return None, []
    now = now or timezone.now()
    latest = now + dt.timedelta(days=MAX_AHEAD_DAYS)
    allowed = (
        f"{'' if allow_past else 'from now '}up to {latest:%Y-%m-%d %H:%M} UTC ({MAX_AHEAD_DAYS} days "
        "ahead), or none for no expiry"
    )
    shown = repr(raw) if len(raw) <= 40 else repr(raw[:40] + "…")
    try:
        value = _read_expires(raw.strip(), now)
    except ValueError:
        return None, [f"--expires {shown}: not a date; use {EXPIRES_FORMS}"]
    except OverflowError:
        return None, [f"--expires {shown}: outside the calendar; allowed: {allowed}"]
    if value > latest:
        return None, [f"--expires {shown}: {value:%Y-%m-%d %H:%M} UTC is too far ahead; allowed: {allowed}"]
    if value <= now and not allow_past:
        return None, [f"--expires {shown}: {value:%Y-%m-%d %H:%M} UTC is in the past; allowed: {allowed}"]
    return value, []


def _read_expires(text: str, now: dt.datetime) -> dt.datetime:
    """`text` as a moment in UTC. ValueError: not one of the forms; OverflowError: a moment the
    calendar cannot hold (+99999999d, 9999-12-31T23:59:59-05:00, 0001-01-01T00:00:00+01:00)."""
    delay = _DELAY.match(text)
    if delay:
        digits, unit = delay.group(1).lstrip("0") or "0", delay.group(2)
        if len(digits) > 9:  # no conversion of a 5000-digit number; far beyond MAX_AHEAD_DAYS anyway
            raise OverflowError(text)
        amount = int(digits)
        return now + (dt.timedelta(days=amount) if unit == "d" else dt.timedelta(hours=amount))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
    value = dt.datetime.fromisoformat(text)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


class Command(EnvportCommand):
    help = "Create, update, list and show environments. Exit 0 done, 2 refused (every problem listed)."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(
            dest="action", required=True, metavar="create|update|list|show|delete|token"
        )

        create = sub.add_parser("create", help="define a new environment")
        create.add_argument("name", help="the suffix that names every resource (R-ENV-1)")
        create.add_argument("--stage", required=True, help="stage profile: " + " | ".join(STAGES))
        create.add_argument("--region", default="us-east-1")
        self._common(create)
        self.add_json(create)

        update = sub.add_parser("update", help="change an environment's overrides or details")
        update.add_argument("name")
        self._common(update)
        self.add_json(update)

        listing = sub.add_parser("list", help="every environment")
        self.add_json(listing)

        show = sub.add_parser(
            "show", help="one environment: settings (inherited vs overridden), outputs, state"
        )
        show.add_argument("name")
        self.add_json(show)

        delete = sub.add_parser(
            "delete", help="forget an environment that has no resources (tear it down first); audited"
        )
        delete.add_argument("name")
        delete.add_argument("--yes", action="store_true", help="confirm: the record and its runs go")
        self.add_json(delete)

        token = sub.add_parser(
            "token", help="print a bearer token for an environment in auth mode token (testing; audited)"
        )
        token.add_argument("name")
        token.add_argument(
            "--ttl", default="1h", metavar="DURATION", help="15m, 2h, 900 (seconds); at most 24h"
        )
        token.add_argument("--subject", default="", metavar="S", help="the token's sub (default: you)")
        self.add_json(token)

    def _common(self, parser: Any) -> None:
        parser.add_argument("--owner", default=None)
        parser.add_argument("--cost-centre", dest="cost_centre", default=None)
        parser.add_argument("--alarm-email", dest="alarm_emails", action="append", default=None, metavar="E")
        parser.add_argument(
            "--set",
            dest="sets",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a stage-profile setting: " + ", ".join(OVERRIDABLE),
        )
        parser.add_argument("--expires", default=None, metavar="DATE")

    def handle(self, *args: Any, **opts: Any) -> None:
        getattr(self, f"handle_{opts['action']}")(opts)

    # --- create / update --------------------------------------------------------------------------
    def handle_create(self, opts: dict[str, Any]) -> None:
        as_json, name = opts["json"], opts["name"]
        sets, problems = parse_sets(opts["sets"])
        expires, more = parse_expires(opts["expires"])
        problems += more
        fields = {
            "suffix": name,
            "stage": opts["stage"],
            "region": opts["region"],
            "owner": opts["owner"] or "",
            "cost_centre": opts["cost_centre"] or "",
            "alarm_emails": opts["alarm_emails"] or [],
            "overrides": sets,
            "expires_at": expires,
        }
        change = (environment_service.check_create_environment, environment_service.create_environment)
        env = self.change(change, (Actor.cli(),), fields, problems, f"invalid environment {name!r}", opts)
        self.done(env, "created", as_json)

    def handle_update(self, opts: dict[str, Any]) -> None:
        as_json, name = opts["json"], opts["name"]
        env = self.environment(name, as_json=as_json, kind="env")
        sets, problems = parse_sets(opts["sets"])
        fields: dict[str, Any] = {}
        if opts["expires"] is not None:
            # a past expiry is allowed here: the hourly sweep tears the preview down at its next run
            expires, more = parse_expires(opts["expires"], allow_past=True)
            problems += more
            if not more:
                fields["expires_at"] = expires
        for key in ("owner", "cost_centre", "alarm_emails"):
            if opts[key] is not None:
                fields[key] = opts[key]
        change = (environment_service.check_update_environment, environment_service.update_environment)
        fields["overrides"] = sets
        env = self.change(change, (Actor.cli(), env), fields, problems, f"invalid update of {name!r}", opts)
        self.done(env, "updated", as_json)

    def handle_delete(self, opts: dict[str, Any]) -> None:
        """Through the same service as the admin's Delete: refused while resources or a run exist."""
        as_json, name = opts["json"], opts["name"]
        env = self.environment(name, as_json=as_json, kind="env")
        if not opts["yes"]:
            self.refuse(
                f"deleting environment {name} forgets it and its runs: add --yes to confirm",
                as_json=as_json,
                environment=name,
                kind="env",
            )
        try:
            environment_service.delete_environment(Actor.cli(), env)
        except ActionError as exc:
            self.refuse_action(exc, as_json=as_json, environment=name, kind="env")
        if as_json:
            self.print_json({"environment": name, "status": "deleted"})
        else:
            self.stdout.write(f"environment {name} deleted")

    def handle_token(self, opts: dict[str, Any]) -> None:
        """The token alone on stdout (for `$(manage.py env token NAME)`), what it is for on stderr."""
        as_json, name = opts["json"], opts["name"]
        env = self.environment(name, as_json=as_json, kind="env")
        ttl_s = parse_duration(opts["ttl"])
        if ttl_s is None:
            self.refuse(
                f"--ttl {opts['ttl']!r}: not a duration; use seconds (900) or 15m, 2h, 1d",
                as_json=as_json,
                environment=name,
                kind="env",
            )
        actor = Actor.cli()
        try:
            token = environment_service.issue_token(actor, env, ttl_s=ttl_s or 0, subject=opts["subject"])
        except ActionError as exc:
            self.refuse_action(exc, as_json=as_json, environment=name, kind="env")
        expires = timezone.now() + dt.timedelta(seconds=ttl_s or 0)
        if as_json:
            self.print_json(
                {
                    "environment": name,
                    "subject": opts["subject"] or actor.name,
                    "expires_at": expires.isoformat(timespec="seconds"),
                    "token": token,
                }
            )
            return
        self.stdout.write(token)
        self.stderr.write(
            f"token for {name}, valid until {expires:%Y-%m-%d %H:%M:%S} UTC; send it as "
            "'Authorization: Bearer <token>' with the API key in 'x-api-key'"
        )

    def change(
        self,
        service: tuple[Callable[..., Any], Callable[..., Environment]],
        args: tuple[Any, ...],
        fields: dict[str, Any],
        problems: list[str],
        message: str,
        opts: dict[str, Any],
    ) -> Environment:
        """The environment created or updated by the service's (check, save) pair. With problems the
        CLI found itself, still check the rest with the service (writes nothing) and refuse them all
        at once."""
        as_json, name = opts["json"], opts["name"]
        check, save = service
        if problems:
            problems += self.service_problems(check, *args, **fields)
            self.refuse(message, problems, as_json=as_json, environment=name, kind="env")
        try:
            return save(*args, **fields)
        except ActionError as exc:
            self.refuse_action(exc, as_json=as_json, environment=name, kind="env")

    @staticmethod
    def service_problems(check: Callable[..., Any], *args: Any, **kwargs: Any) -> list[str]:
        """What the service's `check_*` twin (it writes nothing) would refuse besides the CLI's own
        syntax problems, so that one run lists them all."""
        try:
            check(*args, **kwargs)
        except ActionError as exc:
            return exc.problems
        return []

    def done(self, env: Environment, verb: str, as_json: bool) -> None:
        env = environment_service.get_environment(env.suffix)
        if as_json:
            self.print_json(environment_document(env))
        else:
            self.stdout.write(f"environment {env.suffix} {verb}")
            self.print_environment(env)

    # --- list / show ------------------------------------------------------------------------------
    def handle_list(self, opts: dict[str, Any]) -> None:
        envs = list(Environment.objects.select_related("last_deployment").order_by("suffix"))
        if opts["json"]:
            self.print_json({"environments": [environment_document(e) for e in envs]})
            return
        if not envs:
            self.stdout.write("no environments yet: manage.py env create NAME --stage dev")
            return
        header = f"{'NAME':<20} {'STAGE':<8} {'REGION':<14} {'STATUS':<13} {'HEALTH':<9} {'DRIFT':<8} EXPIRES"
        self.stdout.write(header)
        for e in envs:
            expires = e.expires_at.strftime("%Y-%m-%d %H:%M") if e.expires_at else "-"
            self.stdout.write(
                f"{e.suffix:<20} {e.stage:<8} {e.region:<14} {e.status:<13} {e.health:<9} "
                f"{e.drift_state:<8} {expires}"
            )

    def handle_show(self, opts: dict[str, Any]) -> None:
        env = self.environment(opts["name"], as_json=opts["json"], kind="env")
        resources = resource_inventory(env)
        if opts["json"]:
            self.print_json({**environment_document(env), "resources": [r.to_dict() for r in resources]})
            return
        self.print_environment(env)
        if resources:
            self.stdout.write("resources (- not used by its auth or network mode, = shared by the account):")
            for r in resources:
                mark = "=" if r.shared else (" " if r.wanted else "-")
                self.stdout.write(f"  {mark} {r.key:<22} {r.kind:<24} {r.name}")

    def print_environment(self, env: Environment) -> None:
        doc = environment_document(env)
        self.stdout.write(
            f"{env.suffix}: stage {env.stage}, region {env.region}, status {env.status}, "
            f"health {env.health}, drift {env.drift_state}"
        )
        for label, value in (
            ("owner", env.owner),
            ("cost centre", env.cost_centre),
            ("alarm e-mails", ", ".join(env.alarm_emails)),
            ("expires", doc["expires_at"] and when(doc["expires_at"])),
        ):
            if value:
                self.stdout.write(f"  {label}: {value}")
        self.print_warnings(doc["warnings"])
        access = access_summary(env)
        self.stdout.write(f"access: {access['label']} (auth={access['mode']})")
        for line in [*access["how"], *access["commands"]]:
            self.stdout.write(f"  {line}")
        self.stdout.write("settings (* overridden):")
        for key, row in doc["settings"].items():
            mark = "*" if row["source"] == "overridden" else " "
            default = f"   (stage default {shown(row['default'])})" if row["source"] == "overridden" else ""
            self.stdout.write(f"  {mark} {key:<30} {shown(row['value'])}{default}")
        if doc["outputs"]:
            self.stdout.write("outputs:")
            for key, value in doc["outputs"].items():
                self.stdout.write(f"    {key:<18} {shown(value)}")
        if doc["last_deployment"]:
            last = doc["last_deployment"]
            self.stdout.write(f"last deployment: #{last['id']} {last['kind']} {last['status']}")


def resource_inventory(env: Environment) -> list[InventoryItem]:
    """What the environment is made of, by AWS name (the engine's inventory); none while its
    definition is invalid (the warnings say why)."""
    try:
        return inventory(env.spec())
    except SpecError:
        return []
