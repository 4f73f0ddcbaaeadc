"""The one place boto3 clients are made: target, retries, assumed roles and call counting.

Every client of a run comes from one `AwsClients`, which holds one boto3 session (sessions are
not thread-safe to create clients from concurrently, so creation is locked; clients themselves
are thread-safe and shared by the engine's workers). A `CallRecorder` hooked on botocore's
events counts each API call by operation and splits reads from mutating calls: that is how
"a no-op run makes no mutating call" is proved rather than claimed.

Every request also passes the account-wide rate limiter (`quotas.RateLimiter`, R-FLEET-1) on
botocore's `before-send` event, so every attempt, retries included, takes its token; the wait is
recorded against the resource being worked on. In a sweep, `SharedReads` (`shared_reads.py`)
answers account-wide reads from one fetch shared by every environment of the account.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.loaders import Loader, create_loader
from botocore.parsers import DEFAULT_TIMESTAMP_PARSER, ResponseParserFactory

from .ratelimit import OPERATOR, RateLimiter, Wait

DEFAULT_EXECUTE_API_TEMPLATE = "https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"

# Operation names that only read. Everything else is counted as mutating, so an unknown
# operation can never hide a change.
_READ_PREFIXES = ("Get", "Describe", "List", "Head", "Query", "Scan", "BatchGet", "Lookup", "Search")


def is_read(operation: str) -> bool:
    return operation.startswith(_READ_PREFIXES)


_LOADERS: dict[str | None, Loader] = {}
_LOADERS_LOCK = threading.Lock()


def new_botocore_session() -> botocore.session.Session:
    """A new botocore session that reads AWS's service models through the process's one loader.

    Left alone, every session makes a loader of its own, which lists botocore's data directories
    and parses each service's model (megabytes of JSON) again: a run's first clients cost about
    2.5 s of CPU on every run a worker makes, though the models never change. The loader's cache
    only ever holds those read-only files (docs/performance.md, "The test suite").
    """
    core = botocore.session.get_session()
    path = core.get_config_variable("data_path")
    with _LOADERS_LOCK:
        loader = _LOADERS.get(path)
        if loader is None:
            loader = _LOADERS[path] = create_loader(path)
    core.register_component("data_loader", loader)
    return core


@dataclass(frozen=True)
class AwsTarget:
    """Where and as whom a run talks to AWS."""

    region: str = "us-east-1"
    endpoint_url: str | None = None  # the local cloud, LocalStack; None means real AWS
    role_arn: str | None = None
    external_id: str | None = None
    retry_mode: str = "adaptive"  # client-side rate limiting on throttles: behind the limiter
    max_attempts: int = 8
    session_duration_s: int = 3600  # DurationSeconds of the role's sessions (900..its MaxSessionDuration)
    execute_api_url_template: str = DEFAULT_EXECUTE_API_TEMPLATE

    def stage_url(self, api_id: str, stage: str) -> str:
        return self.execute_api_url_template.format(api_id=api_id, stage=stage, region=self.region)


@dataclass(frozen=True)
class CallCounts:
    """API calls of a run or a report. `CallCounts()` is none at all; `+` sums two of them.

    One typed value for every report (engine runs, verification, health) so that whoever stores
    or prints the calls reads attributes a type checker can verify, never a dict of magic keys.
    """

    total: int = 0
    mutating: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)

    @property
    def reads(self) -> int:
        return self.total - self.mutating

    def __add__(self, other: CallCounts) -> CallCounts:
        merged = Counter(self.by_operation)
        merged.update(other.by_operation)
        return CallCounts(
            total=self.total + other.total,
            mutating=self.mutating + other.mutating,
            by_operation=dict(sorted(merged.items())),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "mutating": self.mutating, "by_operation": dict(self.by_operation)}


class CallRecorder:
    """Counts API calls (not HTTP attempts: a retried call counts once) per `service.Operation`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._by_node: Counter[str] = Counter()
        self._waits: dict[str, list[Wait]] = {}
        self._local = threading.local()

    def __call__(self, model: Any = None, **_: Any) -> None:
        name = f"{model.service_model.service_name}.{model.name}"
        node = getattr(self._local, "node", None)
        with self._lock:
            self._counts[name] += 1
            if node is not None:
                self._by_node[node] += 1

    @contextmanager
    def attributing(self, node: str) -> Iterator[None]:
        """Count the calls this thread makes meanwhile against `node` (a resource key)."""
        previous = getattr(self._local, "node", None)
        self._local.node = node
        try:
            yield
        finally:
            self._local.node = previous

    @property
    def node(self) -> str | None:
        """The resource this thread's calls count against, if any."""
        return getattr(self._local, "node", None)

    def waited(self, wait: Wait) -> None:
        """A call of this thread waited for its quota token (R-FLEET-1): kept per resource."""
        with self._lock:
            self._waits.setdefault(self.node or "", []).append(wait)

    def waits_of(self, node: str) -> list[Wait]:
        with self._lock:
            return list(self._waits.get(node, ()))

    def calls_of(self, node: str) -> int:
        with self._lock:
            return self._by_node[node]

    def snapshot(self) -> CallCounts:
        with self._lock:
            counts = dict(self._counts)
        return _call_counts(dict(sorted(counts.items())))

    def since(self, before: CallCounts) -> CallCounts:
        now = self.snapshot()
        diff = {op: n - before.by_operation.get(op, 0) for op, n in now.by_operation.items()}
        return _call_counts({op: n for op, n in diff.items() if n})


