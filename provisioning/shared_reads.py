"""Account-wide reads fetched once per sweep and shared by every environment it checks (R-FLEET-2).

A drift or health check of one environment reads some answers that are the same for every
environment of the account and region: the REST APIs, usage plans and API keys, the API Gateway
account, the caller identity, and everything about the shared resources (the artifact bucket,
API Gateway's CloudWatch role). Others are per environment but come from lists that one wide
read answers for all of them: log groups by name prefix, alarms by name prefix, tagged resources
by tag, a topic's subscriptions, a queue's URL, a table's scalable targets, the EC2 tags that
tell a public-mode environment whether a vpc-mode past left a network behind.

`SharedReads` sits first on botocore's `before-call` of every client of a sweep's check: a read
it knows is answered from the sweep's store (no request, so neither counted nor limited), or
fetched once (the wide read is an ordinary, counted, rate-limited call) and kept for the other
environments, in Redis when the workers share one (`RedisReadStore`), in the process otherwise.
Answers live for `ttl_s` (default 300 s) and belong to one sweep, so a check never reads a list
older than that (the wide lists cost a page per 50 to 100 environments: read once per TTL, not
once per check; another process fetching the same list is waited for, not repeated), and a
single environment's drift (no `SharedReads`) reads everything as before.
A narrow read whose answer the wide one does not hold (a queue not in the list) goes to AWS.
API key values are never shared: a read that asks for them is not touched.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

# Reads whose answer is the same for every environment of an account and region.
ACCOUNT_WIDE = frozenset(
    {
        "apigateway.GetRestApis",
        "apigateway.GetUsagePlans",
        "apigateway.GetAccount",
        "sts.GetCallerIdentity",
        "cognito-idp.ListUserPools",
    }
)
_READ_PREFIXES = ("Get", "Describe", "List", "Head")
FETCH_WAIT_S = 20.0


class ReadStore(Protocol):
    def get(self, key: str) -> Any | None: ...

    def put(self, key: str, value: Any, ttl_s: float) -> None: ...

    def claim(self, key: str, ttl_s: float) -> bool:
        """Whether this caller fetches `key` (False: another process is fetching it now)."""
        ...


class LocalReadStore:
    """Answers in this process (the embedded default: one worker process runs every check)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] < self._clock():
                self._items.pop(key, None)
                return None
            return copy.deepcopy(found[1])

    def claim(self, key: str, ttl_s: float) -> bool:
        return True  # one process: its threads are serialised by SharedReads' own lock

    def put(self, key: str, value: Any, ttl_s: float) -> None:
        with self._lock:
            now = self._clock()
            self._items = {k: v for k, v in self._items.items() if v[0] >= now}
            self._items[key] = (now + ttl_s, copy.deepcopy(value))


def _encode(obj: Any) -> Any:
    if isinstance(obj, dt.datetime):
        return {"__dt__": obj.isoformat()}
    if isinstance(obj, bytes):
        return {"__b64__": base64.b64encode(obj).decode()}
    raise TypeError(f"not shareable: {type(obj).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "__dt__" in obj:
        return dt.datetime.fromisoformat(obj["__dt__"])
    if len(obj) == 1 and "__b64__" in obj:
        return base64.b64decode(obj["__b64__"])
    return obj


class RedisReadStore:
    """Answers in Redis (JSON, datetimes kept), shared by every worker of the sweep."""

    def __init__(self, client: Any, prefix: str = "envport:reads:") -> None:
        self._redis = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisReadStore:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5))

    def get(self, key: str) -> Any | None:
        raw = self._redis.get(self._prefix + key)
        return None if raw is None else json.loads(raw, object_hook=_decode)

    def claim(self, key: str, ttl_s: float) -> bool:
        return bool(self._redis.set(self._prefix + key + ":fetching", "1", nx=True, px=int(ttl_s * 1000)))

    def put(self, key: str, value: Any, ttl_s: float) -> None:
        raw = json.dumps(value, default=_encode)
        self._redis.set(self._prefix + key, raw, px=max(1, int(ttl_s * 1000)))


