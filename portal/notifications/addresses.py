"""Where a webhook may be sent: the URL's form (checked when a channel is saved and again before
each attempt) and the addresses its host resolves to (checked at send time, on the resolved
`ip_address` objects, so no textual form of an address can slip past).

A receiver must be on the public internet. Loopback, private, link-local (where cloud metadata
services answer), shared (carrier-grade NAT), multicast, reserved, unspecified and documentation
addresses are refused, in IPv4 and IPv6, including IPv4 addresses wrapped in IPv6 (mapped and
NAT64 forms). `ENVPORT_NOTIFY_ALLOWED_HOSTS` names the exceptions: host names, exactly as written
in a channel's URL, whose addresses are not checked (a receiver on your own network; the tests'
receiver on 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOWED = (
    "an http:// or https:// URL with a host name or a public IP address, an optional port 1-65535, "
    f"no user name or password, no spaces, at most {MAX_URL_LENGTH} characters"
)
_PRINTABLE = re.compile(r"[\x21-\x7e]*")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(ValueError):
    """A URL or an address a notification may not go to; the message says what is allowed."""


@dataclass(frozen=True)
class Target:
    """A checked URL, in the parts a request needs."""

    scheme: str
    host: str  # lower case, without brackets or a trailing dot: what is resolved and allowed
    port: int
    authority: str  # the Host header: the host (bracketed if IPv6) and a port that is not the default
    path: str  # the request target: path and query

    @property
    def literal(self) -> IPAddress | None:
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def _net(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr)


# Named ranges first, so the refusal says which one; anything else that is not global is refused
# after them. (Python's own lists changed between patch releases: these do not.)
BLOCKED = (
    (_net("0.0.0.0/8"), "an unspecified ('this network') address"),
    (_net("10.0.0.0/8"), "a private address"),
    (_net("100.64.0.0/10"), "a shared (carrier-grade NAT) address"),
    (_net("127.0.0.0/8"), "a loopback address"),
    (_net("169.254.0.0/16"), "a link-local address (where cloud metadata services answer)"),
    (_net("172.16.0.0/12"), "a private address"),
    (_net("192.0.0.0/24"), "an IETF protocol assignment"),
    (_net("192.0.2.0/24"), "a documentation address"),
    (_net("192.88.99.0/24"), "a 6to4 relay address"),
    (_net("192.168.0.0/16"), "a private address"),
    (_net("198.18.0.0/15"), "a benchmarking address"),
    (_net("198.51.100.0/24"), "a documentation address"),
    (_net("203.0.113.0/24"), "a documentation address"),
    (_net("224.0.0.0/4"), "a multicast address"),
    (_net("240.0.0.0/4"), "a reserved address"),
    (_net("::/128"), "the unspecified address"),
    (_net("::1/128"), "a loopback address"),
    (_net("::/96"), "an IPv4-compatible address (deprecated)"),
    (_net("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (_net("100::/64"), "a discard-only address"),
    (_net("2001::/23"), "an IETF protocol assignment (Teredo among them)"),
    (_net("2001:db8::/32"), "a documentation address"),
    (_net("2002::/16"), "a 6to4 address"),
    (_net("fc00::/7"), "a unique local (private) address"),
    (_net("fe80::/10"), "a link-local address"),
    (_net("fec0::/10"), "a site-local address"),
    (_net("ff00::/8"), "a multicast address"),
)
NAT64 = _net("64:ff9b::/96")


def refusal(ip: IPAddress) -> str | None:
    """Why a notification may not go to `ip` ("a loopback address"), or None for a public one.
    An IPv4 address inside IPv6 (::ffff:a.b.c.d, NAT64's 64:ff9b::a.b.c.d) is judged as itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            inner = refusal(ip.ipv4_mapped)
            return f"{inner} (as an IPv4-mapped IPv6 address)" if inner else None
        if ip in NAT64:
            inner = refusal(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
            return f"{inner} (as a NAT64 IPv6 address)" if inner else None
    for network, name in BLOCKED:
        if ip.version == network.version and ip in network:
            return name
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return "not a public address"
    return None


def allowed_hosts() -> frozenset[str]:
    """`ENVPORT_NOTIFY_ALLOWED_HOSTS`, normalised (a comma-separated string is accepted too)."""
    value: str | Iterable[str] = getattr(settings, "ENVPORT_NOTIFY_ALLOWED_HOSTS", ())
    names = value.split(",") if isinstance(value, str) else value
    return frozenset(n.strip().strip("[]").lower().rstrip(".") for n in names if n.strip())


def _host(raw: str, bracketed: bool) -> str:
    """The host, checked for form: an IPv6 literal in brackets, a dotted-decimal IPv4 address, or
    a DNS name. Other spellings of an IPv4 address (0x7f000001, 2130706433, 0177.0.0.1, 127.1)
    are refused: resolvers read them as addresses, people do not."""
    if bracketed:
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            raise Refused(f"[{raw}] is not an IPv6 address; allowed: {ALLOWED}") from None
        return raw
    host = raw.rstrip(".")
    if not host or len(host) > 253:
        raise Refused(f"the host must be 1 to 253 characters; allowed: {ALLOWED}")
    labels = host.split(".")
    if _NUMBER.fullmatch(labels[-1]):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise Refused(
                f"{raw!r} is an IPv4 address in an unusual form; write it as four decimal numbers "
                "a.b.c.d (and only a public one)"
            ) from None
        return host
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise Refused(
            f"{raw!r} is not a host name: labels of a-z, 0-9, - and _ (1-63 characters each), "
            "non-ASCII names in their xn-- form"
        )
    return host


def parse(url: str) -> Target:
    """`url`'s parts once its form is checked; raises Refused saying what is wrong and what is
    allowed. Addresses are not judged here (see `check_literal` and `check_resolved`)."""
    if not isinstance(url, str) or not url:
        raise Refused(f"a URL is required; allowed: {ALLOWED}")
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"the URL is {len(url)} characters; allowed: {ALLOWED}")
    if not _PRINTABLE.fullmatch(url):
        raise Refused(
            "the URL holds a space, a control character or a non-ASCII character "
            f"(percent-encode it in the path); allowed: {ALLOWED}"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"the URL cannot be read ({exc}); allowed: {ALLOWED}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise Refused(
            f"the scheme {parts.scheme + ':' if parts.scheme else '(none)'} is not allowed; {ALLOWED}"
        )
    if "@" in parts.netloc:
        raise Refused(f"the URL holds a user name or password; allowed: {ALLOWED}")
    raw_host = parts.hostname or ""
    if not raw_host:
        raise Refused(f"the URL has no host; allowed: {ALLOWED}")
    if port is not None and not 1 <= port <= 65535:
        raise Refused(f"port {port} is out of range; allowed: {ALLOWED}")
    authority = parts.netloc.lower()
    host = _host(raw_host, authority.startswith("["))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port or DEFAULT_PORTS[scheme], authority, path)