def _call_counts(by_operation: dict[str, int]) -> CallCounts:
    """Totals of `service.Operation` -> count, splitting mutating calls from reads."""
    mutating = sum(n for op, n in by_operation.items() if not is_read(op.split(".", 1)[1]))
    return CallCounts(total=sum(by_operation.values()), mutating=mutating, by_operation=by_operation)


# A hook is (event name, handler, first): registered on every client this factory makes.
# Tests and the benchmark use it to inject latency or faults below the retry layer.
Hook = tuple[str, Callable[..., Any], bool]


class AwsClients:
    """Shared, lazily created boto3 clients for one target, all counted by one recorder."""

    def __init__(
        self,
        target: AwsTarget,
        recorder: CallRecorder | None = None,
        hooks: tuple[Hook, ...] = (),
        session: boto3.Session | None = None,
        *,
        limiter: RateLimiter | None = None,
        priority: str = OPERATOR,
        shared: Any = None,
        waiter: str = "",
    ) -> None:
        """`limiter`: the account-wide rate limiter every request passes (`priority`: an operator's
        run or a sweep); `shared`: a sweep's `shared_reads.SharedReads`, None for a single run;
        `waiter`: how the run is named among a bucket's waiting calls ("<waiter>/<resource>")."""
        self.target = target
        self.recorder = recorder or CallRecorder()
        self.limiter = limiter
        self.priority = priority
        self.shared = shared
        # The resources of modes the spec does not use (the engine sets them): in a sweep their
        # absence may be answered from a wide list the sweep holds (`shared_reads.ABSENCE`).
        self.unused_nodes: frozenset[str] = frozenset()
        self.waiter = waiter
        self._hooks = hooks
        self._lock = threading.Lock()
        self._account_lock = threading.RLock()
        self._clients: dict[str, Any] = {}
        self._session = session
        self._role_session: RoleSession | None = None
        self._account_id: str | None = None
        self._config = Config(
            region_name=target.region,
            retries={"mode": target.retry_mode, "max_attempts": target.max_attempts},
            max_pool_connections=32,
            connect_timeout=10,
            read_timeout=60,
        )

    def _base_session(self) -> boto3.Session:
        if self._session is None:
            base = boto3.Session(botocore_session=new_botocore_session(), region_name=self.target.region)
            if self.target.role_arn:
                base = self._assume(base)
            self._session = base
        return self._session

    def _assume(self, base: boto3.Session) -> boto3.Session:
        """Per-environment role (an account per environment is common): short-lived credentials,
        renewed ahead of their expiry for as long as the run lasts (`RoleSession`)."""
        sts = base.client("sts", endpoint_url=self.target.endpoint_url, config=self._config)
        self._role_session = RoleSession(sts, self.target)
        return self._role_session.boto3_session(self.target.region)

    def client(self, service: str) -> Any:
        with self._lock:
            existing = self._clients.get(service)
            if existing is not None:
                return existing
            client = self._base_session().client(
                service, endpoint_url=self.target.endpoint_url, config=self._config
            )
            if self.shared is not None:  # first: a shared answer is no call, counted or limited
                self.shared.install(client, self)
            client.meta.events.register("before-call.*.*", self.recorder)
            if self.limiter is not None:
                name = client.meta.service_model.service_name  # "logs", not its id "cloudwatch-logs"
                client.meta.events.register("before-send.*.*", functools.partial(self._limit, name))
            for event, handler, first in self._hooks:
                if first:
                    client.meta.events.register_first(event, handler)
                else:
                    client.meta.events.register(event, handler)
            self._clients[service] = client
            return client

    def credentials(self) -> Any:
        """The run's own frozen credentials: what SigV4-signs requests to an `iam`-mode API."""
        with self._lock:
            session = self._base_session()
        return session.get_credentials().get_frozen_credentials()

    @property
    def account_id(self) -> str:
        """Asked once per factory (the engine's threads ask together: one call, not one each)."""
        with self._account_lock:
            if self._account_id is None:
                known = self._known_account()
                self._account_id = known or self.client("sts").get_caller_identity()["Account"]
            return self._account_id

    def identity(self) -> dict[str, str | None]:
        """Which account and role the run works as, without a call of its own: the role's account
        (or the account the run asked for), the role ARN (None: the portal's own credentials) and
        the assumed-role session's ARN once one was made."""
        with self._account_lock:
            account = self._known_account() or self._account_id
        session = self._role_session
        return {
            "account": account,
            "role_arn": self.target.role_arn,
            "session_arn": session.session_arn if session is not None else None,
        }

    def _known_account(self) -> str | None:
        """The account of an assumed role's ARN, or a sweep's shared caller identity."""
        if self.target.role_arn and self.target.role_arn.count(":") >= 5:
            account = self.target.role_arn.split(":")[4]
            if account.isdigit():
                return account
        return None

    def _limit(self, service: str, event_name: str = "", **_: Any) -> None:
        """before-send: wait for the request's token(s) in the account-wide buckets (R-FLEET-1).

        STS is never limited here: the account the buckets are keyed by is asked of it."""
        assert self.limiter is not None
        operation = event_name.rsplit(".", 1)[-1]
        if service == "sts" or not self.limiter.limits(service):
            return None
        who = f"{self.waiter}/{self.recorder.node or ''}" if self.waiter else ""
        wait = self.limiter.acquire(self.account_id, self.region, service, operation, self.priority, who)
        if wait is not None:
            self.recorder.waited(wait)
        return None

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def partition(self) -> str:
        if self.target.region.startswith("cn-"):
            return "aws-cn"
        if self.target.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"


