"""Deliveries run on their own Celery queue, `notifications`, consumed by a worker of its own
wherever envport's processes are started, so no receiver can delay a run (issue 17, item 5)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml
from django.conf import settings

from portal.celery import app
from portal.notifications.tasks import deliver

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("ENVPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
QUEUES = ("runs", "sweeps", "notifications")


def _queue_of(task_name: str) -> str:
    return str(app.amqp.router.route({}, task_name, args=(1,))["queue"].name)


def test_the_delivery_task_is_routed_to_its_own_queue():
    """probe: deliveries shared the `runs` queue, so an operator's plan waited behind a receiver
    that trickled its answer; the delivery task now goes to `notifications`, runs stay on `runs`."""
    assert {q.name for q in settings.CELERY_TASK_QUEUES} == set(QUEUES)
    assert _queue_of(deliver.name) == "notifications"
    assert _queue_of("portal.tasks.run_deployment_task") == "runs"
    assert _queue_of("portal.tasks.scheduled_drift_all") == "sweeps"


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """A Redis broker of this test run's own (ENVPORT_TEST_REDIS_URL), its queues emptied around."""
    client = redis.Redis.from_url(REDIS_URL)

    def empty() -> None:
        client.delete(*QUEUES, *client.scan_iter("_kombu.binding*"))

    empty()
    yield client
    empty()
    client.close()


def test_a_queued_delivery_waits_on_the_notifications_queue_of_a_real_broker(broker):
    """What `events._fan_out` queues lands in the broker's `notifications` list, and only there,
    with every queue declared as a worker serving them all declares it: a worker consuming only
    `runs` never picks a delivery up, nor a notifications worker a run."""
    with app.connection_for_write(REDIS_URL) as connection:
        for queue in app.amqp.queues.values():
            queue(connection.default_channel).declare()
        deliver.apply_async(args=[4242], connection=connection)
        app.send_task("portal.tasks.run_deployment_task", args=[1], connection=connection)
    assert [broker.llen(q) for q in QUEUES] == [1, 0, 1]


def _workers_queues(commands: list[list[str]]) -> list[set[str]]:
    found = []
    for command in commands:
        assert "-Q" in command, f"a worker without -Q serves every queue: {command}"
        found.append(set(command[command.index("-Q") + 1].split(",")))
    return found


def test_every_place_that_starts_workers_consumes_the_notifications_queue_apart():
    """docker-compose.yml and `make up` start a worker for runs and sweeps and one for notifications
    (every declared queue served, deliveries never on the runs worker); the worker tests' processes
    serve every declared queue."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    commands = [
        [str(part) for part in service["command"]]
        for service in compose.values()
        if isinstance(service.get("command"), list)
        and service["command"][:4] == ["celery", "-A", "portal", "worker"]
    ]
    up = [
        line.split()[2:]
        for line in (ROOT / "scripts" / "up.sh").read_text().splitlines()
        if re.match(r'start \w+ "\$BIN/celery" -A portal worker\b', line)
    ]
    for where, started in (("docker-compose.yml", commands), ("scripts/up.sh", up)):
        queues = _workers_queues(started)
        assert set().union(*queues) == set(QUEUES), where
        assert {"notifications"} in queues, f"{where}: no worker of its own for notifications"
        assert all("runs" not in q for q in queues if "notifications" in q), where
    assert "notifier" in (ROOT / "scripts" / "down.sh").read_text()

    from tests.worker.worker_procs import WORKER_QUEUES

    assert set(WORKER_QUEUES.split(",")) == set(QUEUES)
