"""FilterLogEvents applies CloudWatch Logs' filter pattern syntax (issue 19, item 5).

Every case follows https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html
(terms, exact phrases, ``-`` exclusions, ``?`` alternatives, regex, JSON selectors, space-delimited
fields) and the FilterLogEvents reference for the pattern's length limit:
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import LocalCloud, fidelity
from localcloud.cloudwatch.logs_filter import (
    MAX_DEPTH,
    MAX_PATTERN_LENGTH,
    InvalidFilterPattern,
    compile_pattern,
    matches,
    split_fields,
)

JSON_EVENT = json.dumps(
    {
        "level": "ERROR",
        "latency": 150,
        "requestId": "abc-123",
        "path": "/items/42",
        "ok": False,
        "user": {"name": "ada", "roles": ["admin", "ops"]},
        "nothing": None,
        "code": "404",
    }
)
ACCESS_LINE = '10.0.0.1 - ada [07/Dec/2026:17:00:00 +0000] "GET /items HTTP/1.1" 503 1532'

CASES = [
    # -- terms: every term must occur, case-sensitive -----------------------------------------
    ("ERROR", "[ERROR] boom", True),
    ("ERROR", "[error] boom", False),
    ("ERROR Exception", "ERROR in handler: ValueException", True),
    ("ERROR Exception", "ERROR in handler", False),
    # -- exact phrases --------------------------------------------------------------------------
    ('"Internal Server Error"', "500 Internal Server Error", True),
    ('"Internal Server Error"', "Internal Error Server", False),
    ('"say \\"hi\\""', 'they say "hi" often', True),
    # -- exclusions ------------------------------------------------------------------------------
    ("ERROR -Exiting", "ERROR timeout", True),
    ("ERROR -Exiting", "ERROR Exiting now", False),
    ('-"health check"', "GET /items", True),
    ('-"health check"', "a health check", False),
    # -- alternatives ------------------------------------------------------------------------------
    ("?ERROR ?WARN", "WARN slow", True),
    ("?ERROR ?WARN", "INFO fine", False),
    ("?ERROR ?WARN -retry", "ERROR retry", False),
    # -- regex -----------------------------------------------------------------------------------
    ("%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST", True),
    ("%ERR[0-9]+%", "code ERR42", True),
    ("%ERR[0-9]+%", "code ERRx", False),
    # -- match everything --------------------------------------------------------------------------
    ("", "anything", True),
    ('" "', "anything", True),
    # -- JSON: strings, wildcards, numbers -------------------------------------------------------
    ('{ $.level = "ERROR" }', JSON_EVENT, True),
    ("{ $.level = ERROR }", JSON_EVENT, True),
    ('{ $.level = "WARN" }', JSON_EVENT, False),
    ('{ $.level != "WARN" }', JSON_EVENT, True),
    ('{ $.missing != "WARN" }', JSON_EVENT, False),
    ('{ $.path = "/items/*" }', JSON_EVENT, True),
    ('{ $.path = "*/42" }', JSON_EVENT, True),
    ('{ $.path = "/users/*" }', JSON_EVENT, False),
    ("{ $.latency > 100 }", JSON_EVENT, True),
    ("{ $.latency >= 150 }", JSON_EVENT, True),
    ("{ $.latency < 100 }", JSON_EVENT, False),
    ("{ $.latency <= 149.5 }", JSON_EVENT, False),
    ("{ $.latency = 1.5e2 }", JSON_EVENT, True),
    ("{ $.latency != 150 }", JSON_EVENT, False),
    ("{ $.code > 100 }", JSON_EVENT, False),  # a JSON string is not a number
    ('{ $.code = "404" }', JSON_EVENT, True),
    ("{ $.msg = %time[o]ut% }", json.dumps({"msg": "a timeout"}), True),
    ("{ $.msg = %^time% }", json.dumps({"msg": "a timeout"}), False),
    # -- JSON: selectors into objects and arrays --------------------------------------------------
    ('{ $.user.name = "ada" }', JSON_EVENT, True),
    ('{ $.user.roles[1] = "ops" }', JSON_EVENT, True),
    ('{ $.user.roles[5] = "ops" }', JSON_EVENT, False),
    ('{ $.user = "ada" }', JSON_EVENT, False),  # an object is not a string
    # -- JSON: && || and parentheses ------------------------------------------------------------
    ('{ $.level = "ERROR" && $.latency > 100 }', JSON_EVENT, True),
    ('{ $.level = "ERROR" && $.latency > 200 }', JSON_EVENT, False),
    ('{ $.level = "WARN" || $.latency > 100 }', JSON_EVENT, True),
    ('{ ($.level = "WARN" || $.level = "ERROR") && $.user.name = "ada" }', JSON_EVENT, True),
    ('{ $.level = "WARN" || $.level = "INFO" && $.latency > 1 }', JSON_EVENT, False),
    # -- JSON: IS NULL, IS TRUE/FALSE, EXISTS, NOT EXISTS ---------------------------------------------
    ("{ $.nothing IS NULL }", JSON_EVENT, True),
    ("{ $.level IS NULL }", JSON_EVENT, False),
    ("{ $.ok IS FALSE }", JSON_EVENT, True),
    ("{ $.ok IS TRUE }", JSON_EVENT, False),
    ("{ $.requestId EXISTS }", JSON_EVENT, True),
    ("{ $.absent NOT EXISTS }", JSON_EVENT, True),
    ("{ $.nothing NOT EXISTS }", JSON_EVENT, False),  # present, with the value null
    # -- JSON patterns match JSON events only ---------------------------------------------------------
    ('{ $.level = "ERROR" }', "ERROR level = ERROR", False),
    ('{ $.level = "ERROR" }', "{not json", False),
    # -- space-delimited --------------------------------------------------------------------------
    ("[ip, dash, user, timestamp, request, status, bytes]", ACCESS_LINE, True),
    ("[ip, user, timestamp, request, status, bytes]", ACCESS_LINE, False),  # 7 fields, 6 named
    ("[ip, dash, user, timestamp, request, status = 503, bytes]", ACCESS_LINE, True),
    ("[ip, dash, user, timestamp, request, status = 5*, bytes]", ACCESS_LINE, True),
    ("[ip, dash, user, timestamp, request, status = 4*, bytes]", ACCESS_LINE, False),
    ("[ip, dash, user = ada, timestamp, request = *items*, status >= 500, bytes > 1000]", ACCESS_LINE, True),
    ("[ip, dash, user != ada, ...]", ACCESS_LINE, False),
    ("[..., status = 4* || status = 5*, bytes]", ACCESS_LINE, True),
    ("[..., status >= 500 && status != 503, bytes]", ACCESS_LINE, False),
    ("[ip = 10.0.0.*, ...]", ACCESS_LINE, True),
    ("[ip, ..., bytes < 2000]", ACCESS_LINE, True),
    ("[ip = %^10\\.%, ...]", ACCESS_LINE, True),
]


@pytest.mark.parametrize(("pattern", "message", "expected"), CASES)
def test_grammar(pattern: str, message: str, expected: bool) -> None:
    """Issue 19 item 5: every form of the documented filter pattern grammar."""
    assert matches(pattern, message) is expected


def test_space_delimited_fields_group_brackets_and_quotes() -> None:
    assert split_fields(ACCESS_LINE) == [
        "10.0.0.1",
        "-",
        "ada",
        "07/Dec/2026:17:00:00 +0000",
        "GET /items HTTP/1.1",
        "503",
        "1532",
    ]


BAD = [
    ("{ $.level = }", "expected a value"),
    ('{ $.level = "ERROR"', "must end with }"),
    ("{ level = 1 }", "property selector"),
    ("{ $ = 1 }", "names a field"),
    ('{ $.latency > "x" }', "string value takes = or !="),
    ("{ $.a IS MAYBE }", "IS takes NULL, TRUE or FALSE"),
    ("{ $.a NOT THERE }", "NOT takes EXISTS"),
    ("{ $.a = 1 && }", "property selector"),
    ("{ ($.a = 1 }", "expected ')'"),
    ("[a, b", "must end with ]"),
    ("[a b]", "separated by commas"),
    ("[..., a, ...]", "... once"),
    ("[a = 1 || b = 2]", "names its field again"),
    ("%(a|b)%", "no parentheses"),
    ("%a!%", "regular expression"),
    ("%a% %b% %c%", "at most 2 regular expressions"),
    ("x" * (MAX_PATTERN_LENGTH + 1), f"at most {MAX_PATTERN_LENGTH} characters"),
    ("{" + "(" * (MAX_DEPTH + 1) + "$.a = 1" + ")" * (MAX_DEPTH + 1) + "}", f"at most {MAX_DEPTH} deep"),
    (" ".join(["t"] * 65), "at most 64 terms"),
    ("a&&b", None),  # accepted as one term: terms are anything up to a space
]


@pytest.mark.parametrize(("pattern", "reason"), BAD)
def test_hostile_and_malformed_patterns_are_refused_with_a_reason(pattern: str, reason: str | None) -> None:
    """Issue 19 item 5: a bad pattern is refused with what is wrong; bounded length and nesting."""
    if reason is None:
        assert compile_pattern(pattern).kind == "terms"
        return
    with pytest.raises(InvalidFilterPattern, match=reason.replace("(", r"\(").replace(")", r"\)")):
        compile_pattern(pattern)


# -- through the API: moto's FilterLogEvents uses the grammar (decorator mode and the local cloud) --
MESSAGES = [
    "START RequestId: r1",
    json.dumps({"level": "ERROR", "requestId": "r1", "latency": 250, "message": "boom"}),
    json.dumps({"level": "INFO", "requestId": "r2", "latency": 20, "message": "ok"}),
    "[ERROR] Exiting after timeout",
    "END RequestId: r1",
]


def _filter(logs, pattern: str) -> list[str]:
    found = logs.filter_log_events(logGroupName="/aws/lambda/grammar", filterPattern=pattern)
    return [event["message"] for event in found["events"]]


def _seed(logs) -> None:
    now = int(time.time() * 1000) - 1000  # PutLogEvents keeps events of the last 14 days only
    logs.create_log_group(logGroupName="/aws/lambda/grammar")
    logs.create_log_stream(logGroupName="/aws/lambda/grammar", logStreamName="s")
    logs.put_log_events(
        logGroupName="/aws/lambda/grammar",
        logStreamName="s",
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(MESSAGES)],
    )


@pytest.fixture(params=["decorator", "localcloud"])
def logs(request: pytest.FixtureRequest) -> Iterator[object]:
    fidelity.apply()
    if request.param == "localcloud":
        cloud: LocalCloud = request.getfixturevalue("cloud")
        client = cloud.client("logs")
        with contextlib.suppress(ClientError):
            client.delete_log_group(logGroupName="/aws/lambda/grammar")
        _seed(client)
        yield client
    else:
        with mock_aws():
            client = boto3.client("logs", region_name="us-east-1")
            _seed(client)
            yield client


def test_filter_log_events_applies_the_grammar(logs) -> None:
    """Issue 19 item 5: FilterLogEvents with terms, exclusions, alternatives and JSON selectors."""
    assert _filter(logs, '{ $.level = "ERROR" }') == [MESSAGES[1]]
    assert _filter(logs, "{ $.latency > 100 || $.level = INFO }") == [MESSAGES[1], MESSAGES[2]]
    assert _filter(logs, "ERROR -Exiting") == [MESSAGES[1]]
    assert _filter(logs, "?START ?END") == [MESSAGES[0], MESSAGES[4]]
    assert _filter(logs, '"RequestId: r1"') == [MESSAGES[0], MESSAGES[4]]
    assert _filter(logs, "[first = START || first = END, ...]") == [MESSAGES[0], MESSAGES[4]]
    assert _filter(logs, "") == MESSAGES


def test_filter_log_events_refuses_a_bad_pattern_as_aws(logs) -> None:
    """Issue 19 item 5: InvalidParameterException "Invalid filter pattern", before any event is read."""
    with pytest.raises(ClientError) as caught:
        _filter(logs, "{ $.level = }")
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidParameterException"
    assert error["Message"].startswith("Invalid filter pattern")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*", "", True),
        ("a*", "abc", True),
        ("*c", "abc", True),
        ("a*c", "ac", True),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "aXcYb", False),
        ("ab*ba", "aba", False),  # prefix and suffix may not overlap
        ("*x*", "abc", False),
        ("**", "anything", True),
    ],
)
def test_wildcards_in_string_values(pattern: str, value: str, expected: bool) -> None:
    """Issue 19 item 5: ``*`` in a JSON or space-delimited string value stands for any text."""
    assert matches(f'{{ $.v = "{pattern}" }}', json.dumps({"v": value})) is expected


def test_wildcards_take_linear_time() -> None:
    """Issue 19 item 5: many wildcards against a long value that almost matches: no backtracking."""
    value = "a" * 200_000
    started = time.perf_counter()
    assert not matches('{ $.v = "*a*a*a*a*a*a*a*b" }', json.dumps({"v": value}))
    assert time.perf_counter() - started < 5


def test_an_event_nested_too_deep_for_the_parser_does_not_match() -> None:
    """Issue 19 item 5: hostile events: a JSON pattern on an event nested 100 000 deep is no match."""
    deep = '{"a":' + "[" * 100_000 + "]" * 100_000 + "}"
    assert matches("{ $.a = 1 }", deep) is False
    assert matches("{ $.b NOT EXISTS }", deep) is False