# Refresh a session when less than this share of its lifetime is left: botocore's own margins
# (15 and 10 minutes) are for 1-hour sessions and would renew a 15-minute one before every call.
ADVISORY_SHARE = 0.25  # refresh if a refresh is not already under way in another thread
MANDATORY_SHARE = 0.15  # every thread waits for the refresh
ADVISORY_MAX_S = 15 * 60  # botocore's defaults
MANDATORY_MAX_S = 10 * 60


class RoleSession:
    """The assumed role's credentials, renewed ahead of their expiry (R-FLEET-1's long runs: a
    release bake, a sweep, a fleet teardown outlive a session).

    botocore's `RefreshableCredentials` calls `refresh` whenever a request is signed within the
    margins of the expiry, so every client made from `boto3_session` signs with a live session.
    The margins are shares of the session's actual lifetime (its `Expiration` minus now when it was
    issued), capped at botocore's defaults: a 1-hour session refreshes 15 minutes ahead, a 15-minute
    one about 4 minutes ahead. The refresh's AssumeRole is not counted among the run's calls (nor was
    the first one): it is the credentials', not the engine's."""

    def __init__(self, sts: Any, target: AwsTarget) -> None:
        self._sts = sts
        self._kwargs: dict[str, Any] = {
            "RoleArn": target.role_arn,
            "RoleSessionName": "envport",
            "DurationSeconds": target.session_duration_s,
        }
        if target.external_id:
            self._kwargs["ExternalId"] = target.external_id
        self.session_arn: str | None = None
        self.refreshes = 0
        first = self.fetch()
        lifetime = max(1.0, (first["expiry_dt"] - _now()).total_seconds())
        self.credentials = RefreshableCredentials.create_from_metadata(
            metadata=first,
            refresh_using=self.refresh,
            method="assume-role",
            advisory_timeout=min(ADVISORY_MAX_S, lifetime * ADVISORY_SHARE),
            mandatory_timeout=min(MANDATORY_MAX_S, lifetime * MANDATORY_SHARE),
        )

    def fetch(self) -> dict[str, Any]:
        answer = self._sts.assume_role(**self._kwargs)
        creds = answer["Credentials"]
        self.session_arn = str(answer.get("AssumedRoleUser", {}).get("Arn") or "") or None
        expiry = creds["Expiration"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiry.isoformat(),
            "expiry_dt": expiry,
        }

    def refresh(self) -> dict[str, Any]:
        """botocore's refresher: a new session of the same role, external id and duration."""
        self.refreshes += 1
        return self.fetch()

    def boto3_session(self, region: str) -> boto3.Session:
        core = new_botocore_session()
        core._credentials = self.credentials  # botocore's documented hook for custom credentials
        return boto3.Session(botocore_session=core, region_name=region)


