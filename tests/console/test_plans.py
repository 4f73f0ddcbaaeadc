"""Plan first: a plan changes nothing, shows each resource's action and field diffs, and "apply
exactly this plan" provisions only if a fresh plan still has the same fingerprint."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.console import plans
from portal.models import AuditEvent, Deployment, Step

pytestmark = pytest.mark.django_db


def _plan(client, env):
    response = client.post(reverse("admin:portal_environment_plan", args=[env.pk]), follow=True)
    assert response.status_code == 200
    return Deployment.objects.filter(kind="plan").latest("pk"), response


def _apply(client, plan):
    return client.post(reverse("admin:portal_deployment_apply", args=[plan.pk]), follow=True)


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def test_plan_shows_actions_and_diffs_and_changes_nothing(login, make_env, engine, dispatched):
    engine.diffs = {"function": [("MemorySize", 512, 256)]}
    env = make_env("plan1", "dev")
    plan, response = _plan(login("operator"), env)
    assert plan.status == "succeeded" and dispatched == []
    assert [c for c in engine.calls if c[0] != "plan"] == []  # read-only: the engine's plan only
    page = response.content.decode()
    assert "would <strong>create 0</strong>, <strong>update 1</strong> and leave <strong>3</strong>" in page
    assert "MemorySize" in page and "256" in page and "512" in page
    assert "Apply exactly this plan" in page
    assert any("1 to update, 3 unchanged" in m for m in _messages(response))


def test_plan_rows_carry_the_resources_aws_names(login, make_env, engine, dispatched):
    """Issue 18: the plan names each resource as AWS knows it, from the engine's inventory."""
    env = make_env("plan1", "dev")
    _, response = _plan(login("operator"), env)
    rows = response.context["plan"]["rows"]
    names = {row.resource: row.aws_name for row in rows}
    assert names["function"] == "envport-plan1-api" and names["table"] == "envport-plan1-items"
    assert all(names.values())
    assert '<code class="ep-muted">envport-plan1-api</code>' in response.content.decode()


def test_apply_exactly_this_plan_provisions_with_its_fingerprint(login, make_env, engine, dispatched):
    env = make_env("plan2", "dev")
    client = login("operator")
    plan, _ = _plan(client, env)
    response = _apply(client, plan)
    provision = Deployment.objects.get(kind="provision")
    fingerprint = plans.fingerprint(plan.spec_snapshot, plan.steps.all())
    assert provision.options["plan"] == plan.pk and provision.options["plan_fingerprint"] == fingerprint
    assert dispatched == [provision]
    recheck = Deployment.objects.get(pk=provision.options["rechecked_by"])
    assert recheck.kind == "plan" and recheck.options == {"recheck_of": plan.pk}
    assert response.redirect_chain[-1][0] == reverse("admin:portal_deployment_change", args=[provision.pk])
    assert any(f"Applying plan #{plan.pk}" in m for m in _messages(response))
    assert AuditEvent.objects.filter(
        action="deployment.requested.provision", who__username="operator"
    ).exists()


def test_apply_refuses_when_the_definition_changed_since_the_plan(login, make_env, engine, dispatched):
    from portal.services import environments
    from portal.services.base import Actor

    env = make_env("plan3", "dev")
    client = login("operator")
    plan, _ = _plan(client, env)
    environments.update_environment(Actor.cli(), env, overrides={"memory_mb": 1024})
    response = _apply(client, plan)
    assert not Deployment.objects.filter(kind="provision").exists() and dispatched == []
    fresh = Deployment.objects.filter(kind="plan").latest("pk")
    assert fresh.pk != plan.pk
    assert response.redirect_chain[-1][0] == reverse("admin:portal_deployment_change", args=[fresh.pk])
    assert any("Nothing was applied" in m and f"fresh plan #{fresh.pk}" in m for m in _messages(response))


def test_apply_refuses_when_the_live_resources_changed_since_the_plan(login, make_env, engine, dispatched):
    env = make_env("plan4", "dev")
    client = login("operator")
    plan, _ = _plan(client, env)
    engine.diffs = {"table": [("BillingMode", "PAY_PER_REQUEST", "PROVISIONED")]}  # someone changed it
    _apply(client, plan)
    assert not Deployment.objects.filter(kind="provision").exists() and dispatched == []


def test_only_a_successful_plan_can_be_applied(login, make_env, engine, dispatched):
    engine.fail_resource = "table"
    env = make_env("plan5", "dev")
    client = login("operator")
    plan, response = _plan(client, env)
    assert plan.status == "failed" and "Apply exactly this plan" not in response.content.decode()
    response = _apply(client, plan)
    assert any("not a successful plan" in m for m in _messages(response))
    assert not Deployment.objects.filter(kind="provision").exists()


def test_a_plan_is_refused_while_another_run_holds_the_environment(login, make_env, engine, dispatched):
    env = make_env("plan6", "dev")
    client = login("operator")
    client.post(reverse("admin:portal_environment_run", args=[env.pk, "provision"]))
    response = client.post(reverse("admin:portal_environment_plan", args=[env.pk]), follow=True)
    assert any("already has deployment" in m for m in _messages(response))
    assert Deployment.objects.filter(kind="plan").count() == 0


def test_the_fingerprint_ignores_timing_and_order_but_not_diffs():
    def step(resource, action="no-op", diffs=(), started=0.0):
        return Step(
            resource=resource, action=action, status="succeeded", diffs=list(diffs), started_offset_s=started
        )

    spec = {"suffix": "x"}
    one = [step("a"), step("b", "update", [{"field": "f", "wanted": 1, "found": 2}])]
    two = [
        step("b", "update", [{"found": 2, "field": "f", "wanted": 1}], started=3.0),
        step("a", started=1.0),
    ]
    assert plans.fingerprint(spec, one) == plans.fingerprint(spec, two)
    three = [step("a"), step("b", "update", [{"field": "f", "wanted": 1, "found": 3}])]
    assert plans.fingerprint(spec, one) != plans.fingerprint(spec, three)
    assert plans.fingerprint(spec, one) != plans.fingerprint({"suffix": "y"}, one)
