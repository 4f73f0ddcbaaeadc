"""The spec's one validator refuses what AWS would refuse later, and warns where the profile's
throttle lets more requests through than the function can serve (issue 8, sections 2 and 6)."""

from __future__ import annotations

import pytest

from provisioning.spec import (
    PROFILES,
    STAGES,
    TAG_VALUE_MAX,
    TYPICAL_DURATION_S,
    CapacityWarning,
    EnvironmentSpec,
    SpecError,
    build_spec,
    capacity_warnings,
    throttle_for,
)


def _problems(**values: object) -> dict[str, str]:
    """Field -> what is allowed, for a build_spec that must fail."""
    with pytest.raises(SpecError) as caught:
        build_spec(suffix="tags1", stage="dev", **values)  # type: ignore[arg-type]
    return {problem.field: problem.allowed for problem in caught.value.problems}


def _spec(stage: str = "dev", **overrides: object) -> EnvironmentSpec:
    return build_spec(suffix="cap1", stage=stage, overrides=overrides)


# -- tag values (owner, cost centre) ------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "team-a\nInjected: yes",
        "team\ta",
        "team\r",
        "a\x00b",
        "a\u2028b",
        "a" * (TAG_VALUE_MAX + 1),
        "a<b>",
        "a,b",
    ],
    ids=["newline", "tab", "carriage-return", "nul", "line-separator", "too-long", "angle-brackets", "comma"],
)
@pytest.mark.parametrize("field", ["owner", "cost_centre"])
def test_tag_values_outside_aws_tag_characters_are_refused(field: str, value: str) -> None:
    """probe: --owner $'team-a\\nInjected: yes' and a tab in --cost-centre were accepted and tagged."""
    # R-ENV-3 owner and cost centre become tags on every resource; AWS's tag rule applies.
    allowed = _problems(**{field: value})[field]
    assert "letters" in allowed and "_ . : / = + - @" in allowed and "no tabs, newlines" in allowed


@pytest.mark.parametrize(
    "value",
    ["", "team-a", "Équipe Données", "チーム", "cc 42/eu=1+2@x:y.z_w", "a" * TAG_VALUE_MAX, "a\u00a0b"],
)
def test_tag_values_within_aws_tag_characters_are_accepted(value: str) -> None:
    # R-ENV-3 Unicode letters and space separators are part of AWS's rule.
    spec = build_spec(suffix="tags1", stage="dev", owner=value, cost_centre=value)
    assert spec.owner == value and spec.cost_centre == value


# -- alarm e-mails -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "ops@example.com\n",
        "ops@example.com\nBcc: victim@example.com",
        "ops\x00@example.com",
        "ops@exa mple.com",
        "a@b@example.com",
        "ops@localhost",
        "ops@example",
        "ops@.example.com",
        "ops@example..com",
        ".ops@example.com",
        "o..ps@example.com",
        "ops@-example.com",
        "ops@example.c",
        "<ops>@example.com",
        "x" * 65 + "@example.com",
        "ops@" + "a" * 250 + ".com",
    ],
)
def test_alarm_emails_that_are_not_addresses_are_refused(email: str) -> None:
    """probe: --alarm-email 'ops\\x00@example.com' and 'ops@example..com' were accepted."""
    assert "e-mail addresses" in _problems(alarm_emails=[email])["alarm_emails"]


@pytest.mark.parametrize(
    "email", ["ops@example.com", "first.last+alerts@mail.example.co.uk", "o'neil@xn--80ak6aa92e.com"]
)
def test_alarm_emails_that_are_addresses_are_accepted(email: str) -> None:
    assert build_spec(suffix="mail1", stage="dev", alarm_emails=[email]).alarm_emails == (email,)


# -- capacity warnings (section 6) ---------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_profile_admits_more_requests_than_its_function_can_run(stage: str) -> None:
    """probe: the dev profile's throttle_burst 100 against reserved_concurrency 10 answered 500."""
    # R-ENV-2 the profile defaults are coherent: a throttled client gets 429, never 500.
    assert capacity_warnings(_spec(stage)) == []
    settings = PROFILES[stage]
    # Issue 22 item 7: rate and burst are two limits, each derived from reserved concurrency.
    assert settings.throttle_burst <= settings.reserved_concurrency
    assert settings.throttle_rate * TYPICAL_DURATION_S <= settings.reserved_concurrency
    assert throttle_for(settings.reserved_concurrency) == {
        "reserved_concurrency": settings.reserved_concurrency,
        "throttle_rate": settings.throttle_rate,
        "throttle_burst": settings.throttle_burst,
    }


