"""Issue 8, section 6: when the API's throttle admits more concurrent requests than the function's
reserved concurrency can serve, Lambda throttles the rest and API Gateway answers them 500 (not
429), counted by the 5xx alarm. `provisioning.spec.capacity_warnings` finds it; this shows it where
an operator looks before and after a change: a plan (console and CLI), the environment page and
its save, and `env show`.

Probe: the dev profile admitted a burst of 100 against reserved concurrency 10, and nothing said so.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.models import Deployment

pytestmark = pytest.mark.django_db

TRIPS = {"throttle_rate": 50, "throttle_burst": 100}  # the old dev profile, against concurrency 10


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_no_stage_profile_trips_the_warning(cli, make_env, stage):
    make_env(f"{stage}1", stage)
    shown = cli("env", "show", f"{stage}1", "--json")
    assert shown.code == 0 and shown.json()["warnings"] == []


def test_env_show_states_the_numbers_and_the_fix(cli, make_env):
    make_env("dev1", "dev", overrides=TRIPS)
    (warning,) = cli("env", "show", "dev1", "--json").json()["warnings"]
    assert warning["code"] == "burst_over_concurrency"
    assert "throttle_burst 100" in warning["message"] and "reserved_concurrency is 10" in warning["message"]
    assert "lower throttle_burst to <= 10" in warning["message"]
    text = cli("env", "show", "dev1")
    assert text.code == 0 and "WARNING throttle_burst 100" in text.out


def test_cli_plan_carries_the_warning(cli, make_env, engine):
    make_env("dev1", "dev", overrides=TRIPS)
    planned = cli("provision", "dev1", "--plan", "--inline", "--json")
    assert planned.code == 0, planned.err
    doc = planned.json()
    assert doc["kind"] == "plan" and [w["code"] for w in doc["warnings"]] == ["burst_over_concurrency"]
    assert "WARNING throttle_burst 100" in cli("provision", "dev1", "--plan", "--inline").out


def test_console_plan_and_environment_page_show_it(login, make_env, engine, dispatched):
    env = make_env("dev1", "dev", overrides=TRIPS)
    client = login("operator")
    page = client.get(reverse("admin:portal_environment_change", args=[env.pk])).content.decode()
    assert "Capacity warning:" in page and "reserved_concurrency is 10" in page
    response = client.post(reverse("admin:portal_environment_plan", args=[env.pk]), follow=True)
    plan = Deployment.objects.filter(kind="plan").latest("pk")
    assert plan.status == "succeeded"
    assert "Capacity warning:" in response.content.decode()


def test_saving_the_admin_form_into_the_trap_warns(login, make_env):
    env = make_env("dev1", "dev")
    client = login("admin")
    url = reverse("admin:portal_environment_change", args=[env.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(overrides='{"throttle_rate": 50, "throttle_burst": 100}', alarm_emails="[]")
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("Capacity warning: throttle_burst 100") for m in messages), messages
