"""What one environment asks for: an immutable spec built from plain values.

Everything the engine provisions is derived from an `EnvironmentSpec`; nothing is read from
globals or hard-coded names. Validation collects every problem before raising, so an
operator fixes a bad definition in one round trip, and it runs before any AWS call.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .names import HANDLER, MANAGED_BY, PROJECT, Names

STAGES = ("dev", "staging", "prod")
SUFFIX_RE = re.compile(r"^[a-z][a-z0-9-]{2,19}$")
SUFFIX_RULE = "3 to 20 characters: lower-case letters, digits and hyphens, starting with a letter"
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
# A dot-atom local part (RFC 5322 atext, no quoted strings) and a domain of DNS labels whose
# last label starts with a letter: what SNS e-mail subscriptions can deliver to. No
# whitespace or control character can match, so a header-injecting newline cannot pass.
EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]"
)
EMAIL_RULE = (
    "e-mail addresses such as ops@example.com (one @, a dotted domain, no spaces, at most 254 characters)"
)
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,64}$")
KMS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[0-9a-f-]{36}|alias/[\w/-]+)$")
TAG_VALUE_MAX = 256
TAG_PUNCTUATION = frozenset("_.:/=+-@")
TAG_RULE = (
    f"at most {TAG_VALUE_MAX} characters: letters (any language), digits, spaces and _ . : / = + - @ "
    "(AWS's tag rule; no tabs, newlines or other control characters)"
)
# R-NET-1: an existing VPC and its subnets, adopted in vpc mode (AWS's id forms: 8 or 17 hex digits).
VPC_ID_RE = re.compile(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")
SUBNET_ID_RE = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
NETWORK_MODES = ("public", "vpc")
MIN_SUBNETS = 2  # Lambda's advice: subnets in at least two Availability Zones for high availability
ORIGIN_RE = re.compile(r"^(\*|https?://[a-z0-9.-]+(:\d{1,5})?)$")
# The function's code (R-REL-1): an artifact named by the hex SHA-256 of its zip, and its handler.
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
HANDLER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
HANDLER_RULE = "MODULE.FUNCTION of Python identifiers, e.g. lambda_bundle.handler.lambda_handler"

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
BILLING_MODES = ("PAY_PER_REQUEST", "PROVISIONED")
# R-AUTH-1: who may call the API. API keys (and their usage plan) stay required in every mode.
AUTH_MODES = ("api_key", "token", "cognito", "iam")
# Which Cognito token the API accepts: API Gateway validates an ID token on a method without
# authorization scopes and an access token (with its scope) on a method that names scopes.
COGNITO_TOKEN_USES = ("id", "access")


class ProblemsError(ValueError):
    """Every problem of an input at once: field, value given, what is allowed. A subclass names
    the input in `what` (the message starts "invalid <what>:")."""

    what = "input"

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = [f"{p.field}: {p.value!r} is not allowed; {p.allowed}" for p in problems]
        super().__init__(f"invalid {self.what}:\n  " + "\n  ".join(lines))

    def as_dicts(self) -> list[dict[str, str]]:
        return [{"field": p.field, "value": repr(p.value), "allowed": p.allowed} for p in self.problems]


class SpecError(ProblemsError):
    """Every problem of a definition at once: field, value given, what is allowed."""

    what = "environment definition"


@dataclass(frozen=True)
class Problem:
    field: str
    value: Any
    allowed: str


@dataclass(frozen=True)
class Settings:
    """The knobs that differ between stages (R-ENV-2); each one can be overridden per environment.

    Alarm thresholds are per 5-minute period: counts for errors/throttles, milliseconds for
    p90 durations and latencies.
    """

    memory_mb: int
    timeout_s: int
    reserved_concurrency: int
    throttle_rate: int
    throttle_burst: int
    quota_per_day: int
    log_retention_days: int
    pitr: bool
    deletion_protection: bool
    billing_mode: str
    read_capacity: int
    write_capacity: int
    max_read_capacity: int
    max_write_capacity: int
    log_level: str
    alarm_lambda_errors: int
    alarm_lambda_throttles: int
    alarm_lambda_p90_ms: int
    alarm_api_5xx: int
    alarm_api_4xx: int
    alarm_api_p90_ms: int
    alarm_dynamodb_throttles: int
    alarm_dynamodb_system_errors: int
    # R-AUTH-1; the same default on every stage, so they are defaults here, not in each profile.
    auth: str = "api_key"
    auth_ttl_s: int = 300  # the authorizer's result cache (token, cognito): API Gateway's 0..3600
    cognito_token_use: str = "id"
    # R-NET-1: where the function runs. "public": Lambda's own network; "vpc": private subnets
    # with a DynamoDB gateway endpoint, envport's VPC, or the one named by vpc_id/subnet_ids.
    network: str = "public"
    vpc_id: str = ""  # an existing VPC to adopt (never deleted); empty: envport makes one
    subnet_ids: tuple[str, ...] = ()  # with vpc_id: its subnets the function runs in


# The throttle's two limits (the stage profiles derive both from reserved concurrency; see
# capacity_warnings for the reasoning). A warm CRUD request is one DynamoDB call: tens of
# milliseconds; 50 ms is the typical duration the profiles are sized for.
TYPICAL_DURATION_S = 0.05
MAX_THROTTLE_RATE = 1000  # R-API-2: up to 1000 requests per second


def throttle_for(reserved_concurrency: int) -> dict[str, int]:
    """The stage profiles' throttle for a reserved concurrency.

    Half the executions serve the steady rate at the typical duration (rate = reserved / (2 x
    50 ms), at most 1000/s), so a function twice as slow as typical still keeps up; the other half
    absorb a burst arriving while that rate runs (burst = reserved / 2). At the full rate and a full
    burst the function needs ``reserved_concurrency`` executions, never more.
    """
    rate = int(reserved_concurrency / (2 * TYPICAL_DURATION_S))
    return {
        "reserved_concurrency": reserved_concurrency,
        "throttle_rate": max(1, min(MAX_THROTTLE_RATE, rate)),
        "throttle_burst": max(1, reserved_concurrency // 2),
    }


# Each stage's knobs side by side (R-ENV-2), in STAGES order: dev, staging, prod. The throttle's
# rate and burst come from the reserved concurrency (throttle_for): half the executions at the
# typical duration, the other half for a burst.
_STAGE_KNOBS: dict[str, tuple[Any, Any, Any]] = {
    "memory_mb": (256, 512, 1024),
    "timeout_s": (10, 10, 15),
    "quota_per_day": (100_000, 1_000_000, 10_000_000),
    "log_retention_days": (7, 30, 90),
    "pitr": (False, True, True),
    "deletion_protection": (False, False, True),
    "billing_mode": ("PAY_PER_REQUEST", "PAY_PER_REQUEST", "PAY_PER_REQUEST"),
    "read_capacity": (5, 5, 5),
    "write_capacity": (5, 5, 5),
    "max_read_capacity": (20, 100, 1000),
    "max_write_capacity": (20, 100, 1000),
    "log_level": ("DEBUG", "INFO", "INFO"),
    "alarm_lambda_errors": (10, 5, 1),
    "alarm_lambda_throttles": (10, 5, 1),
    "alarm_lambda_p90_ms": (5000, 3000, 1000),
    "alarm_api_5xx": (10, 5, 1),
    "alarm_api_4xx": (200, 100, 50),
    "alarm_api_p90_ms": (5000, 3000, 1500),
    "alarm_dynamodb_throttles": (10, 5, 1),
    "alarm_dynamodb_system_errors": (5, 1, 1),
}
_STAGE_RESERVED_CONCURRENCY = (10, 50, 100)


def _stage_profile(index: int) -> Settings:
    knobs: dict[str, Any] = {knob: values[index] for knob, values in _STAGE_KNOBS.items()}
    knobs.update(throttle_for(_STAGE_RESERVED_CONCURRENCY[index]))
    return Settings(**knobs)


PROFILES: dict[str, Settings] = {stage: _stage_profile(index) for index, stage in enumerate(STAGES)}

# What each override accepts: an inclusive integer range, one of a tuple of choices, or a bool.
_INT_RANGES: dict[str, tuple[int, int]] = {
    "memory_mb": (128, 10240),
    "timeout_s": (1, 29),  # API Gateway's integration timeout caps a useful Lambda timeout at 29 s
    "reserved_concurrency": (0, 1000),
    "throttle_rate": (1, MAX_THROTTLE_RATE),  # R-API-2: up to 1000 requests per second
    "throttle_burst": (1, 5000),
    "quota_per_day": (1, 1_000_000_000),
    "read_capacity": (5, 40000),  # R-DB-2: at least 5
    "write_capacity": (5, 40000),
    "max_read_capacity": (5, 40000),
    "max_write_capacity": (5, 40000),
    "alarm_lambda_errors": (1, 1_000_000),
    "alarm_lambda_throttles": (1, 1_000_000),
    "alarm_lambda_p90_ms": (1, 900_000),
    "alarm_api_5xx": (1, 1_000_000),
    "alarm_api_4xx": (1, 1_000_000),
    "alarm_api_p90_ms": (1, 29_000),
    "alarm_dynamodb_throttles": (1, 1_000_000),
    "alarm_dynamodb_system_errors": (1, 1_000_000),
    "auth_ttl_s": (0, 3600),  # authorizerResultTtlInSeconds: 0 (no cache) to 3600
}
_CHOICES: dict[str, tuple[Any, ...]] = {
    "log_retention_days": LOG_RETENTION_DAYS,
    "billing_mode": BILLING_MODES,
    "log_level": LOG_LEVELS,
    "auth": AUTH_MODES,
    "cognito_token_use": COGNITO_TOKEN_USES,
    "network": NETWORK_MODES,
}
_BOOLS = ("pitr", "deletion_protection")
OVERRIDABLE: tuple[str, ...] = tuple(f.name for f in fields(Settings))


def describe_allowed(key: str) -> str:
    """Human text of what an override accepts; used in errors and in the CLI's help."""
    if key in _INT_RANGES:
        low, high = _INT_RANGES[key]
        return f"an integer from {low} to {high}"
    if key in _CHOICES:
        return "one of " + ", ".join(str(c) for c in _CHOICES[key])
    if key in _BOOLS:
        return "true or false"
    if key == "vpc_id":
        return (
            "an existing VPC's id (vpc- and 8 or 17 hex digits), with subnet_ids, only with network=vpc; "
            "or empty"
        )
    if key == "subnet_ids":
        return (
            f"at least {MIN_SUBNETS} distinct subnet ids of vpc_id (subnet- and 8 or 17 hex digits), "
            "comma-separated, only with vpc_id; or empty"
        )
    return "one of the override keys: " + ", ".join(OVERRIDABLE)