# --- wide reads: (the narrow call's parameters) -> the wide call, and how to answer from it ------
@dataclass(frozen=True)
class Widening:
    """How one narrow read is answered from a wide one, fetched with the client's paginator."""

    paginator: str
    items: str  # the list in each page, and in the narrow answer
    wide: Callable[[dict[str, Any]], dict[str, Any] | None]  # None: not this shape, send it
    keep: Callable[[dict[str, Any], dict[str, Any]], bool]
    answer: Callable[[dict[str, Any], list[Any]], dict[str, Any] | None] | None = None  # None: to AWS
    # Used only for the resources of modes the spec does not use, to learn that they are absent:
    # an item the list holds is read from AWS as before (`ABSENT`).
    unused_only: bool = False


def _only(params: dict[str, Any], allowed: Iterable[str]) -> bool:
    return not set(params) - set(allowed)


def _wide_when_only(
    allowed: tuple[str, ...], wide: dict[str, Any]
) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """A widening's `wide`: the wide call's parameters when the narrow call names only `allowed`."""
    return lambda p: {**wide} if _only(p, allowed) else None


def _tags_match(filters: list[dict[str, Any]], item: dict[str, Any]) -> bool:
    tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
    return all(f["Key"] in tags and (not f.get("Values") or tags[f["Key"]] in f["Values"]) for f in filters)


def _queue_url(params: dict[str, Any], urls: list[Any]) -> dict[str, Any] | None:
    found = [u for u in urls if str(u).rstrip("/").rsplit("/", 1)[-1] == params["QueueName"]]
    return {"QueueUrl": found[0]} if found else None


def _role(params: dict[str, Any], item: dict[str, Any]) -> bool:
    return bool(item.get("RoleName") == params["RoleName"])


def _role_policy_names(_params: dict[str, Any], roles: list[Any]) -> dict[str, Any] | None:
    if not roles:
        return None
    return {
        "PolicyNames": [p["PolicyName"] for p in roles[0].get("RolePolicyList", [])],
        "IsTruncated": False,
    }


def _role_policy(params: dict[str, Any], roles: list[Any]) -> dict[str, Any] | None:
    found = [p for r in roles for p in r.get("RolePolicyList", []) if p["PolicyName"] == params["PolicyName"]]
    if not found:
        return None
    return {
        "RoleName": params["RoleName"],
        "PolicyName": params["PolicyName"],
        "PolicyDocument": found[0]["PolicyDocument"],
    }


def _role_itself(_params: dict[str, Any], roles: list[Any]) -> dict[str, Any] | None:
    """GetRole from the role's details (its description and session duration are not in them:
    nothing the engine compares)."""
    if not roles:
        return None
    lists = ("RolePolicyList", "AttachedManagedPolicies", "InstanceProfileList")
    return {"Role": {k: v for k, v in roles[0].items() if k not in lists}}


def _attached(_params: dict[str, Any], roles: list[Any]) -> dict[str, Any] | None:
    if not roles:
        return None
    return {"AttachedPolicies": roles[0].get("AttachedManagedPolicies", []), "IsTruncated": False}


# EC2 DescribeTags filters and the field of a tag description each one tests.
_TAG_FILTER_FIELDS = {
    "resource-type": "ResourceType",
    "key": "Key",
    "value": "Value",
    "resource-id": "ResourceId",
}


def _tag_filters(params: dict[str, Any]) -> dict[str, list[str]] | None:
    """DescribeTags' filters by name, when every one is a filter the wide read can apply itself."""
    filters = params.get("Filters") or []
    named = {str(f.get("Name")): list(f.get("Values") or []) for f in filters}
    if not _only(params, ("Filters", "MaxResults")) or set(named) - set(_TAG_FILTER_FIELDS):
        return None
    return named


def _tags_wide(params: dict[str, Any]) -> dict[str, Any] | None:
    """The account's tags of the same resource types and keys, whatever their values or resources:
    every environment's check of a sweep filters the same answer (network.network_leftovers)."""
    named = _tag_filters(params)
    if named is None or "resource-type" not in named or "key" not in named:
        return None
    return {"Filters": [{"Name": n, "Values": sorted(named[n])} for n in ("resource-type", "key")]}


