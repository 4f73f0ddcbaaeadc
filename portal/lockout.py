"""Failed authentications are rate limited per client address: API tokens and console passwords.

Every failure (an unknown, revoked or malformed API token; a wrong console password) counts
against the address it came from, in the cache every web process shares (Redis in production,
settings.CACHES). Past ENVPORT_AUTH_FAILURES failures within ENVPORT_AUTH_FAILURE_WINDOW_SECONDS
of the first, the address is refused until that window ends, before anything is checked: the API
answers 429 with Retry-After, the console's login page says so. A refused attempt does not count
(the window ends when it said it would), and a correct one during the window is refused too, so
guessing gains nothing from it.

The address is the connection's (REMOTE_ADDR), never X-Forwarded-For, which a client writes: the
portal is served by gunicorn directly (docker-compose.yml). Behind a proxy, every client would
share the proxy's address; set the proxy to pass the client's as REMOTE_ADDR.
"""

from __future__ import annotations

import ipaddress
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

_PREFIX = "envport-authfail"


def client_address(request: Any) -> str:
    """The address failures count against: the connection's; an IPv6 one by its /64, the
    smallest network a host is given (RFC 6177), which it can otherwise walk through."""
    raw = str(request.META.get("REMOTE_ADDR") or "unknown")
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _keys(address: str) -> tuple[str, str]:
    return f"{_PREFIX}:count:{address}", f"{_PREFIX}:since:{address}"


def refused_for(address: str) -> int:
    """Seconds until `address` may try again (0: it may now)."""
    count_key, since_key = _keys(address)
    found = cache.get_many([count_key, since_key])
    if int(found.get(count_key) or 0) < settings.ENVPORT_AUTH_FAILURES:
        return 0
    since = float(found.get(since_key) or time.time())
    return max(1, math.ceil(since + settings.ENVPORT_AUTH_FAILURE_WINDOW_SECONDS - time.time()))


def record_failure(address: str) -> None:
    """One more failure from `address`; its window starts at its first failure."""
    count_key, since_key = _keys(address)
    window = settings.ENVPORT_AUTH_FAILURE_WINDOW_SECONDS
    cache.add(since_key, time.time(), window)
    if cache.add(count_key, 1, window):
        return
    try:
        cache.incr(count_key)
    except ValueError:  # expired between add and incr: a new window
        cache.set(count_key, 1, window)


def message(seconds: int) -> str:
    limit, window = settings.ENVPORT_AUTH_FAILURES, settings.ENVPORT_AUTH_FAILURE_WINDOW_SECONDS
    return (
        f"too many failed authentications from your address: at most {limit} in {window} seconds; "
        f"try again in {seconds} seconds"
    )
