"""CloudWatch Logs' regular expressions (``%...%`` in a filter pattern), matched in linear time.

The subset AWS documents
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html, "Supported
regular expressions (regex) syntax") has no parentheses, so no groups and no back-references: a
pattern is alternatives (``|``) of atoms (a character, ``.``, a class ``[a-z0-9_]`` or ``[^...]``,
an escape ``\\d \\w \\s \\D \\W \\S`` or ``\\x`` for a literal x), each optionally repeated (``* + ?
{m} {m,} {m,n}``), with ``^`` and ``$`` anchoring an alternative's start and end.

Python's ``re`` backtracks: ``a*b`` against a long run of ``a`` takes quadratic time, ``a*a*b``
cubic, so a log search could hang the local cloud. This module compiles the subset to a
non-deterministic automaton and simulates it (Thompson's construction): time proportional to the
message length times the pattern's size, whatever the pattern.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MAX_EXPANDED", "Regex", "RegexError", "compile_regex"]

MAX_EXPANDED = 1000  # atoms after expanding {m,n}: bounds the automaton (and the time per character)

CharTest = Callable[[str], bool]
_COUNTED = re.compile(r"\{(\d{1,4})(,(\d{0,4}))?\}")
_CLASSES: dict[str, CharTest] = {
    "d": lambda c: "0" <= c <= "9",
    "D": lambda c: not ("0" <= c <= "9"),
    "w": lambda c: c.isalnum() or c == "_",
    "W": lambda c: not (c.isalnum() or c == "_"),
    "s": str.isspace,
    "S": lambda c: not c.isspace(),
}


def _equals(expected: str) -> CharTest:
    return lambda c: c == expected


def _between(low: str, high: str) -> CharTest:
    return lambda c: low <= c <= high


class RegexError(ValueError):
    """A regular expression outside the subset, or malformed; the message says where."""


@dataclass(frozen=True)
class _Element:
    test: CharTest
    kind: str  # "one", "optional" or "star"


@dataclass(frozen=True)
class _Alternative:
    elements: tuple[_Element, ...]
    anchored_start: bool
    anchored_end: bool
    closures: tuple[frozenset[int], ...]  # state -> the states reachable from it without a character

    def search(self, text: str) -> bool:
        final = len(self.elements)
        current = set(self.closures[0])
        if final in current and not self.anchored_end:
            return True
        for char in text:
            following: set[int] = set()
            for state in current:
                if state < final:
                    element = self.elements[state]
                    if element.test(char):
                        following |= self.closures[state if element.kind == "star" else state + 1]
            if not self.anchored_start:
                following |= self.closures[0]
            if not following:
                return False
            if final in following and not self.anchored_end:
                return True
            current = following
        return final in current


@dataclass(frozen=True)
class Regex:
    """A compiled pattern: ``search(text)`` says whether it matches anywhere in ``text``."""

    source: str
    alternatives: tuple[_Alternative, ...]

    def search(self, text: str) -> bool:
        return any(alternative.search(text) for alternative in self.alternatives)


def compile_regex(source: str) -> Regex:
    """Parse the subset; RegexError for anything outside it."""
    if not source:
        raise RegexError("an empty regular expression")
    return Regex(source, tuple(_alternative(part) for part in _split_alternatives(source)))


def _split_alternatives(source: str) -> list[str]:
    parts, current, in_class, escaped = [], [], False, False
    for char in source:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == "[" and not in_class:
            in_class = True
            current.append(char)
        elif char == "]" and in_class:
            in_class = False
            current.append(char)
        elif char == "|" and not in_class:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _alternative(text: str) -> _Alternative:
    anchored_start = text.startswith("^")
    anchored_end = text.endswith("$") and not text.endswith("\\$")
    body = text[1 if anchored_start else 0 : len(text) - 1 if anchored_end else len(text)]
    elements: list[_Element] = []
    position = 0
    while position < len(body):
        test, position = _atom(body, position)
        low, high, position = _repeat(body, position)
        elements.extend(_Element(test, "one") for _ in range(low))
        if high is None:
            elements.append(_Element(test, "star"))
        else:
            elements.extend(_Element(test, "optional") for _ in range(high - low))
        if len(elements) > MAX_EXPANDED:
            raise RegexError(
                f"the expression repeats too much (more than {MAX_EXPANDED} atoms once expanded)"
            )
    return _Alternative(tuple(elements), anchored_start, anchored_end, _closures(elements))


def _closures(elements: list[_Element]) -> tuple[frozenset[int], ...]:
    closures: list[frozenset[int]] = [frozenset({len(elements)})]
    for index in range(len(elements) - 1, -1, -1):
        reach = {index}
        if elements[index].kind in ("optional", "star"):
            reach |= closures[0]
        closures.insert(0, frozenset(reach))
    return tuple(closures)


def _atom(body: str, position: int) -> tuple[CharTest, int]:
    char = body[position]
    if char in "*+?{" and not (char == "{" and not _COUNTED.match(body, position)):
        raise RegexError(f"{char!r} at character {position + 1} repeats nothing")
    if char in "^$":
        raise RegexError(
            f"{char!r} anchors the start or end of an alternative only (character {position + 1})"
        )
    if char == ".":
        return (lambda c: c != "\n"), position + 1
    if char == "\\":
        return _escape(body, position)
    if char == "[":
        return _char_class(body, position)
    if char == "]":
        raise RegexError(f"']' at character {position + 1} closes no class")
    return (_equals(char)), position + 1


def _escape(body: str, position: int) -> tuple[CharTest, int]:
    if position + 1 >= len(body):
        raise RegexError("the expression ends with a lone backslash")
    code = body[position + 1]
    if code in _CLASSES:
        return _CLASSES[code], position + 2
    return (_equals(code)), position + 2


def _char_class(body: str, position: int) -> tuple[CharTest, int]:
    index = position + 1
    negated = index < len(body) and body[index] == "^"
    index += 1 if negated else 0
    tests: list[CharTest] = []
    first = True
    while index < len(body) and (body[index] != "]" or first):
        first = False
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            code = body[index + 1]
            tests.append(_CLASSES.get(code) or (_equals(code)))
            index += 2
            continue
        if index + 2 < len(body) and body[index + 1] == "-" and body[index + 2] != "]":
            low, high = char, body[index + 2]
            if low > high:
                raise RegexError(f"range {low}-{high} at character {index + 1} is backwards")
            tests.append(_between(low, high))
            index += 3
            continue
        tests.append(_equals(char))
        index += 1
    if index >= len(body):
        raise RegexError(f"the class opened at character {position + 1} is not closed")
    members = tuple(tests)
    if negated:
        return (lambda c: c != "\n" and not any(test(c) for test in members)), index + 1
    return (lambda c: any(test(c) for test in members)), index + 1


def _repeat(body: str, position: int) -> tuple[int, int | None, int]:
    """(at least, at most or None for unbounded, next position) of the repetition after an atom."""
    if position >= len(body):
        return 1, 1, position
    char = body[position]
    if char == "*":
        return 0, None, position + 1
    if char == "+":
        return 1, None, position + 1
    if char == "?":
        return 0, 1, position + 1
    counted = _COUNTED.match(body, position)
    if char == "{" and counted:
        low = int(counted.group(1))
        if counted.group(2) is None:
            high: int | None = low
        elif counted.group(3):
            high = int(counted.group(3))
        else:
            high = None
        if high is not None and high < low:
            raise RegexError(
                f"{{{low},{high}}} at character {position + 1}: the maximum is below the minimum"
            )
        return low, high, counted.end()
    return 1, 1, position