def check_literal(target: Target) -> None:
    """On save: a host written as an IP address must be a public one (names are judged at send
    time, on what they resolve to then)."""
    ip = target.literal
    if ip is None or target.host in allowed_hosts():
        return
    reason = refusal(ip)
    if reason:
        raise Refused(
            f"{ip} is {reason}; webhooks go to public addresses only "
            "(ENVPORT_NOTIFY_ALLOWED_HOSTS names hosts exempt from this)"
        )


def check_url(url: str) -> Target:
    """What a channel's URL must pass when it is saved."""
    target = parse(url)
    check_literal(target)
    return target


def check_resolved(target: Target, ips: list[IPAddress]) -> None:
    """At send time: every address the host resolved to must be public (one private address among
    public ones is enough to refuse: a client may pick any), unless the host is allowed by name."""
    if not ips:
        raise Refused(f"{target.host} resolved to no address")
    if target.host in allowed_hosts():
        return
    for ip in ips:
        reason = refusal(ip)
        if reason:
            what = (
                f"{ip} is {reason}"
                if target.literal is not None
                else f"{target.host} resolves to {ip}, {reason}"
            )
            raise Refused(
                f"{what}; webhooks go to public addresses only "
                "(ENVPORT_NOTIFY_ALLOWED_HOSTS names hosts exempt from this)"
            )


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to for a TCP connection, in the resolver's order, once: the
    sender connects to these very addresses, never resolving the name again."""
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP):
        ip = ipaddress.ip_address(sockaddr[0])
        if ip not in found:
            found.append(ip)
    return found
