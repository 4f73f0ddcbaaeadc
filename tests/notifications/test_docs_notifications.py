"""docs/notifications.md followed as written (issue 23, item 1: documents that cannot go stale).

An admin makes a webhook channel and its rule in the console as the document says, a run fails,
and the delivery that reaches a receiver on 127.0.0.1 (allowed by name with the setting the
document gives) is checked with the document's own verification code, run as printed; the body
and headers it describes are compared with the ones that arrived."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.test import Client

from portal.models import Delivery, NotificationRule
from portal.notifications.models import EVENTS
from portal.services import runs as run_service
from portal.services.base import Actor

pytestmark = [pytest.mark.django_db]

DOC = (Path(django_settings.BASE_DIR) / "docs" / "notifications.md").read_text()
SECRET = "a-long-enough-signing-key"


def _block(lang: str) -> str:
    blocks: list[str] = re.findall(rf"^```{lang}\n(.*?)^```$", DOC, flags=re.M | re.S)
    return blocks[0]


def _same(doc: Any, now: Any, where: str) -> None:
    """Every field the document's example shows arrived; placeholders ("...") aside, its values too."""
    if isinstance(doc, dict):
        assert isinstance(now, dict), f"{where}: {now!r}"
        for key, value in doc.items():
            assert key in now, f"{where}: the document shows {key!r}, the delivery has no such field: {now}"
            _same(value, now[key], f"{where}.{key}")
    elif (isinstance(doc, str) and ("..." in doc or doc.startswith("http"))) or isinstance(doc, int):
        return  # a placeholder, an id or the deployment's address
    else:
        assert doc == now, f"{where}: {now!r} arrived, the document says {doc!r}"


def test_docs_notifications_md_runs_as_written(
    receiver: Any,
    make_env: Any,
    engine: Any,
    eager_celery: None,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    """Issue 23: docs/notifications.md's events, channel, rule, payload and verification snippet
    are the product's: the snippet accepts a real delivery and refuses a tampered one."""
    events = re.findall(r"^\| `([\w.]+)` \|", DOC, flags=re.M)
    assert set(events) == set(EVENTS), "the event table of docs/notifications.md is not the product's"
    # "The notification tests run their receiver on 127.0.0.1 this way (`ENVPORT_NOTIFY_...=...`)"
    allowed = re.search(r"127\.0\.0\.1 this way \(`ENVPORT_NOTIFY_ALLOWED_HOSTS=([\w.,-]+)`", DOC)
    assert allowed, "the document no longer says how its tests allow their receiver"
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = tuple(allowed.group(1).split(","))

    # "Admins configure Notification channels in the console ... and, on each channel, rules"
    admin = User.objects.create_user("chief", is_staff=True)
    admin.groups.add(Group.objects.get(name="admin"))
    console = Client()
    console.force_login(admin)
    saved = console.post(
        "/admin/portal/notificationchannel/add/",
        {
            "name": "ops hook",
            "kind": "webhook",
            "target": receiver.url,
            "secret": SECRET,
            "enabled": "on",
            "rules-TOTAL_FORMS": "1",
            "rules-INITIAL_FORMS": "0",
            "rules-0-events": ["run.failed"],
            "rules-0-stages": ["dev"],
            "rules-0-environments": "pr*",
            "rules-0-enabled": "on",
        },
    )
    assert saved.status_code == 302, re.findall(r"errorlist[^>]*>(.*?)</ul>", saved.content.decode(), re.S)
    assert NotificationRule.objects.get().environments == "pr*"

    # the document's example: a provision of pr4966 (dev) that failed
    env = make_env("pr4966", "dev", status="ready")
    engine.fail_resource = "table"
    dep = run_service.request_deployment(Actor.cli(), env, "provision")
    with django_capture_on_commit_callbacks(execute=True):
        run_service.run_deployment(dep.pk)
    assert [d.status for d in Delivery.objects.all()] == ["delivered"]
    (arrived,) = receiver.requests

    example = json.loads(_block("json"))
    _same(example, json.loads(arrived.body), "body")
    for header in set(re.findall(r"`(X-Envport-[\w-]+)`", DOC)):
        assert header in arrived.headers, f"the document names {header}; it did not arrive"

    code: dict[str, Any] = {}
    exec(_block("python"), code)  # the document's own snippet, as a receiver runs it
    verify = code["verify"]
    assert verify(SECRET.encode(), arrived.headers, arrived.body) is True
    assert verify(SECRET.encode(), arrived.headers, arrived.body + b" ") is False
    assert verify(b"another-secret-entirely", arrived.headers, arrived.body) is False
    stale = {**arrived.headers, "X-Envport-Timestamp": str(int(arrived.headers["X-Envport-Timestamp"]) - 301)}
    assert verify(SECRET.encode(), stale, arrived.body) is False