def test_the_dev_throttle_lets_a_developers_script_through() -> None:
    """Issue 22 item 7: the dev profile's 10 requests a second throttled a single developer's test
    script. The steady rate is bounded by reserved concurrency / duration (10 / 50 ms = 200 a
    second), not by the concurrency: dev now admits 100 a second, burst 5, and warns about neither."""
    # R-ENV-2 R-API-2
    dev = PROFILES["dev"]
    assert (dev.reserved_concurrency, dev.throttle_rate, dev.throttle_burst) == (10, 100, 5)
    assert [(p.throttle_rate, p.throttle_burst) for p in (PROFILES["staging"], PROFILES["prod"])] == [
        (500, 25),
        (1000, 50),
    ]
    # a rate above the burst is a valid setting (API Gateway's own examples use rate 10, burst 2)
    assert build_spec(suffix="rate1", stage="dev", overrides={"throttle_rate": 150, "throttle_burst": 2})


def test_a_rate_the_concurrency_cannot_serve_warns_with_the_numbers_and_both_fixes() -> None:
    """The steady-rate bound: 300 requests a second of 50 ms need 15 executions, dev has 10."""
    (warning,) = capacity_warnings(_spec("dev", throttle_rate=300))
    assert warning.code == "rate_over_concurrency"
    assert warning.settings == ("throttle_rate", "reserved_concurrency")
    for fragment in (
        "throttle_rate 300 requests a second of a typical 50 ms need 15 concurrent executions",
        "reserved_concurrency is 10 (at most 200 requests a second)",
        "500 instead of 429",
        "Lower throttle_rate to <= 200 or raise reserved_concurrency to >= 15.",
    ):
        assert fragment in warning.message
    assert capacity_warnings(_spec("dev", throttle_rate=200)) == []


def test_profiles_keep_the_required_reserved_concurrency() -> None:
    # R-ENV-2 reserved concurrency 10 dev, 100 prod: the throttle was lowered, not the function raised.
    assert PROFILES["dev"].reserved_concurrency == 10 and PROFILES["prod"].reserved_concurrency == 100


def test_burst_above_reserved_concurrency_warns_with_the_numbers_and_both_fixes() -> None:
    """probe: dev with throttle_burst 100 and reserved_concurrency 10 planned without a word."""
    (warning,) = capacity_warnings(
        _spec("dev", throttle_rate=50, throttle_burst=100, reserved_concurrency=10)
    )
    assert isinstance(warning, CapacityWarning) and warning.code == "burst_over_concurrency"
    assert str(warning) == warning.message
    for fragment in (
        "throttle_burst 100 admits up to 100 concurrent requests but reserved_concurrency is 10",
        "500 instead of 429",
        "lower throttle_burst to <= 10 or raise reserved_concurrency to >= 100",
    ):
        assert fragment in warning.message
    # The rate is a limit of its own (issue 22 item 7): no longer tied to the burst in the advice.
    assert warning.settings == ("throttle_burst", "reserved_concurrency")
    assert warning.to_dict()["code"] == "burst_over_concurrency"


def test_burst_exactly_at_reserved_concurrency_does_not_warn() -> None:
    assert (
        capacity_warnings(_spec("prod", throttle_rate=100, throttle_burst=100, reserved_concurrency=100))
        == []
    )
    (warning,) = capacity_warnings(
        _spec("prod", throttle_rate=100, throttle_burst=101, reserved_concurrency=100)
    )
    assert "lower throttle_burst to <= 100 or raise reserved_concurrency to >= 101." in warning.message
    assert "throttle_rate to" not in warning.message and warning.settings == (
        "throttle_burst",
        "reserved_concurrency",
    )


def test_burst_beyond_the_largest_reserved_concurrency_only_suggests_lowering_it() -> None:
    (warning,) = capacity_warnings(_spec("prod", throttle_burst=5000))
    assert (
        "lower throttle_burst to <= 100" in warning.message
        and "raise reserved_concurrency" not in warning.message
    )


def test_zero_reserved_concurrency_warns_that_every_request_fails() -> None:
    (warning,) = capacity_warnings(_spec("dev", reserved_concurrency=0, throttle_burst=20))
    assert warning.code == "no_concurrency" and warning.settings == ("reserved_concurrency",)
    assert "every request" in warning.message and "Raise reserved_concurrency to >= 20" in warning.message


def test_capacity_warnings_accept_bare_settings() -> None:
    spec = _spec("dev", throttle_burst=20, throttle_rate=20)
    assert capacity_warnings(spec.settings) == capacity_warnings(spec) != []
