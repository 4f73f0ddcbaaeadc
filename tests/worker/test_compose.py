"""docker-compose.yml, checked without a Docker engine: its services, their environment against what
portal/settings.py reads, the modules and commands they run, their ports against `make up`'s, and
their health checks. The environment it gives the portal is loaded by the real settings in a
subprocess, which must pass `manage.py check --deploy` but for the HTTPS redirect (compose serves
plain HTTP)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"postgres", "redis", "localcloud", "web", "worker", "notifier", "beat"}
PORTAL_SERVICES = ("web", "worker", "notifier", "beat")  # the ones that load portal/settings.py
# What production settings need from the environment (else they refuse to start, or the portal
# would reach the wrong database, broker or cloud).
REQUIRED = {
    "ENVPORT_ENV",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DATABASE_URL",
    "REDIS_URL",
    "ENVPORT_TARGET",
    "AWS_ENDPOINT_URL",
    "ENVPORT_EXECUTE_API_URL",
}
_VAR = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
# What an operator exports before `docker compose up`: the one variable compose insists on.
OPERATOR_ENV = {"DJANGO_SECRET_KEY": "Yq3v" + "Zt8#Lw1$Kp6^" * 5 + "-operator"}
# The variables compose must refuse to start without (${VAR:?message}), and nothing else.
OPERATOR_MUST_SUPPLY = {"DJANGO_SECRET_KEY"}


class MissingVariable(AssertionError):
    """`docker compose config` would stop here: ${VAR:?message} and VAR is unset or empty."""


def interpolate(value: Any, environ: Mapping[str, str] = OPERATOR_ENV) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?message} and $$ with ``environ`` as the shell's
    environment (no .env file): what `docker compose config` would produce."""
    if isinstance(value, dict):
        return {k: interpolate(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, environ) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op = match["name"], match["op"] or ""
        given = environ.get(name)
        usable = given is not None and (given != "" or not op.startswith(":"))
        if usable:
            return str(given)
        if op.endswith("?"):
            raise MissingVariable(f"{name}: {match['arg']}")
        return match["arg"] if op else ""

    return _VAR.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def strings(value: Any) -> list[str]:
    """Every string in a loaded YAML document (keys excluded)."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return [value] if isinstance(value, str) else []


def raw_compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return interpolate(raw_compose())


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if isinstance(command, str):
        return command.split()
    return [str(part) for part in command]


def words(service: dict[str, Any]) -> str:
    """The command as one line; for `sh -c SCRIPT`, the script."""
    command = command_of(service)
    if command[:2] == ["sh", "-c"]:
        return " ".join(" ".join(command[2:]).split())
    return " ".join(command)


def settings_reads() -> set[str]:
    source = (ROOT / "portal" / "settings.py").read_text()
    return set(re.findall(r"""(?:_env|_bool|_list|os\.environ\.get)\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))


def make_up_default(pattern: str) -> str:
    """A default of `make up` (the Makefile, or the script it runs)."""
    sources = [ROOT / "Makefile", *sorted((ROOT / "scripts").glob("*.sh"))]
    for path in sources:
        if path.exists():
            found = re.search(pattern, path.read_text())
            if found:
                return found.group(1)
    raise AssertionError(f"no default matching {pattern!r} in the Makefile or scripts/")


# --- structure --------------------------------------------------------------------------------------
def test_the_seven_services_from_one_image(compose):
    services = compose["services"]
    assert set(services) == SERVICES
    assert set(compose) <= {"services", "volumes", "networks", "configs", "secrets", "name"} | {
        k for k in compose if k.startswith("x-")
    }, "an unknown top-level key (`version` is obsolete)"
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    ours = [services[name] for name in ("localcloud", *PORTAL_SERVICES)]
    assert all(s.get("build") in (".", {"context": "."}) for s in ours)
    assert len({s.get("image") for s in ours}) == 1, "web, workers, beat and localcloud share one image"

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert "pip install -r requirements.txt" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var"} <= set(ignored)
    for volume in (v.split(":")[0] for s in services.values() for v in s.get("volumes", [])):
        assert volume in (compose.get("volumes") or {}), f"volume {volume} is not declared"


