"""The HTTP request handler of the local cloud's server: the answers it writes itself are JSON.

The server is werkzeug's (with moto's handler subclass). Some requests never reach a WSGI app, and
``http.server`` answers them itself, with an HTML page or, worse, not at all:

- a request line it cannot parse (a raw space in the path, binary garbage, a blank line): it called
  ``send_error(400)``, whose ``log_request`` read ``self.path``, which is not set for such a line; the
  ``AttributeError`` closed the connection with no answer and printed a traceback. A blank line was
  not even answered: ``parse_request`` just returns False for it.
- a request line over 64 KiB (414), an HTTP version other than 1.x (505), a header line over 64 KiB or
  more than 100 header fields (431): an HTML page.

This handler answers all of them with ``{"message": ...}`` saying what is allowed, logs one line, and
logs a client that goes away (``connection_dropped``) as one line too, never with a traceback.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from http import HTTPStatus
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler

logger = logging.getLogger("localcloud.http")

# What each error that http.server raises on its own allows. Its limits are fixed in the standard
# library: a request line of at most 65536 bytes (handle_one_request), header lines of at most
# 65536 bytes and at most 100 header fields (http.client.parse_headers).
ALLOWED: dict[int, str] = {
    400: (
        "a request line is METHOD SP request-target SP HTTP/1.1, with spaces and control characters "
        "in the request-target percent-encoded (a space is %20)"
    ),
    414: "a request line may be at most 65536 bytes",
    431: "a header line may be at most 65536 bytes and a request may have at most 100 header fields",
    505: "HTTP/1.0 and HTTP/1.1 are served",
}

# Lingering close: after an error answered before the request was read, read and drop what the
# client still sends for a moment, so that the close sends a FIN rather than a RST (which can make
# the client lose the answer before it reads it).
LINGER_IDLE_S = 0.2
LINGER_TOTAL_S = 2.0
LINGER_MAX_BYTES = 16 * 1024 * 1024

# A WSGI app that has already logged a dropped client sets this in the environ, so that the write
# that then fails does not log the same disconnect a second time.
DISCONNECT_LOGGED = "localcloud.disconnect_logged"

# The request's header fields as the client sent them: names in their own casing, repeated fields
# apart, in order. The WSGI environ upper-cases names and joins repeated fields with commas, which
# loses what API Gateway passes to a function (``headers`` / ``multiValueHeaders``).
RAW_HEADERS = "localcloud.raw_headers"

_LOG_TEXT_MAX = 200


class LocalCloudRequestHandler(MotoRequestHandler):
    """moto's request handler (werkzeug's, keeping underscored header names) with JSON error answers
    and one-line logging."""

    def make_environ(self) -> dict[str, Any]:
        """moto's environ, plus the header fields as sent (``RAW_HEADERS``)."""
        environ = super().make_environ()
        environ[RAW_HEADERS] = [(name, value.replace("\r\n", "")) for name, value in self.headers.items()]
        return environ

    def parse_request(self) -> bool:
        """http.server returns False for a blank request line without answering; answer it."""
        if self.raw_requestline and not self.raw_requestline.strip():
            self.command = ""
            self.request_version = self.default_request_version
            self.requestline = ""
            self.close_connection = True
            self.send_error(HTTPStatus.BAD_REQUEST, "Empty request line")
            return False
        return bool(super().parse_request())

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer an error that http.server found before any app ran: JSON, logged in one line."""
        status = HTTPStatus(code)
        logger.info(
            "%s: answered %s, %s", self._peer(), code, _clip(self._what_failed(message or status.phrase))
        )
        detail = ALLOWED.get(code)
        text = f"{status.phrase}: {detail}" if detail else (message or status.phrase)
        self.close_connection = True
        self._write_json(status, {"message": text})
        self._linger()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One debug line per request; never reads ``self.path``, which a bad request line leaves unset."""
        logger.debug("%s %r -> %s", self._peer(), _clip(self._requestline()), code)

    def log_error(self, format: str, *args: Any) -> None:
        """http.server's own error lines (a timed-out read, for one) into our logger, one line each."""
        logger.info("%s: %s", self._peer(), _clip(format % args if args else format))

    def connection_dropped(self, error: BaseException, environ: dict[str, Any] | None = None) -> None:
        """A client that goes away is routine for a server: one line, no traceback."""
        if environ is not None and environ.get(DISCONNECT_LOGGED):
            logger.debug("%s went away (already logged): %r", self._peer(), error)
            return
        logger.info("%s went away during %r: %s", self._peer(), _clip(self._requestline()), _describe(error))

    # -- helpers --------------------------------------------------------------------------------
    def _write_json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        # A request line that could not be parsed leaves request_version at HTTP/0.9, for which
        # http.server writes neither a status line nor headers; the client still gets a full answer.
        self.request_version = "HTTP/1.1"
        self.send_response_only(status, status.phrase)
        self.send_header("Server", self.version_string())
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _linger(self) -> None:
        """Read and drop what the client still sends (bounded in time and bytes) after our answer."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_IDLE_S)
            deadline = time.monotonic() + LINGER_TOTAL_S
            drained = 0
            while drained < LINGER_MAX_BYTES and time.monotonic() < deadline:
                chunk = self.connection.recv(65536)
                if not chunk:
                    return
                drained += len(chunk)
        except OSError:  # timed out, or the client is gone: either way we are done
            return

    def _what_failed(self, message: str) -> str:
        """http.server's message, with the request line when the message does not quote it."""
        line = self._requestline()
        quoted = not line or line in message or repr(line) in message
        return message if quoted else f"{message} in {line!r}"

    def _requestline(self) -> str:
        return str(getattr(self, "requestline", "") or "")

    def _peer(self) -> str:
        address = getattr(self, "client_address", None)
        if isinstance(address, tuple) and len(address) >= 2:
            return f"{address[0]}:{address[1]}"
        return str(address or "<local>")


def _clip(text: str) -> str:
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= _LOG_TEXT_MAX else text[:_LOG_TEXT_MAX] + "..."


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