def _tag_kept(params: dict[str, Any], tag: dict[str, Any]) -> bool:
    named = _tag_filters(params) or {}
    return all(tag.get(_TAG_FILTER_FIELDS[name]) in values for name, values in named.items())


# IAM's one account-wide read of every role with its inline and attached policies.
_ROLES = {"Filter": ["Role"]}


def _from_roles(
    allowed: tuple[str, ...], answer: Callable[[dict[str, Any], list[Any]], dict[str, Any] | None]
) -> Widening:
    """A narrow IAM read about one role, answered from the account's role list."""
    return Widening(
        "get_account_authorization_details", "RoleDetailList", _wide_when_only(allowed, _ROLES), _role, answer
    )


WIDENINGS: dict[str, Widening] = {
    "iam.GetRole": _from_roles(("RoleName",), _role_itself),
    "iam.ListRolePolicies": _from_roles(("RoleName",), _role_policy_names),
    "iam.GetRolePolicy": _from_roles(("RoleName", "PolicyName"), _role_policy),
    "iam.ListAttachedRolePolicies": _from_roles(("RoleName",), _attached),
    "apigateway.GetApiKeys": Widening(
        "get_api_keys",
        "items",
        lambda p: (
            {"includeValues": False}
            if _only(p, ("nameQuery", "includeValues", "limit")) and not p.get("includeValues")
            else None
        ),
        lambda p, key: key.get("name", "").startswith(p.get("nameQuery", "")),
    ),
    "ec2.DescribeTags": Widening("describe_tags", "Tags", _tags_wide, _tag_kept),
    "logs.DescribeLogGroups": Widening(
        "describe_log_groups",
        "logGroups",
        _wide_when_only(("logGroupNamePrefix", "limit"), {}),
        lambda p, g: g["logGroupName"].startswith(p.get("logGroupNamePrefix", "")),
    ),
    "cloudwatch.DescribeAlarms": Widening(
        "describe_alarms",
        "MetricAlarms",
        lambda p: (
            {"AlarmTypes": ["MetricAlarm"]}
            if _only(p, ("AlarmNamePrefix", "AlarmTypes", "MaxRecords"))
            and p.get("AlarmTypes") == ["MetricAlarm"]
            else None
        ),
        lambda p, a: a["AlarmName"].startswith(p.get("AlarmNamePrefix", "")),
        lambda _p, items: {"MetricAlarms": items, "CompositeAlarms": []},
    ),
    "resourcegroupstaggingapi.GetResources": Widening(
        "get_resources",
        "ResourceTagMappingList",
        lambda p: (
            {"ResourceTypeFilters": p["ResourceTypeFilters"]}
            if _only(p, ("ResourceTypeFilters", "TagFilters")) and p.get("ResourceTypeFilters")
            else None
        ),
        lambda p, item: _tags_match(p.get("TagFilters", []), item),
    ),
    "sns.ListSubscriptionsByTopic": Widening(
        "list_subscriptions",
        "Subscriptions",
        _wide_when_only(("TopicArn",), {}),
        lambda p, s: s.get("TopicArn") == p["TopicArn"],
    ),
    "sqs.GetQueueUrl": Widening(
        "list_queues",
        "QueueUrls",
        _wide_when_only(("QueueName",), {"MaxResults": 1000}),
        lambda _p, _u: True,
        _queue_url,
    ),
    "application-autoscaling.DescribeScalableTargets": Widening(
        "describe_scalable_targets",
        "ScalableTargets",
        lambda p: (
            {"ServiceNamespace": p["ServiceNamespace"]}
            if _only(p, ("ServiceNamespace", "ResourceIds", "ScalableDimension")) and p.get("ResourceIds")
            else None
        ),
        lambda p, t: (
            t["ResourceId"] in p["ResourceIds"]
            and (not p.get("ScalableDimension") or t["ScalableDimension"] == p["ScalableDimension"])
        ),
    ),
}


def _function(params: dict[str, Any], item: dict[str, Any]) -> bool:
    return params["FunctionName"] in (item.get("FunctionName"), item.get("FunctionArn"))


def _secret(params: dict[str, Any], item: dict[str, Any]) -> bool:
    return params["SecretId"] in (item.get("Name"), item.get("ARN"))