def parse_override(key: str, raw: Any) -> Any:
    """Turn a value from a form or `--set KEY=VALUE` into its typed form; raise ValueError if it can't be."""
    if key in _BOOLS:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise ValueError(raw)
    if key in _INT_RANGES or key == "log_retention_days":
        if isinstance(raw, bool):
            raise ValueError(raw)
        if isinstance(raw, int):
            return raw
        text = str(raw).strip()
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(raw)
        return int(text)
    if key == "network":
        return str(raw).strip().lower()
    if key in _CHOICES:
        if key in ("billing_mode", "log_level"):
            return str(raw).strip().upper()
        if key in ("auth", "cognito_token_use"):
            return str(raw).strip().lower()
        return raw
    if key == "vpc_id":
        return str(raw).strip()
    if key == "subnet_ids":
        items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
        return tuple(str(item).strip() for item in items if str(item).strip())
    raise KeyError(key)


def _check_setting(key: str, value: Any) -> bool:
    if key == "vpc_id":
        return value == "" or bool(VPC_ID_RE.fullmatch(value))
    if key == "subnet_ids":
        return not value or (
            len(value) >= MIN_SUBNETS
            and len(set(value)) == len(value)
            and all(SUBNET_ID_RE.fullmatch(item) for item in value)
        )
    if key in _BOOLS:
        return isinstance(value, bool)
    if key in _INT_RANGES:
        low, high = _INT_RANGES[key]
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    return value in _CHOICES[key]


