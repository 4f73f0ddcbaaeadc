"""One account-wide rate limiter for every AWS call the engine makes (R-FLEET-1).

API Gateway's control-plane quotas are per account and region, fixed, and shared by every
environment and every worker process that calls the account. Instead of letting calls collide
and retry blindly, each call first takes a token from the buckets of its quota classes (its own
operation's, then the service's total), keyed by (account, region, quota class). A call waits for
its token instead of failing; botocore's adaptive retry stays behind it as the last line.

The buckets live in Redis when the portal has one (`RedisBuckets`: one Lua script, one round
trip, Redis's own clock, so every worker on every machine shares them), or in the process
(`LocalBuckets`, the embedded default).

Priority: an operator's run (`OPERATOR`) takes its token at once, going into debt if the bucket
is empty, and sleeps until its slot comes; the debt queues operators first come first served. A
scheduled sweep (`SWEEP`) takes a token only when the bucket holds more than a reserve and no
operator is owed one, so a person never waits behind a sweep of a thousand environments: at most
behind the calls a sweep already made.

Defaults follow "Amazon API Gateway quotas", API Gateway quotas for creating, deploying and
managing an API: https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
("Total operations: 10 requests per second with a burst quota of 40 requests"). The page gives
no burst for the per-operation quotas; a quota of one request per N seconds is a bucket of one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import awsquotas

log = logging.getLogger("provisioning.ratelimit")

OPERATOR = "operator"
SWEEP = "sweep"
PRIORITIES = (OPERATOR, SWEEP)

# AWS's published quotas, from the one table the local cloud enforces too (awsquotas/).
AWS_QUOTAS_PAGE = awsquotas.apigateway().source_url

# (requests, per seconds, burst) per quota class: "service.Operation", or "service.*" for every
# call of the service together. botocore's service names (`apigateway`, not `api-gateway`).
APIGATEWAY_QUOTAS: dict[str, tuple[float, float, float]] = {
    f"apigateway.{operation}": quota for operation, quota in awsquotas.apigateway().quotas.items()
}

_SERVICE_LABELS = {"apigateway": "API Gateway"}


@dataclass(frozen=True)
class Quota:
    """One quota class: `rate` tokens per second, at most `burst` in the bucket."""

    name: str
    rate: float
    burst: float

    @property
    def label(self) -> str:
        """What a person reads while a call waits: "API Gateway's quota (CreateRestApi)"."""
        service, _, operation = self.name.partition(".")
        what = _SERVICE_LABELS.get(service, service)
        return f"{what}'s quota ({'all calls' if operation == '*' else operation})"


def _quota(name: str, value: Any, time_scale: float) -> Quota:
    if isinstance(value, Quota):
        return Quota(name, value.rate * time_scale, value.burst)
    if not isinstance(value, (list, tuple)) or len(value) not in (2, 3):
        raise ValueError(f"quota {name}: [requests, per_seconds, burst] or [rate, burst], got {value!r}")
    numbers = [float(v) for v in value]
    if any(not math.isfinite(n) or n <= 0 for n in numbers):
        raise ValueError(f"quota {name}: every number must be positive, got {value!r}")
    if len(numbers) == 3:
        requests, per, burst = numbers
        rate = requests / per
    else:
        rate, burst = numbers
    if burst < 1:
        raise ValueError(f"quota {name}: a burst below 1 could never grant a call, got {burst}")
    return Quota(name, rate * time_scale, burst)


class QuotaTable:
    """Which buckets a call takes tokens from, per account: defaults plus each account's own.

    `config` is what the portal's settings hold (JSON): ``{"default": {"lambda.*": [15, 1, 30]},
    "accounts": {"123456789012": {"apigateway.*": [20, 1, 80]}}}`` on top of API Gateway's
    published quotas. `time_scale` makes every quota that many times faster (the local cloud's
    quota clock in tests and the benchmark must run at the same scale)."""

    def __init__(self, config: Mapping[str, Any] | None = None, time_scale: float = 1.0) -> None:
        if not math.isfinite(time_scale) or time_scale <= 0:
            raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
        config = dict(config or {})
        unknown = set(config) - {"default", "accounts"}
        if unknown:
            raise ValueError(f"quota config: unknown key(s) {sorted(unknown)}; allowed: default, accounts")
        rules: dict[str, Any] = {**APIGATEWAY_QUOTAS, **dict(config.get("default") or {})}
        self.time_scale = time_scale
        self._default = {name: _quota(name, v, time_scale) for name, v in rules.items()}
        self._accounts = {
            str(account): {name: _quota(name, v, time_scale) for name, v in dict(own).items()}
            for account, own in dict(config.get("accounts") or {}).items()
        }

    def quotas_for(self, account: str, service: str, operation: str) -> list[Quota]:
        """The operation's own class first (the scarcer), then the service's total."""
        own = self._accounts.get(account, {})
        found = []
        for name in (f"{service}.{operation}", f"{service}.*"):
            quota = own.get(name) or self._default.get(name)
            if quota is not None:
                found.append(quota)
        return found

    def limits(self, service: str) -> bool:
        """Whether any account has a quota class for `service` (calls of others skip the limiter)."""
        prefix = f"{service}."
        return any(n.startswith(prefix) for n in self._default) or any(
            n.startswith(prefix) for own in self._accounts.values() for n in own
        )


class Buckets(Protocol):
    def take(self, key: str, quota: Quota, priority: str, reserve: float) -> tuple[bool, float]:
        """(granted, seconds): granted now or after `seconds` (an operator's reserved slot), or
        refused with a hint of when to ask again (a sweep, while the bucket is below its reserve)."""
        ...

    def enter(self, key: str, token: str, priority: str, who: str = "") -> None:
        """A call starts waiting on bucket `key` (shown in `snapshot`, never affects a grant);
        `who` names it for the console (the run and its step), "" for nobody in particular."""
        ...

    def leave(self, key: str, token: str) -> None: ...

    def snapshot(self) -> list[BucketState]:
        """Every bucket's level now and its waiting calls; read-only (takes no token)."""
        ...


@dataclass(frozen=True)
class BucketState:
    """One bucket as an operator reads it: tokens left of its burst, its rate, who waits on it.

    `tokens` is the level refilled up to now (negative: operators' debt, that many calls already
    promised a slot); `oldest_wait_s` is how long the longest-waiting call has waited; `named` is
    (who, seconds waited) of the waiting calls that said who they are."""

    key: str
    tokens: float
    burst: float
    rate: float
    waiting: Mapping[str, int]
    oldest_wait_s: float | None
    named: tuple[tuple[str, float], ...] = ()

    @property
    def account(self) -> str:
        return self.key.split(":", 2)[0]

    @property
    def region(self) -> str:
        return self.key.split(":", 2)[1]

    @property
    def quota(self) -> Quota:
        return Quota(self.key.split(":", 2)[2], self.rate, self.burst)

    @property
    def waiting_total(self) -> int:
        return sum(self.waiting.values())


def _state(
    key: str,
    tokens: float,
    then: float,
    rate: float,
    burst: float,
    waiters: list[tuple[str, float, str]],
    now: float,
) -> BucketState:
    """A bucket's state refilled up to `now`, from what either store holds (same rule as a take);
    `waiters` are (priority, since, who)."""
    level = min(burst, tokens + max(0.0, now - then) * rate)
    waiting = {p: sum(1 for w, _, _ in waiters if w == p) for p in PRIORITIES}
    oldest = max((now - since for _, since, _ in waiters), default=None)
    named = tuple((who, max(0.0, now - since)) for _, since, who in waiters if who)
    return BucketState(key, level, burst, rate, waiting, None if oldest is None else max(0.0, oldest), named)


def _take(tokens: float, rate: float, priority: str, reserve: float) -> tuple[float, bool, float]:
    """The one rule both stores apply (the Lua script below is its transcription)."""
    if priority == OPERATOR:
        tokens -= 1
        return tokens, True, (-tokens / rate if tokens < 0 else 0.0)
    if tokens >= 1 + reserve:
        return tokens - 1, True, 0.0
    return tokens, False, (1 + reserve - tokens) / rate


class LocalBuckets:
    """Buckets in this process: the embedded default (one worker process, or tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}
        self._quotas: dict[str, Quota] = {}
        self._waiting: dict[str, dict[str, tuple[str, float, str]]] = {}

    def take(self, key: str, quota: Quota, priority: str, reserve: float) -> tuple[bool, float]:
        with self._lock:
            now = self._clock()
            tokens, then = self._state.get(key, (quota.burst, now))
            tokens = min(quota.burst, tokens + max(0.0, now - then) * quota.rate)
            tokens, granted, wait = _take(tokens, quota.rate, priority, reserve)
            self._state[key] = (tokens, now)
            self._quotas[key] = quota
            return granted, wait

    def enter(self, key: str, token: str, priority: str, who: str = "") -> None:
        with self._lock:
            self._waiting.setdefault(key, {})[token] = (priority, self._clock(), who)

    def leave(self, key: str, token: str) -> None:
        with self._lock:
            self._waiting.get(key, {}).pop(token, None)

    def snapshot(self) -> list[BucketState]:
        with self._lock:
            now = self._clock()
            return [
                _state(
                    key,
                    tokens,
                    then,
                    self._quotas[key].rate,
                    self._quotas[key].burst,
                    list(self._waiting.get(key, {}).values()),
                    now,
                )
                for key, (tokens, then) in sorted(self._state.items())
            ]

    def level(self, key: str) -> float | None:
        with self._lock:
            state = self._state.get(key)
            return None if state is None else state[0]


# KEYS[1]: the bucket. ARGV: rate, burst, operator (1/0), reserve. Redis's TIME is the clock, so
# machines' clocks do not matter; the script runs atomically, so no two callers take one token.
_TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local operator = ARGV[3] == '1'
local reserve = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(s[1])
local ts = tonumber(s[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local granted = 0
local wait = 0
if operator then
  tokens = tokens - 1
  granted = 1
  if tokens < 0 then wait = -tokens / rate end
elseif tokens >= 1 + reserve then
  tokens = tokens - 1
  granted = 1
else
  wait = (1 + reserve - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.6f', now),
  'rate', ARGV[1], 'burst', ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 60000)
redis.call('SADD', KEYS[2], ARGV[5])
return {granted, string.format('%.6f', wait)}
"""

# KEYS[1]: a bucket's waiting calls (member "priority:token:who", score: when it started, Redis's
# clock), KEYS[2]: the index of buckets. A waiter whose process died is forgotten after STALE_S.
_ENTER_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], string.format('%.6f', now), ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""