def _to_aws(_params: dict[str, Any], _items: list[Any]) -> dict[str, Any] | None:
    return None


def _absence_from(
    paginator: str,
    items: str,
    allowed: tuple[str, ...],
    keep: Callable[[dict[str, Any], dict[str, Any]], bool],
) -> Widening:
    """An unused mode's resource looked for in an account-wide list: a hit is read from AWS."""
    return Widening(paginator, items, _wide_when_only(allowed, {}), keep, _to_aws, unused_only=True)


# The absence of an unused mode's resource (the authorizer's function, its permission on that
# function, its role, the signing secret) read from one account-wide list per sweep instead of a
# read per environment: a function the list does not hold has no policy either. The lists are as
# old as the sweep's other shared answers (at most `ttl_s`): a leftover made after the list was
# read is found by the next sweep, and by any single check, which reads it directly.
WIDENINGS_OF_ABSENCE: dict[str, Widening] = {
    "lambda.GetFunction": _absence_from(
        "list_functions", "Functions", ("FunctionName", "Qualifier"), _function
    ),
    "lambda.GetPolicy": _absence_from(
        "list_functions", "Functions", ("FunctionName", "Qualifier"), _function
    ),
    "secretsmanager.DescribeSecret": _absence_from("list_secrets", "SecretList", ("SecretId",), _secret),
}
WIDENINGS.update(WIDENINGS_OF_ABSENCE)

# What AWS answers for each read whose resource is absent: given, without a request, for an
# unused mode's resource that the sweep's wide list does not hold.
ABSENT: dict[str, tuple[int, str]] = {
    "iam.GetRole": (404, "NoSuchEntity"),
    "lambda.GetFunction": (404, "ResourceNotFoundException"),
    "lambda.GetPolicy": (404, "ResourceNotFoundException"),
    "secretsmanager.DescribeSecret": (400, "ResourceNotFoundException"),
}


def _absent(operation: str, sweep: str) -> tuple[AWSResponse, dict[str, Any]]:
    status, code = ABSENT[operation]
    message = f"not in the sweep's list ({operation})"
    meta = {"HTTPStatusCode": status, "SharedBySweep": sweep}
    return AWSResponse("", status, HTTPHeaders(), None), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": meta,
    }


def _requote_policies(parsed: Any, shape: Any) -> None:
    """botocore decodes IAM's URL-encoded policy documents after every call, a shared answer
    included (`handlers.json_decode_policies`): give it back the encoding it decodes."""
    if shape is None:
        return
    if shape.type_name == "structure" and isinstance(parsed, dict):
        for name, member in shape.members.items():
            if name not in parsed:
                continue
            if member.type_name == "string" and member.name == "policyDocumentType":
                if not isinstance(parsed[name], str):
                    parsed[name] = urllib.parse.quote(json.dumps(parsed[name]))
            else:
                _requote_policies(parsed[name], member)
    elif shape.type_name == "list" and isinstance(parsed, list):
        for item in parsed:
            _requote_policies(item, shape.member)