def is_tag_value(value: object) -> bool:
    """AWS's rule for tag values, ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`` of at most 256 characters.

    Owner and cost centre become tags on every resource (R-ENV-3): a value AWS refuses would
    fail the apply halfway, and a newline or tab would break every cost report that groups by
    tag. Python's ``re`` has no Unicode classes, so each character is judged by its category:
    letters (L*), numbers (N*) and space separators (Zs). Line and paragraph separators (Zl,
    Zp), which AWS's ``\\p{Z}`` would let through, are line breaks and are refused too.
    """
    return isinstance(value, str) and len(value) <= TAG_VALUE_MAX and all(map(_is_tag_character, value))


def _is_tag_character(char: str) -> bool:
    category = unicodedata.category(char)
    return char in TAG_PUNCTUATION or category[0] in "LN" or category == "Zs"


def is_email(value: object) -> bool:
    """An address SNS can subscribe: the dot-atom form of RFC 5322 within SMTP's length limits."""
    if not isinstance(value, str) or len(value) > 254 or not EMAIL_RE.fullmatch(value):
        return False
    return len(value.split("@", 1)[0]) <= 64


@dataclass(frozen=True)
class EnvironmentSpec:
    """One environment, fully resolved: the stage profile with the overrides applied."""

    suffix: str
    stage: str
    region: str
    settings: Settings
    owner: str = ""
    cost_centre: str = ""
    alarm_emails: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ("*",)
    kms_key_arn: str | None = None  # None: the engine manages one key per environment
    overrides: tuple[tuple[str, Any], ...] = ()
    # The artifact the function runs, once a release chose one (R-REL-1): the engine deploys it
    # from the artifact bucket by this address. None: the repository's `lambda_bundle/`, built
    # by the engine (or the artifact handed to `Engine(artifact=...)`).
    artifact_sha256: str | None = None
    handler: str | None = None  # with artifact_sha256; None: lambda_bundle's handler
    project: str = PROJECT
    # The physical table that is current after a restore (`{base}-items-r{stamp}`); None: the first.
    table_name: str | None = None

    @property
    def names(self) -> Names:
        return Names(
            project=self.project, suffix=self.suffix, stage=self.stage, physical_table=self.table_name or ""
        )

    @property
    def tags(self) -> dict[str, str]:
        """R-ENV-3: the tags every resource that takes tags carries."""
        tags = {
            "Environment": self.suffix,
            "Stage": self.stage,
            "Project": self.project,
            "ManagedBy": MANAGED_BY,
        }
        if self.owner:
            tags["Owner"] = self.owner
        if self.cost_centre:
            tags["CostCentre"] = self.cost_centre
        return tags

    @property
    def protected(self) -> bool:
        return self.settings.deletion_protection

    @property
    def function_handler(self) -> str:
        return self.handler or HANDLER

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot, stored with every deployment so a run can be explained later."""
        data = asdict(self)
        data["overrides"] = dict(self.overrides)
        return data


@dataclass(frozen=True)
class CapacityWarning:
    """A combination of settings that provisions fine but fails clients under load.

    Not a validation problem: an operator may want it for a while (a load test, a kill
    switch), so plan, the admin and ``env show`` show it instead of refusing it.
    """

    code: str  # stable identifier: "burst_over_concurrency" or "no_concurrency"
    message: str  # the numbers and the fix, ready to show as is
    settings: tuple[str, ...]  # the settings involved, for a form to point at

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "settings": list(self.settings)}


def capacity_warnings(spec: EnvironmentSpec | Settings) -> list[CapacityWarning]:
    """Where the API's throttle admits more requests than the function can run.

    API Gateway's throttle is a token bucket with two different limits
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html):
    ``throttle_burst`` is "the maximum number of concurrent request submissions" it lets through at
    once, and ``throttle_rate`` the requests per second that refill it. Each request it lets through
    needs its own Lambda execution environment while it runs, and reserved concurrency caps how many
    exist (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html). Lambda
    throttles the rest, and API Gateway answers a throttled proxy integration with 500 "Internal
    server error" rather than 429: the client cannot tell it from a bug, does not back off, and the
    5xx alarm fires. A 429 from the gateway's own throttle is the answer a client can act on, so the
    gateway must run out of tokens before Lambda runs out of executions. Hence two bounds:

    - the burst arrives at once, whatever the function's speed: ``throttle_burst <=
      reserved_concurrency``;
    - the steady rate occupies ``rate x duration`` executions (Little's law, the sizing rule in
      https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html), so it is bounded by
      ``reserved_concurrency / duration``, not by the concurrency itself: 10 executions serve 200
      requests a second of 50 ms. The duration is the typical one the profiles assume
      (``TYPICAL_DURATION_S``, 50 ms for a warm request of one DynamoDB call); a function slower than
      that is what the p90 duration alarm reports. Comparing the rate with the concurrency, as the
      old profiles did (dev: 10/s), throttled a developer's test script; comparing ``rate x
      timeout`` would flag every useful setting and teach operators to ignore the warning.
    """
    settings = spec.settings if isinstance(spec, EnvironmentSpec) else spec
    burst, rate = settings.throttle_burst, settings.throttle_rate
    reserved = settings.reserved_concurrency
    if reserved == 0:
        return [_no_concurrency_warning(burst)]
    warnings = []
    if burst > reserved:
        warnings.append(_burst_warning(burst, reserved))
    if rate * TYPICAL_DURATION_S > reserved:
        warnings.append(_rate_warning(rate, reserved))
    return warnings


def _no_concurrency_warning(burst: int) -> CapacityWarning:
    return CapacityWarning(
        "no_concurrency",
        "reserved_concurrency 0 lets the function run no invocation at all: Lambda throttles every "
        "request and API Gateway answers it 500 (counted by the 5xx alarm). Raise reserved_concurrency "
        f"to >= {burst} (the throttle_burst) to serve traffic again.",
        ("reserved_concurrency",),
    )


def _fixes(lower: str, needed: int) -> str:
    """A capacity warning's ways out: `lower` the throttle, or raise the reserved concurrency to
    `needed` where its range goes that high."""
    fixes = [lower]
    if needed <= _INT_RANGES["reserved_concurrency"][1]:
        fixes.append(f"raise reserved_concurrency to >= {needed}")
    return " or ".join(fixes)


def _burst_warning(burst: int, reserved: int) -> CapacityWarning:
    fixes = _fixes(f"lower throttle_burst to <= {reserved}", burst)
    return CapacityWarning(
        "burst_over_concurrency",
        f"throttle_burst {burst} admits up to {burst} concurrent requests but reserved_concurrency is "
        f"{reserved}: Lambda throttles the requests beyond {reserved} and API Gateway answers them 500 "
        f"instead of 429, counted by the 5xx alarm. To have clients get 429 instead, {fixes}.",
        ("throttle_burst", "reserved_concurrency"),
    )


def _rate_warning(rate: int, reserved: int) -> CapacityWarning:
    typical_ms = round(TYPICAL_DURATION_S * 1000)
    needed = math.ceil(rate * TYPICAL_DURATION_S)
    bound = math.floor(reserved / TYPICAL_DURATION_S)
    fixes = _fixes(f"lower throttle_rate to <= {bound}", needed)
    return CapacityWarning(
        "rate_over_concurrency",
        f"throttle_rate {rate} requests a second of a typical {typical_ms} ms need {needed} concurrent "
        f"executions but reserved_concurrency is {reserved} (at most {bound} requests a second): at "
        f"that rate Lambda throttles the excess and API Gateway answers it 500 instead of 429. "
        f"{fixes.capitalize()}.",
        ("throttle_rate", "reserved_concurrency"),
    )


def build_spec(
    *,
    suffix: str,
    stage: str,
    region: str = "us-east-1",
    owner: str = "",
    cost_centre: str = "",
    alarm_emails: Iterable[str] = (),
    cors_origins: Iterable[str] = ("*",),
    kms_key_arn: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    artifact_sha256: str | None = None,
    handler: str | None = None,
    table_name: str | None = None,
) -> EnvironmentSpec:
    """Validate plain values and return the resolved spec, or raise SpecError listing every problem."""
    suffix = suffix if isinstance(suffix, str) else str(suffix)
    emails = tuple(alarm_emails)
    origins = tuple(cors_origins) or ("*",)
    problems = _identity_problems(suffix, stage, region, owner, cost_centre)
    problems.extend(_contact_problems(emails, origins))
    if kms_key_arn is not None and not KMS_ARN_RE.fullmatch(kms_key_arn):
        problems.append(Problem("kms_key_arn", kms_key_arn, "a KMS key or alias ARN, or empty"))
    problems.extend(_code_problems(artifact_sha256 or None, handler or None))
    if table_name and not Names(PROJECT, suffix, stage).is_own_table(table_name):
        allowed = f"{PROJECT}-{suffix}-items or {PROJECT}-{suffix}-items-r<14-digit UTC stamp>, or empty"
        problems.append(Problem("table_name", table_name, allowed))
    typed = _typed_overrides(overrides or {}, problems)
    settings = replace(PROFILES.get(stage, PROFILES["dev"]), **typed)
    problems.extend(_network_problems(settings, {p.field for p in problems}))
    problems.extend(_capacity_problems(settings))
    if problems:
        raise SpecError(problems)
    return EnvironmentSpec(
        suffix=suffix,
        stage=stage,
        region=region,
        settings=settings,
        owner=owner,
        cost_centre=cost_centre,
        alarm_emails=emails,
        cors_origins=origins,
        kms_key_arn=kms_key_arn or None,
        overrides=tuple(sorted(typed.items())),
        artifact_sha256=artifact_sha256 or None,
        handler=handler or None,
        table_name=table_name or None,
    )


def _identity_problems(suffix: str, stage: str, region: str, owner: str, cost_centre: str) -> list[Problem]:
    """The environment's name, stage, region, and the tag values it is labelled with."""
    problems: list[Problem] = []
    if not SUFFIX_RE.fullmatch(suffix):
        problems.append(Problem("suffix", suffix, SUFFIX_RULE))
    elif suffix.endswith("-") or "--" in suffix:
        problems.append(Problem("suffix", suffix, "no trailing or doubled hyphen; " + SUFFIX_RULE))
    if stage not in STAGES:
        problems.append(Problem("stage", stage, "one of " + ", ".join(STAGES)))
    if not isinstance(region, str) or not REGION_RE.fullmatch(region):
        problems.append(Problem("region", region, "an AWS region name such as us-east-1 or eu-west-2"))
    for name, value in (("owner", owner), ("cost_centre", cost_centre)):
        if not is_tag_value(value):
            problems.append(Problem(name, value, TAG_RULE))
    return problems


