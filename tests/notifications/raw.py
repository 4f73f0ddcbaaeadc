"""A webhook receiver on 127.0.0.1 that answers with scripted bytes (a redirect, a malformed answer,
an answer trickled one byte at a time), optionally over TLS, and records what reached it."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field


@dataclass
class RawReceiver:
    answer: bytes
    trickle_seconds: float = 0.0  # > 0: the answer is sent one byte at a time, this far apart
    tls: ssl.SSLContext | None = None
    requests: list[bytes] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)  # SNI, when over TLS
    handshake_errors: list[str] = field(default_factory=list)
    bytes_sent: int = 0
    closed_at: float | None = None  # when the client was gone (a send failed), monotonic

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        if self.tls is not None:
            self.tls.sni_callback = self._sni
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, host: str = "127.0.0.1", path: str = "/hooks/envport", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._server.close()

    def _sni(self, _sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        self.server_names.append(name)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                self.handshake_errors.append(str(exc))
                return
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + body)
            if not self.trickle_seconds:
                conn.sendall(self.answer)
                return
            for byte in self.answer:
                if self._stop.is_set():
                    return
                conn.sendall(bytes([byte]))
                self.bytes_sent += 1
                self._stop.wait(self.trickle_seconds)
        except OSError:
            self.closed_at = time.monotonic()

    def headers(self, index: int = 0) -> dict[str, str]:
        head = self.requests[index].split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
        return {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in head)}
