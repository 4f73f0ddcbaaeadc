"""The regular expressions of CloudWatch Logs filter patterns (``%...%``), matched in linear time.

The subset follows "Supported regular expressions (regex) syntax" of
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html: letters,
digits, some symbols, the operators ^ $ ? [ ] { } | \\ * + . and no parentheses. Within it, a match
is a match: every case is checked against Python's own ``re`` as well.
"""

from __future__ import annotations

import re
import time

import pytest

from localcloud.cloudwatch.logs_filter import matches
from localcloud.cloudwatch.logs_regex import MAX_EXPANDED, RegexError, compile_regex

CASES = [
    ("AUTHORIZED", "[ERROR 401] UNAUTHORIZED REQUEST"),
    ("AUTHORIZED", "[ERROR 401] REQUEST"),
    ("^ERROR", "ERROR at start"),
    ("^ERROR", "an ERROR later"),
    ("timeout$", "a timeout"),
    ("timeout$", "timeout then more"),
    ("^exact$", "exact"),
    ("^exact$", "exactly"),
    ("colou?r", "the color"),
    ("colou?r", "the colour"),
    ("colou?r", "the colouur"),
    ("gr[ae]y", "grey sky"),
    ("gr[ae]y", "groy sky"),
    ("[^0-9]+x", "123x"),
    ("[^0-9]+x", "12ax"),
    ("ERR[0-9]{3}", "code ERR404"),
    ("ERR[0-9]{3}", "code ERR40"),
    ("a{2,}b", "aab"),
    ("a{2,}b", "ab"),
    ("a{1,2}c", "aaac"),
    ("\\d+ms", "took 25ms"),
    ("\\d+ms", "took ms"),
    ("\\w+@\\w+\\.com", "mail ada@example.com now"),
    ("\\s\\S", "a b"),
    ("10\\.0\\.0\\.1", "from 10.0.0.1"),
    ("10\\.0\\.0\\.1", "from 10a0b0c1"),
    ("WARN|ERROR", "an ERROR"),
    ("WARN|ERROR", "INFO"),
    ("^a|b$", "xxb"),
    ("a.c", "abc"),
    ("a.c", "a\nc"),
    ("ERR.*timeout", "ERR: request timeout"),
    ("ERR.*timeout", "timeout before ERR"),
    ("x*", ""),
    ("[]a]", "]"),
    ("[a\\-z]", "-"),
    ("[a\\-z]", "b"),
    ("\\$5", "costs $5"),
    ("#=@/;,-", "id #=@/;,- here"),
]


@pytest.mark.parametrize(("pattern", "text"), CASES)
def test_the_subset_matches_as_a_regular_expression_does(pattern: str, text: str) -> None:
    """Issue 19 item 5: regex terms in filter patterns match what the expression describes."""
    assert compile_regex(pattern).search(text) is (re.search(pattern, text) is not None)


def test_matching_time_is_linear_whatever_the_pattern() -> None:
    """Issue 19 item 5: a pattern that makes a backtracking engine take cubic time takes linear time."""
    hostile = "a" * 20_000  # re.search("a*a*b", ...) on this takes minutes
    started = time.perf_counter()
    assert compile_regex("a*a*b").search(hostile) is False
    assert compile_regex(".*.*x").search(hostile) is False
    assert time.perf_counter() - started < 10


BAD = [
    ("", "empty"),
    ("*a", "repeats nothing"),
    ("a|+b", "repeats nothing"),
    ("a^b", "anchors the start or end"),
    ("[a-z", "not closed"),
    ("a]", "closes no class"),
    ("[z-a]", "backwards"),
    ("a{3,1}", "below the minimum"),
    ("a\\", "lone backslash"),
    ("a{1000}b{1000}", f"more than {MAX_EXPANDED} atoms"),
]


@pytest.mark.parametrize(("pattern", "reason"), BAD)
def test_malformed_expressions_are_refused_with_a_reason(pattern: str, reason: str) -> None:
    """Issue 19 item 5: a malformed expression is refused (FilterLogEvents: Invalid filter pattern)."""
    with pytest.raises(RegexError, match=re.escape(reason)):
        compile_regex(pattern)


def test_regex_in_every_pattern_kind() -> None:
    """Issue 19 item 5: %regex% as a term, an exclusion, a JSON value and a space-delimited field."""
    assert matches("%ERR[0-9]+% -%retry%", "ERR42 final")
    assert not matches("%ERR[0-9]+% -%retry%", "ERR42 retry")
    assert matches("{ $.msg = %^time% }", '{"msg": "timeout"}')
    assert matches("{ $.msg != %^time% }", '{"msg": "a timeout"}')
    assert matches("[ip = %^10\\.%, ...]", "10.1.2.3 GET")
