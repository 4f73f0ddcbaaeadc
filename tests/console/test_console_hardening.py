"""Issue 8, the console's part: a teardown backs up unless declined in so many words, and the web
layer no longer imports the CLI module. Each test names the probe case it reproduces."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from portal.models import Deployment

ROOT = Path(__file__).resolve().parents[2]


def _teardown_url(env: Any) -> str:
    return reverse("admin:portal_environment_teardown", args=[env.pk])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("form", "backup"),
    [
        ({}, True),  # the probe: no field at all
        ({"backup": ""}, True),
        ({"backup": "on"}, True),  # the old checkbox's value
        ({"backup": "yes"}, True),
        ({"backup": "no"}, False),  # the only way to decline
        ({"backup": " NO "}, False),
    ],
)
def test_teardown_post_backs_up_unless_declined_explicitly(
    form: dict[str, str], backup: bool, login: Any, make_env: Any, dispatched: list[Any]
) -> None:
    """probe: a teardown POST without the `backup` field (curl, a script, a page without the
    checkbox) meant "no backup"; now only `backup=no` declines, anything else backs up."""
    env = make_env("td1", "dev", status="ready")
    response = login("operator").post(_teardown_url(env), form)
    assert response.status_code == 302
    dep = Deployment.objects.get()
    assert (dep.kind, dep.options) == ("teardown", {"backup": backup}) and dispatched == [dep]


@pytest.mark.django_db
def test_teardown_page_offers_backup_and_an_explicitly_labelled_no_backup(login: Any, make_env: Any) -> None:
    """probe: the page's unticked checkbox sent no field at all, so "no backup" was the absence of an
    answer; now two labelled choices, the backup chosen by default, "no" sent as a value."""
    env = make_env("td1", "dev", status="ready")
    html = login("operator").get(_teardown_url(env)).content.decode()
    assert '<input type="radio" name="backup" value="yes" checked>' in html
    assert '<input type="radio" name="backup" value="no">' in html
    assert "No backup: its items are lost for good" in html
    assert 'type="checkbox" name="backup"' not in html


def _imports(path: Path) -> set[str]:
    """Every module a file imports, absolute or relative (resolved against the portal package)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_web_layer_does_not_import_the_cli() -> None:
    """probe: portal/console/views.py imported QUEUED_HINT_S and expected_steps from
    portal/management/cli.py; both now come from the neutral portal.progress."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imports(path) if m.startswith("portal.management"))
        for path in sorted((ROOT / "portal" / "console").glob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.heavy
def test_loading_the_console_views_leaves_the_cli_unloaded() -> None:
    """probe, at run time: importing the console's views loaded the CLI module (and through it
    Django's management machinery) into every web process."""
    code = (
        "import django, sys; django.setup(); import portal.console.views, portal.admin; "
        "print(sorted(m for m in sys.modules if m.startswith('portal.management')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