# Read-only, one round trip: Redis's clock, then per bucket of the index its hash and its fresh
# waiters. ARGV[1]: the key prefix, ARGV[2]: the waiting prefix, ARGV[3]: STALE_S.
_SNAPSHOT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {string.format('%.6f', now)}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local h = redis.call('HMGET', ARGV[1] .. key, 'tokens', 'ts', 'rate', 'burst')
  local w = redis.call('ZRANGEBYSCORE', ARGV[2] .. key, now - tonumber(ARGV[3]), '+inf', 'WITHSCORES')
  if h[1] or #w > 0 then
    table.insert(out, {key, h[1] or false, h[2] or false, h[3] or false, h[4] or false, w})
  end
end
return out
"""

STALE_S = 3600.0  # a wait longer than this is a crashed process's, not a call still waiting


class RedisBuckets:
    """Buckets in Redis, shared by every worker process on every machine."""

    def __init__(self, client: Any, prefix: str = "envport:quota:") -> None:
        self._redis = client
        self._prefix = prefix
        self._script = client.register_script(_TAKE_SCRIPT)
        self._enter = client.register_script(_ENTER_SCRIPT)
        self._snapshot = client.register_script(_SNAPSHOT_SCRIPT)
        self._index = prefix + "index"
        self._waiting_prefix = prefix + "waiting:"
        self._fallback = LocalBuckets()
        self._members: dict[str, str] = {}  # token -> its member in the waiting set, until it leaves
        self._warned = False

    @classmethod
    def from_url(cls, url: str, prefix: str = "envport:quota:") -> RedisBuckets:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), prefix)

    def take(self, key: str, quota: Quota, priority: str, reserve: float) -> tuple[bool, float]:
        """Redis unreachable: the process's own buckets (logged), not a failed AWS call; the
        shared pacing is lost for as long as that lasts, and adaptive retry covers the rest."""
        import redis

        try:
            granted, wait = self._script(
                keys=[self._prefix + key, self._index],
                args=[
                    repr(quota.rate),
                    repr(quota.burst),
                    "1" if priority == OPERATOR else "0",
                    repr(reserve),
                    key,
                ],
            )
        except redis.exceptions.ConnectionError as exc:
            if not self._warned:
                log.warning(
                    "quota buckets in Redis unreachable (%s): this process paces its calls alone", exc
                )
                self._warned = True
            return self._fallback.take(key, quota, priority, reserve)
        self._warned = False
        return bool(int(granted)), float(wait)

    def level(self, key: str) -> float | None:
        value = self._redis.hget(self._prefix + key, "tokens")
        return None if value is None else float(value)

    def enter(self, key: str, token: str, priority: str, who: str = "") -> None:
        """Shown to operators only: Redis unreachable, the wait goes unlisted (never fails a call)."""
        import redis

        self._members[token] = f"{priority}:{token}:{who}"
        try:
            self._enter(
                keys=[self._waiting_prefix + key, self._index], args=[self._members[token], STALE_S, key]
            )
        except redis.exceptions.ConnectionError:
            self._fallback.enter(key, token, priority, who)

    def leave(self, key: str, token: str) -> None:
        import redis

        member = self._members.pop(token, None)
        if member is not None:
            with contextlib.suppress(redis.exceptions.ConnectionError):
                self._redis.zrem(self._waiting_prefix + key, member)
        self._fallback.leave(key, token)

    def snapshot(self) -> list[BucketState]:
        """Every worker's buckets and waiting calls, in one round trip (a read-only script)."""
        reply = self._snapshot(keys=[self._index], args=[self._prefix, self._waiting_prefix, STALE_S])
        now = float(reply[0])
        states = []
        for raw_key, tokens, then, rate, burst, flat in reply[1:]:
            key = _text(raw_key)
            waiters = [_waiter(_text(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]
            if tokens is None or rate is None:  # only waiters left (the bucket expired meanwhile)
                states.append(_state(key, 0.0, now, 0.0, 0.0, waiters, now))
                continue
            states.append(_state(key, float(tokens), float(then), float(rate), float(burst), waiters, now))
        return sorted(states, key=lambda s: s.key)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _waiter(member: str, since: float) -> tuple[str, float, str]:
    """(priority, since, who) of a waiting set's member "priority:token:who"."""
    priority, _, rest = member.partition(":")
    return priority, since, rest.partition(":")[2]


@dataclass(frozen=True)
class Wait:
    """One call's wait for its token(s): how long, and for which quota."""

    seconds: float
    quota: Quota


class RateLimiter:
    """Takes a call's tokens from every bucket of its quota classes, waiting as long as needed.

    `reserve` is the share of a bucket's burst that sweeps leave for operators (at least nothing:
    a bucket of one is shared by arrival, with operators' debt still going first). `margin` and
    `jitter_s` leave part of each rate unused: two calls granted exactly one period apart can reach
    AWS closer together than that (network and scheduling jitter), and AWS would refuse the second."""

    def __init__(
        self,
        table: QuotaTable | None = None,
        buckets: Buckets | None = None,
        *,
        reserve: float = 0.25,
        margin: float = 0.05,
        jitter_s: float = 0.03,
        sleep: Callable[[float], None] = time.sleep,
        max_poll_s: float = 0.5,
    ) -> None:
        if not 0 <= reserve < 1:
            raise ValueError(f"reserve is a share of the burst, 0 <= reserve < 1; got {reserve!r}")
        if not 0 <= margin < 1:
            raise ValueError(f"margin is a share of the rate, 0 <= margin < 1; got {margin!r}")
        self.margin = margin
        self.jitter_s = jitter_s
        self.table = table or QuotaTable()
        self.buckets: Buckets = buckets or LocalBuckets()
        self.reserve = reserve
        self.sleep = sleep
        self.max_poll_s = max_poll_s

    @staticmethod
    def key(account: str, region: str, quota: Quota) -> str:
        return f"{account}:{region}:{quota.name}"

    def limits(self, service: str) -> bool:
        return self.table.limits(service)

    def snapshot(self) -> list[BucketState]:
        """What the console shows (R-FLEET-1): each bucket's use and waiting calls; takes nothing."""
        return self.buckets.snapshot()

    def acquire(
        self, account: str, region: str, service: str, operation: str, priority: str, who: str = ""
    ) -> Wait | None:
        """Block until the call may go; the longest wait, or None if it went at once. `who` names
        the caller among a bucket's waiting calls in `snapshot` (the console's live "waiting")."""
        if priority not in PRIORITIES:
            raise ValueError(f"priority {priority!r}: one of {', '.join(PRIORITIES)}")
        longest: Wait | None = None
        for published in self.table.quotas_for(account, service, operation):
            quota = self._careful(published)
            waited = self._take(self.key(account, region, quota), quota, priority, who)
            if waited > 0 and (longest is None or waited > longest.seconds):
                longest = Wait(waited, quota)
        return longest

    def _careful(self, published: Quota) -> Quota:
        """The rate the limiter grants at: `margin` below AWS's, and for a bucket of one (one call
        per period) `jitter_s` more per period, real seconds that a faster quota clock does not
        shorten."""
        period = 1 / (published.rate * (1 - self.margin))
        if published.burst <= 1:
            period += self.jitter_s
        return Quota(published.name, 1 / period, published.burst)

    def _take(self, key: str, quota: Quota, priority: str, who: str = "") -> float:
        reserve = self.reserve * quota.burst if quota.burst > 1 else 0.0
        started, token = time.monotonic(), ""
        try:
            while True:
                granted, wait = self.buckets.take(key, quota, priority, reserve)
                if granted and wait <= 0:
                    return time.monotonic() - started if token else 0.0
                if not token:  # listed among the bucket's waiting calls while it sleeps
                    token = uuid.uuid4().hex
                    self.buckets.enter(key, token, priority, who)
                if granted:
                    self.sleep(wait)
                    return time.monotonic() - started
                # A sweep asks again when its token should be there, a little spread so that many
                # sweeping workers do not ask all at once; an operator's debt may delay it further.
                self.sleep(min(wait, self.max_poll_s) * (1 + random.random() * 0.2))
        finally:
            if token:
                self.buckets.leave(key, token)