def _epoch_timestamp(value: Any) -> dt.datetime | float:
    """CloudWatch's answers carry timestamps as epoch seconds: keep them as such (a float; the
    traffic view reads epoch seconds), where botocore's default makes a datetime through
    dateutil's local zone, about 20 us each: a 30-day traffic view has thirteen thousand of them.
    A timestamp written as text is parsed as botocore does."""
    if isinstance(value, (int, float)):
        return float(value)
    parsed: dt.datetime = DEFAULT_TIMESTAMP_PARSER(value)
    return parsed


def epoch_timestamp_session(region: str) -> boto3.Session:
    """A boto3 session (the default credential chain, as AwsClients makes it) whose clients answer
    epoch timestamps as floats (`_epoch_timestamp`), not datetimes: for reads that return many
    datapoints and read them as epoch seconds (the traffic view, whose `_epoch` takes either).
    A target with a role assumes it on its own session instead."""
    core = new_botocore_session()
    factory = ResponseParserFactory()
    factory.set_parser_defaults(timestamp_parser=_epoch_timestamp)
    core.register_component("response_parser_factory", factory)
    return boto3.Session(botocore_session=core, region_name=region)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


_T = TypeVar("_T")


def unless_absent(call: Callable[[], _T], *codes: str) -> _T | None:
    """`call()`, or None when AWS answers with one of `codes`: what it reads is not there."""
    try:
        return call()
    except Exception as exc:
        if error_code(exc) in codes:
            return None
        raise


@contextmanager
def tolerating_absent(*codes: str) -> Iterator[None]:
    """Run the block, taking an AWS answer with one of `codes` as done: what it deletes or detaches
    is already gone."""
    try:
        yield
    except Exception as exc:
        if error_code(exc) not in codes:
            raise


def tag_map(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Tags from AWS's `[{"Key": ..., "Value": ...}]` shape as a plain mapping."""
    return {t["Key"]: t["Value"] for t in tags}


def paged_items(client: Any, operation: str, key: str, **params: Any) -> Iterator[Any]:
    """The items under `key` of every page of a paginated read, as the pages arrive."""
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(key, [])
