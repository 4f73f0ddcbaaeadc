"""The list route's ``limit`` parameter and its opaque ``next`` token (R-FN-9).

The token is url-safe base64 (padding stripped) of a small JSON object holding the position
of the last item returned: its ``id`` and ``createdAt``. Only that exact shape is accepted
back, so a client cannot steer the Query with an arbitrary ExclusiveStartKey, and a token
that does not decode is the client's error (400), never DynamoDB's (500).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping

from .errors import BadRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_TOKEN_LENGTH = 1024
TOKEN_FIELDS = ("id", "createdAt")

_DIGITS = re.compile(r"[0-9]{1,4}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(
            f"query parameter 'limit' must be an integer from 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"
        )
    return int(raw)


def encode_token(position: Mapping[str, str]) -> str:
    data = json.dumps({name: position[name] for name in TOKEN_FIELDS}, separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode_token(token: str | None) -> dict[str, str] | None:
    """An absent or empty token means the first page."""
    if not token:
        return None
    problem = BadRequest("query parameter 'next' must be a token returned by a previous list call")
    if len(token) > MAX_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
        raise problem
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8"))
    except (binascii.Error, ValueError) as exc:
        raise problem from exc
    if (
        not isinstance(data, dict)
        or set(data) != set(TOKEN_FIELDS)
        or not all(isinstance(value, str) and value for value in data.values())
    ):
        raise problem
    return data