def _ok_response() -> AWSResponse:
    return AWSResponse("", 200, HTTPHeaders(), None)


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class SharedReads:
    """One sweep's shared answers for the clients of every check it runs (install per client).

    `nodes`: the resources whose every read is account-wide (the engine adds its shared ones)."""

    def __init__(self, sweep: str, store: ReadStore | None = None, *, ttl_s: float = 300.0) -> None:
        self.sweep = sweep
        self.store: ReadStore = store or LocalReadStore()
        self.ttl_s = ttl_s
        self.nodes: set[str] = set()
        self._local = threading.local()
        self._locks_lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def install(self, client: Any, clients: Any) -> None:
        service = client.meta.service_model.service_name
        events = client.meta.events
        events.register("before-parameter-build.*.*", _keep_params)
        events.register_first("before-call.*.*", lambda **kw: self._answer(client, clients, service, **kw))
        events.register("after-call.*.*", lambda **kw: self._kept(**kw))

    # before-call: an answer from the store, from a wide read, or None (the call goes to AWS)
    def _answer(
        self, client: Any, clients: Any, service: str, model: Any, params: Any, context: Any, **_: Any
    ) -> Any:
        if getattr(self._local, "fetching", False) or not model.name.startswith(_READ_PREFIXES):
            return None
        operation = f"{service}.{model.name}"
        # Who asks, where: the credentials' role (an environment's own account) and the region;
        # not the account id, which is itself one of the shared reads.
        target = clients.target
        scope = f"{self.sweep}:{_digest(target.role_arn, target.endpoint_url)}:{target.region}:{operation}"
        widening = WIDENINGS.get(operation)
        api_params = context.get("envport_api_params") if isinstance(context, dict) else None
        unused = clients.recorder.node in clients.unused_nodes
        if widening is not None and api_params is not None and (unused or not widening.unused_only):
            wide = widening.wide(api_params)
            if wide is not None:
                wide_scope = scope.rsplit(":", 1)[0] + f":{service}.{widening.paginator}"
                held, answer = self._from_wide(client, wide_scope, widening, wide, api_params)
                if not held and unused and operation in ABSENT:
                    return _absent(operation, self.sweep)
                return self._shared(service, model, answer)
        if operation in ACCOUNT_WIDE or clients.recorder.node in self.nodes:
            request = [params.get(k) for k in ("url", "url_path", "query_string", "body")]
            key = f"{scope}:{_digest(*request)}"
            # Several workers starting a sweep at once: one reads, the others wait for its answer.
            kept = self.store.get(key) or self._wait_for_other(key)
            if kept is not None:
                return self._shared(service, model, (_ok_response(), kept))
            context["envport_share_key"] = key
        return None

    @staticmethod
    def _shared(service: str, model: Any, answer: Any) -> Any:
        if answer is not None and service == "iam":
            _requote_policies(answer[1], model.output_shape)
        return answer

    def _from_wide(
        self, client: Any, scope: str, widening: Widening, wide: dict[str, Any], narrow: dict[str, Any]
    ) -> tuple[bool, Any]:
        """Whether the wide list holds the narrow read's items, and the answer (None: ask AWS)."""
        key = f"{scope}:wide:{_digest(wide)}"
        items = self.store.get(key)
        if items is None:
            with self._fetch_lock(key):  # the engine's threads of one check: one fetch, not one each
                items = self.store.get(key) or self._wait_for_other(key)
                if items is None:
                    items = self._fetch(client, widening, wide)
                    self.store.put(key, items, self.ttl_s)
        kept = [item for item in items if widening.keep(narrow, item)]
        answer: dict[str, Any] | None = (
            widening.answer(narrow, kept) if widening.answer else {widening.items: kept}
        )
        if answer is None:
            return bool(kept), None  # the wide list does not answer it: ask AWS
        answer["ResponseMetadata"] = {"HTTPStatusCode": 200, "SharedBySweep": self.sweep}
        return bool(kept), (_ok_response(), answer)

    def _wait_for_other(self, key: str) -> Any | None:
        """Another worker process fetching the same list right now: wait for its answer (up to
        `FETCH_WAIT_S`) rather than fetch every page again; None when this one should fetch."""
        if self.store.claim(key, FETCH_WAIT_S):
            return None
        deadline = time.monotonic() + FETCH_WAIT_S
        while time.monotonic() < deadline:
            time.sleep(0.1)
            items = self.store.get(key)
            if items is not None:
                return items
        return None

    def _fetch(self, client: Any, widening: Widening, wide: dict[str, Any]) -> list[Any]:
        self._local.fetching = True
        try:
            pages = client.get_paginator(widening.paginator).paginate(**wide)
            return [item for page in pages for item in page.get(widening.items, [])]
        finally:
            self._local.fetching = False

    def _fetch_lock(self, key: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())

    def _kept(self, http_response: Any, parsed: Any, context: Any, **_: Any) -> None:
        key = context.get("envport_share_key") if isinstance(context, dict) else None
        if key and getattr(http_response, "status_code", 500) < 300:
            context.pop("envport_share_key", None)
            self.store.put(key, parsed, self.ttl_s)


def _keep_params(params: Any, context: Any, **_: Any) -> None:
    """before-parameter-build: the call's own parameters, for `SharedReads` to read on before-call."""
    if isinstance(context, dict) and isinstance(params, dict):
        context["envport_api_params"] = copy.deepcopy(params)