def _contact_problems(emails: tuple[str, ...], origins: tuple[str, ...]) -> list[Problem]:
    """Who hears of its alarms, and which browser origins may call its API."""
    problems: list[Problem] = []
    for email in emails:
        if not is_email(email):
            problems.append(Problem("alarm_emails", email, EMAIL_RULE))
    if len(set(emails)) != len(emails):
        problems.append(Problem("alarm_emails", list(emails), "each address once"))
    for origin in origins:
        if not isinstance(origin, str) or not ORIGIN_RE.fullmatch(origin):
            problems.append(Problem("cors_origins", origin, "* or origins such as https://app.example.com"))
    if "*" in origins and len(origins) > 1:
        problems.append(Problem("cors_origins", list(origins), "* alone, or a list of origins without *"))
    return problems


def _typed_overrides(overrides: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """The overrides as typed settings; each one unknown, unparsable or out of range is added to
    `problems` instead."""
    typed: dict[str, Any] = {}
    for key, raw in overrides.items():
        if key not in OVERRIDABLE:
            problems.append(Problem(key, raw, describe_allowed("")))
            continue
        try:
            value = parse_override(key, raw)
        except (ValueError, TypeError):
            problems.append(Problem(key, raw, describe_allowed(key)))
            continue
        if not _check_setting(key, value):
            problems.append(Problem(key, raw, describe_allowed(key)))
            continue
        typed[key] = value
    return typed


def _capacity_problems(settings: Settings) -> list[Problem]:
    """Provisioned capacity: each autoscaling maximum at least its starting capacity."""
    if settings.billing_mode != "PROVISIONED":
        return []
    problems: list[Problem] = []
    if settings.max_read_capacity < settings.read_capacity:
        problems.append(
            Problem(
                "max_read_capacity",
                settings.max_read_capacity,
                f"at least read_capacity ({settings.read_capacity})",
            )
        )
    if settings.max_write_capacity < settings.write_capacity:
        problems.append(
            Problem(
                "max_write_capacity",
                settings.max_write_capacity,
                f"at least write_capacity ({settings.write_capacity})",
            )
        )
    return problems


def _network_problems(settings: Settings, already: set[str]) -> list[Problem]:
    """R-NET-1: an adopted VPC is named whole (the VPC and its subnets) and only in vpc mode."""
    if already & {"network", "vpc_id", "subnet_ids"}:
        return []
    problems = []
    together = "vpc_id and subnet_ids together (an existing VPC and its subnets), or neither"
    if settings.vpc_id and not settings.subnet_ids:
        problems.append(Problem("subnet_ids", [], together))
    if settings.subnet_ids and not settings.vpc_id:
        problems.append(Problem("vpc_id", "", together))
    if settings.network != "vpc" and (settings.vpc_id or settings.subnet_ids):
        problems.append(
            Problem(
                "network",
                settings.network,
                "vpc when vpc_id or subnet_ids are set (they name the VPC to run in)",
            )
        )
    return problems


def _code_problems(artifact_sha256: object, handler: object) -> list[Problem]:
    """The artifact's address and handler: well formed, and a handler only with an artifact."""
    problems = []
    if artifact_sha256 is not None and not (
        isinstance(artifact_sha256, str) and SHA256_RE.fullmatch(artifact_sha256)
    ):
        problems.append(Problem("artifact_sha256", artifact_sha256, "64 lower-case hex digits, or empty"))
    if handler is not None and not (isinstance(handler, str) and HANDLER_RE.fullmatch(handler)):
        problems.append(Problem("handler", handler, HANDLER_RULE))
    elif handler is not None and artifact_sha256 is None:
        problems.append(Problem("handler", handler, "only with artifact_sha256 (lambda_bundle's is fixed)"))
    return problems


def spec_from_dict(data: Mapping[str, Any]) -> EnvironmentSpec:
    """Rebuild a spec from `EnvironmentSpec.to_dict()` (a stored snapshot), validating again."""
    return build_spec(
        suffix=data["suffix"],
        stage=data["stage"],
        region=data.get("region", "us-east-1"),
        owner=data.get("owner", ""),
        cost_centre=data.get("cost_centre", ""),
        alarm_emails=data.get("alarm_emails", ()),
        cors_origins=data.get("cors_origins", ("*",)),
        kms_key_arn=data.get("kms_key_arn"),
        overrides=data.get("overrides") or {},
        artifact_sha256=data.get("artifact_sha256"),
        handler=data.get("handler"),
        table_name=data.get("table_name"),
    )


__all__ = [
    "OVERRIDABLE",
    "PROFILES",
    "STAGES",
    "TYPICAL_DURATION_S",
    "CapacityWarning",
    "EnvironmentSpec",
    "Problem",
    "ProblemsError",
    "Settings",
    "SpecError",
    "build_spec",
    "capacity_warnings",
    "describe_allowed",
    "parse_override",
    "spec_from_dict",
    "throttle_for",
]