def test_portal_services_get_everything_production_settings_read(compose):
    reads = settings_reads()
    assert reads >= REQUIRED - {"AWS_ENDPOINT_URL"} | {"DATABASE_URL"}, "settings changed: update REQUIRED"
    for name in PORTAL_SERVICES:
        env = env_of(compose["services"][name])
        assert set(env) >= REQUIRED, f"{name} lacks {sorted(REQUIRED - set(env))}"
        unknown = {k for k in env if k not in reads}
        assert not unknown, f"{name} sets {sorted(unknown)}, which portal/settings.py never reads"
        assert env["ENVPORT_ENV"] == "production" and env["ENVPORT_TARGET"] == "local"
        assert env["DJANGO_SECURE_SSL_REDIRECT"] == "false"
        assert len(env["DJANGO_SECRET_KEY"]) >= 50
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379/")
        assert env.get("CELERY_BROKER_URL", env["REDIS_URL"]) == env["REDIS_URL"]
        assert env["AWS_ENDPOINT_URL"] == "http://localcloud:4566"
        assert env["ENVPORT_EXECUTE_API_URL"].startswith("http://localcloud:4566/")
        assert "{api_id}" in env["ENVPORT_EXECUTE_API_URL"] and "{stage}" in env["ENVPORT_EXECUTE_API_URL"]
    envs = [env_of(compose["services"][n]) for n in PORTAL_SERVICES]
    assert all(e == envs[0] for e in envs), "web, workers and beat must see the same settings"
    postgres = env_of(compose["services"]["postgres"])
    user, password, db = re.fullmatch(
        r"postgres://(\w+):(\w+)@postgres:5432/(\w+)", envs[0]["DATABASE_URL"]
    ).groups()
    assert (user, password, db) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )


