"""Sending one message to one channel: e-mail, a Slack-compatible incoming webhook, or a generic
webhook signed with HMAC-SHA256.

A generic webhook's request carries (see docs/notifications.md for a receiver):
- `X-Envport-Timestamp`: the Unix time it was signed at;
- `X-Envport-Signature`: `sha256=` and the hex HMAC-SHA256, keyed with the channel's secret, of
  `<timestamp>.<body>` (the raw body bytes). Receivers recompute it, compare in constant time,
  and reject a timestamp more than five minutes away from their clock (a replay);
- `X-Envport-Event` and `X-Envport-Delivery` (the delivery's id: the same on every retry, so a
  receiver can drop a duplicate).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from .models import Delivery, NotificationChannel

SIGNATURE_HEADER = "X-Envport-Signature"
TIMESTAMP_HEADER = "X-Envport-Timestamp"
TOLERANCE_S = 300  # what receivers should accept; documented, not enforced here


@dataclass(frozen=True)
class Outcome:
    ok: bool
    response_code: int | None = None
    error: str = ""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None) -> bool:
    """What a receiver does (and the tests do): the signature matches, and the timestamp is fresh."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= TOLERANCE_S and hmac.compare_digest(sign(secret, timestamp, body), signature)


def text_of(payload: dict[str, Any]) -> str:
    run = payload.get("run") or {}
    link = f"\n{run['url']}" if run.get("url") else ""
    return f"envport: {payload.get('summary', payload.get('event'))}{link}"


def _post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.ENVPORT_NOTIFY_TIMEOUT_SECONDS) as response:
            code = response.status
    except urllib.error.HTTPError as exc:
        return Outcome(False, exc.code, f"HTTP {exc.code} {exc.reason}")
    except (urllib.error.URLError, OSError) as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
    if 200 <= code < 300:
        return Outcome(True, code)
    return Outcome(False, code, f"HTTP {code}")


def send(channel: NotificationChannel, delivery: Delivery) -> Outcome:
    payload = {**delivery.payload, "delivery": delivery.pk}
    if channel.kind == NotificationChannel.Kind.EMAIL:
        recipients = [a.strip() for a in channel.target.split(",") if a.strip()]
        try:
            send_mail(
                f"[envport] {payload.get('summary', delivery.event)}"[:200],
                text_of(payload),
                None,
                recipients,
            )
        except Exception as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {exc}")
        return Outcome(True)
    if channel.kind == NotificationChannel.Kind.SLACK:
        return _post(channel.target, json.dumps({"text": text_of(payload)}).encode(), {})
    body = json.dumps(payload, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(channel.secret, timestamp, body),
        "X-Envport-Event": delivery.event,
        "X-Envport-Delivery": str(delivery.pk),
    }
    return _post(channel.target, body, headers)
