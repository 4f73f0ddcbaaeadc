"""Sending one message to one channel: e-mail, a Slack-compatible incoming webhook, or a generic
webhook signed with HMAC-SHA256.

A generic webhook's request carries (see docs/notifications.md for a receiver):
- `X-Envport-Timestamp`: the Unix time it was signed at;
- `X-Envport-Signature`: `sha256=` and the hex HMAC-SHA256, keyed with the channel's secret, of
  `<timestamp>.<body>` (the raw body bytes). Receivers recompute it, compare in constant time,
  and reject a timestamp more than five minutes away from their clock (a replay);
- `X-Envport-Event` and `X-Envport-Delivery` (the delivery's id: the same on every retry, so a
  receiver can drop a duplicate).

Webhooks go out through `webhooks.post`: to public addresses only (checked after resolution, the
connection pinned to the checked address), no redirect followed, one deadline for the whole
attempt. Whatever goes wrong is an Outcome, never an exception: the attempt is always recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from . import webhooks
from .addresses import Refused
from .models import Delivery, NotificationChannel

SIGNATURE_HEADER = "X-Envport-Signature"
TIMESTAMP_HEADER = "X-Envport-Timestamp"
TOLERANCE_S = 300  # what receivers should accept; documented, not enforced here


@dataclass(frozen=True)
class Outcome:
    ok: bool
    response_code: int | None = None
    error: str = ""
    # Retrying cannot help (the URL or its address is refused): the delivery gives up at once.
    final: bool = False


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
    timeout = float(settings.ENVPORT_NOTIFY_TIMEOUT_SECONDS)
    try:
        answer = webhooks.post(url, body, headers, timeout=timeout)
    except Refused as exc:
        return Outcome(False, None, f"refused: {exc}", final=True)
    except webhooks.DeadlineExceeded as exc:
        return Outcome(False, None, f"timed out: {exc} (ENVPORT_NOTIFY_TIMEOUT_SECONDS)")
    except webhooks.Malformed as exc:
        return Outcome(False, None, f"malformed answer: {exc}")
    except Exception as exc:  # refused connections, TLS, resolution...: a failed attempt, on record
        return Outcome(False, None, f"{type(exc).__name__}: {exc}")
    code = answer.status
    if 200 <= code < 300:
        return Outcome(True, code)
    said = f"HTTP {code} {answer.reason}".strip()
    if 300 <= code < 400:
        to = f" (to {answer.location})" if answer.location else ""
        return Outcome(
            False, code, f"{said}: redirects are not followed{to}; set the channel to the final URL"
        )
    return Outcome(False, code, said)


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
