"""One HTTP POST to a webhook receiver, under one deadline, to an address checked after resolution.

Why not urllib: it resolves the name itself (a second lookup could answer differently from the one
that was checked: DNS rebinding), follows redirects (taking the signature header along), applies
its timeout per socket operation (a receiver trickling a byte every few seconds holds it for
ever), and raises outside the attempt on a malformed answer. Here:

- the host is resolved once; every address is checked (`addresses.check_resolved`) and the
  connection goes to those addresses, with the original Host header and, for https, the original
  host name for SNI and certificate verification;
- resolving, connecting, the TLS handshake, sending and reading share one monotonic deadline:
  each operation's timeout is what remains of it;
- the answer's status line and headers are read up to HEAD_LIMIT bytes and its body never: the
  status is all a delivery needs;
- a 3xx is an answer like any other: not followed.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from . import addresses
from .addresses import IPAddress, Refused, Target

HEAD_LIMIT = 16 * 1024  # status line and headers of an answer, interim (1xx) ones included
USER_AGENT = "envport-notifications"
_STATUS = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: ([^\r\n]*))?")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class DeadlineExceeded(TimeoutError):
    """The attempt's deadline passed before a complete answer."""


class Malformed(ValueError):
    """The receiver's answer is not an HTTP/1.x status line and headers within HEAD_LIMIT."""


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    location: str = ""


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self, doing: str) -> float:
        """Seconds left; raises DeadlineExceeded (naming what was being done) when none are."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise self.exceeded(doing)
        return left

    def exceeded(self, doing: str) -> DeadlineExceeded:
        """What a socket operation's timeout means here: each is given all the time that remains."""
        return DeadlineExceeded(f"no complete answer within {self.seconds:g} s (while {doing})")


def printable(text: str, limit: int = 200) -> str:
    """A receiver's words, safe to record: printable ASCII, bounded."""
    return _UNPRINTABLE.sub("?", text)[:limit]


def _resolve(target: Target, deadline: _Deadline) -> list[IPAddress]:
    """`addresses.resolve` within the deadline (the system resolver has no timeout of its own): it
    runs in a daemon thread, abandoned if it outlasts the attempt."""
    box: list[list[IPAddress] | BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            box.append(addresses.resolve(target.host, target.port))
        except BaseException as exc:  # handed to the attempt, which records it
            box.append(exc)
        finally:
            done.set()

    doing = f"resolving {target.host}"
    threading.Thread(target=run, name="notify-resolve", daemon=True).start()
    if not done.wait(deadline.remaining(doing)):
        raise deadline.exceeded(doing)
    result = box[0]
    if isinstance(result, socket.gaierror):
        raise OSError(f"cannot resolve {target.host}: {result.strerror or result}") from result
    if isinstance(result, BaseException):
        raise result
    return result


def _connect(ips: list[IPAddress], port: int, deadline: _Deadline) -> socket.socket:
    """A connection to the first of the checked addresses that accepts one."""
    last: OSError | None = None
    for ip in ips:
        doing = f"connecting to {ip}"
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(deadline.remaining(doing))
            sock.connect((str(ip), port))
            return sock
        except DeadlineExceeded:
            sock.close()
            raise
        except TimeoutError as exc:
            sock.close()
            raise deadline.exceeded(doing) from exc
        except OSError as exc:
            sock.close()
            last = exc
    assert last is not None  # ips is never empty (check_resolved refuses that)
    raise last


def tls_context() -> ssl.SSLContext:
    """The system's trust store, certificate and host name verification on (the defaults)."""
    return ssl.create_default_context()


def _tls(sock: socket.socket, target: Target, deadline: _Deadline) -> ssl.SSLSocket:
    """TLS for the original host name (SNI and the certificate's name), over the pinned connection."""
    wrapped = tls_context().wrap_socket(sock, server_hostname=target.host, do_handshake_on_connect=False)
    wrapped.settimeout(deadline.remaining("starting TLS"))
    try:
        wrapped.do_handshake()  # one call, bounded as a whole by its timeout
    except TimeoutError as exc:
        wrapped.close()
        raise deadline.exceeded("starting TLS") from exc
    except BaseException:
        wrapped.close()  # it took the connection over (wrap_socket detaches `sock`)
        raise
    return wrapped


def _request(target: Target, body: bytes, headers: dict[str, str]) -> bytes:
    fields = {
        "Host": target.authority,
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
        **headers,
        "Content-Length": str(len(body)),
        "Connection": "close",
    }
    lines = [f"POST {target.path} HTTP/1.1"]
    for name, value in fields.items():
        if _UNPRINTABLE.search(name + value):
            raise ValueError(f"header {name!r} holds a character a header cannot")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def _read_head(sock: socket.socket, deadline: _Deadline) -> Answer:
    """The final answer's status and reason (and Location), read under the deadline and HEAD_LIMIT.
    Interim 1xx answers are skipped; the body is never read."""
    buffer = b""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > HEAD_LIMIT:
                raise Malformed(f"the answer's status line and headers exceed {HEAD_LIMIT} bytes")
            sock.settimeout(deadline.remaining("reading the answer"))
            try:
                chunk = sock.recv(4096)
            except TimeoutError as exc:
                raise deadline.exceeded("reading the answer") from exc
            if not chunk:
                raise Malformed(
                    "the receiver closed the connection before a complete answer "
                    f"({len(buffer)} bytes: {printable(repr(buffer[:60]), 80)})"
                )
            buffer += chunk
            continue
        if end > HEAD_LIMIT:
            raise Malformed(f"the answer's status line and headers exceed {HEAD_LIMIT} bytes")
        head, buffer = buffer[:end], buffer[end + 4 :]
        status_line, _, rest = head.partition(b"\r\n")
        match = _STATUS.fullmatch(status_line)
        if match is None:
            raise Malformed(f"not an HTTP/1.x status line: {printable(repr(status_line[:80]), 100)}")
        status = int(match[1])
        if status < 200:
            continue  # an interim answer (100 Continue, 103 Early Hints): the final one follows
        reason = printable((match[2] or b"").decode("latin-1").strip(), 100)
        location = ""
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"location":
                location = printable(value.decode("latin-1").strip())
        return Answer(status, reason, location)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
    """POST `body` to `url`, all of it within `timeout` seconds. Raises Refused (the URL or an
    address it resolves to may not be used), DeadlineExceeded, Malformed or OSError."""
    deadline = _Deadline(timeout)
    target = addresses.parse(url)
    ips = _resolve(target, deadline)
    addresses.check_resolved(target, ips)
    request = _request(target, body, headers)
    sock: socket.socket = _connect(ips, target.port, deadline)
    try:
        if target.scheme == "https":
            sock = _tls(sock, target, deadline)
        sock.settimeout(deadline.remaining("sending"))
        try:
            sock.sendall(request)  # a few KB: the socket buffer takes it in one write
        except TimeoutError as exc:
            raise deadline.exceeded("sending") from exc
        return _read_head(sock, deadline)
    finally:
        sock.close()


__all__ = ["Answer", "DeadlineExceeded", "Malformed", "Refused", "post"]