@pytest.mark.heavy
def test_the_compose_environment_loads_and_passes_check_deploy_but_for_the_https_redirect(compose, tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "ENVPORT_", "DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "PYTEST"))
    }
    env.update(env_of(compose["services"]["web"]))
    env.update({"ENVPORT_VAR_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "portal.settings"})
    show = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "db = s.DATABASES['default']; print(json.dumps({'debug': s.DEBUG, 'engine': db['ENGINE'], "
        "'host': db['HOST'], 'broker': s.CELERY_BROKER_URL, 'endpoint': s.ENVPORT_AWS_ENDPOINT_URL, "
        "'execute': s.ENVPORT_EXECUTE_API_URL, 'hosts': s.ALLOWED_HOSTS, 'redirect': s.SECURE_SSL_REDIRECT}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", show], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == {
        "debug": False,
        "engine": "django.db.backends.postgresql",
        "host": "postgres",
        "broker": "redis://redis:6379/0",
        "endpoint": "http://localcloud:4566",
        "execute": "http://localcloud:4566/restapis/{api_id}/{stage}/_user_request_",
        "hosts": ["localhost", "127.0.0.1", "web"],
        "redirect": False,
    }
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    issues = set(re.findall(r"\(([\w.]+\.[EW]\d+)\)", check.stdout + check.stderr))
    assert issues == {"security.W008"}, check.stdout + check.stderr  # SECURE_SSL_REDIRECT, on purpose


# --- what the services run ------------------------------------------------------------------------
@pytest.mark.heavy
def test_the_commands_run_modules_that_exist(compose):
    from django.core.management import get_commands

    services = compose["services"]
    web = words(services["web"])
    assert re.search(r"\bgunicorn portal\.wsgi\b", web) and "--bind 0.0.0.0:8000" in web
    assert importlib.util.find_spec("portal.wsgi") is not None
    steps = [step.strip() for step in web.split("&&")]
    assert steps[0].startswith("python manage.py migrate") and "collectstatic --noinput" in steps[1]
    assert steps[-1].startswith("exec gunicorn"), "gunicorn must replace the shell (signals, exit code)"
    commands = get_commands()
    for used in re.findall(r"manage\.py (\w+)", web):
        assert used in commands, f"web runs manage.py {used}, which does not exist"

    from celery import Celery

    from portal.celery import app

    assert isinstance(app, Celery)
    assert command_of(services["worker"])[:4] == ["celery", "-A", "portal", "worker"]
    assert command_of(services["notifier"])[:4] == ["celery", "-A", "portal", "worker"]
    beat = command_of(services["beat"])
    assert beat[:4] == ["celery", "-A", "portal", "beat"]
    scheduler = beat[beat.index("--scheduler") + 1]
    module, _, name = scheduler.partition(":")
    assert scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert hasattr(importlib.import_module(module), name)

    from localcloud.__main__ import _parser

    local = command_of(services["localcloud"])
    assert local[:3] == ["python", "-m", "localcloud"]
    args = _parser().parse_args(local[3:])
    assert (args.host, args.port) == ("0.0.0.0", 4566)


def test_ports_match_make_up(compose):
    services = compose["services"]
    web_port = make_up_default(r"WEB_PORT\s*[:?]?[-=]\s*\$?\{?(?:WEB_PORT:-)?(\d+)")
    endpoint_port = make_up_default(r"AWS_ENDPOINT_URL:-http://[\w.]+:(\d+)")
    assert (web_port, endpoint_port) == ("8000", "4566")
    assert f"{web_port}:8000" in services["web"]["ports"]
    assert f"127.0.0.1:{endpoint_port}:4566" in services["localcloud"]["ports"]

    from localcloud.__main__ import _parser

    assert _parser().get_default("port") == 4566  # `python -m localcloud` alone is the same cloud
    env = env_of(services["worker"])
    assert env["AWS_ENDPOINT_URL"].endswith(":4566")


def test_the_operator_must_supply_the_secret_key():
    """probe: `docker compose up` ran ENVPORT_ENV=production with a public default DJANGO_SECRET_KEY."""
    raw = raw_compose()
    required = {
        m["name"] for text in strings(raw) for m in _VAR.finditer(text) if (m["op"] or "").endswith("?")
    }
    assert required == OPERATOR_MUST_SUPPLY
    for empty in ({}, {"DJANGO_SECRET_KEY": ""}):
        with pytest.raises(MissingVariable, match=r"DJANGO_SECRET_KEY: set DJANGO_SECRET_KEY to 50 or more"):
            interpolate(raw, empty)
    for name in PORTAL_SERVICES:
        assert (
            env_of(interpolate(raw)["services"][name])["DJANGO_SECRET_KEY"]
            == OPERATOR_ENV["DJANGO_SECRET_KEY"]
        )


def test_only_the_portal_is_published_beyond_this_machine(compose):
    """probe: the local cloud's port 4566 (any credentials accepted) was published on every interface."""
    for name, service in compose["services"].items():
        for port in service.get("ports", []) if name != "web" else []:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to the network"
    assert compose["services"]["localcloud"]["ports"] == ["127.0.0.1:4566:4566"]


@pytest.mark.heavy
def test_health_checks_gate_the_start_order(compose):
    services = compose["services"]
    for name in ("postgres", "redis", "localcloud", "web", "worker", "notifier"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for other, rule in depends.items():
            assert rule.get("condition") == "service_healthy", f"{name} -> {other}"
            assert services[other].get("healthcheck"), f"{name} waits for {other}, which has no health check"
    for name in ("worker", "notifier", "beat"):
        assert {"postgres", "redis", "web"} <= set(services[name]["depends_on"]), name  # web migrates first
    assert "localcloud" in services["worker"]["depends_on"]
    assert {"postgres", "redis"} <= set(services["web"]["depends_on"])
