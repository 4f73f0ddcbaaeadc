"""CloudWatch Logs filter patterns: a parser and a matcher, as FilterLogEvents applies them.

moto 5.2.5 filters log events naively: a pattern that starts with a letter is a list of words, one
that starts with a quote a phrase, and anything else (``-term``, ``?term``, a JSON selector, a
space-delimited pattern) matches every event. AWS's grammar
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html) is modelled
here, and ``logs_fixes.py`` makes moto's FilterLogEvents use it:

Unstructured events (terms)
    ``ERROR Exception``           every term must occur (case-sensitive, anywhere in the message)
    ``"Internal Server Error"``   a quoted phrase is one term (``\\"`` and ``\\\\`` escape)
    ``ERROR -Exiting``            ``-term``: the event must not contain it
    ``?ERROR ?WARN``              ``?term``: at least one of them must occur
    ``%ERR[0-9]+%``               a regular expression (AWS's subset, ``logs_regex.py``), anywhere
    ``""`` / ``" "`` / nothing    every event

JSON events: ``{ expression }`` where expression is comparisons joined by ``&&`` and ``||``
(``&&`` binds tighter) and grouped by parentheses:
    ``$.level = "ERROR"``  ``$.level != ERROR``  ``$.path = "/items/*"``  (``*`` is a wildcard)
    ``$.latency > 100``  ``<``  ``<=``  ``>=``  ``=``  ``!=``             (numbers)
    ``$.msg = %time(d|out)%``                                           (regex, no groups)
    ``$.x IS NULL``  ``$.x IS TRUE``  ``$.x IS FALSE``  ``$.x EXISTS``  ``$.x NOT EXISTS``
    selectors: ``$.a.b``, ``$.items[0].id``; a comparison with a field that is missing (or of
    another type) is false, so ``!=`` never matches an event without the field.

Space-delimited events: ``[ip, user, ..., status = 5*, bytes > 1000]`` names the fields of the
message split on spaces (a ``"..."`` or ``[...]`` group is one field); ``...`` stands for any number
of fields; a named field may carry conditions (``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` with a
number, a string with ``*`` wildcards or a regex) joined by ``&&`` and ``||``. Without ``...`` the
message must have exactly as many fields as the pattern names.

A pattern longer than ``MAX_PATTERN_LENGTH`` (FilterLogEvents' own limit), nested deeper than
``MAX_DEPTH`` or with more than ``MAX_REGEX`` regular expressions, or one that does not parse, raises
``InvalidFilterPattern``; the fidelity fix answers it with AWS's ``InvalidParameterException``
("Invalid filter pattern") before any event is read.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud.cloudwatch.logs_regex import Regex, RegexError, compile_regex

__all__ = [
    "MAX_DEPTH",
    "MAX_PATTERN_LENGTH",
    "MAX_REGEX",
    "FilterPattern",
    "InvalidFilterPattern",
    "compile_pattern",
    "matches",
]

MAX_PATTERN_LENGTH = 1024  # FilterLogEvents: filterPattern, Maximum length of 1024
MAX_DEPTH = 10  # parentheses inside a JSON pattern
MAX_REGEX = 2  # regular expressions in one pattern
MAX_TERMS = 64  # terms of an unstructured pattern, fields of a space-delimited one
_MAX_SELECTOR_PARTS = 32

# AWS's regex subset: alphanumerics, some symbols and the operators ^ $ ? [ ] { } | \ * + . ;
# no parentheses (no sub-patterns), no multi-byte characters.
_REGEX_ALLOWED = re.compile(r"[A-Za-z0-9_#=@/;,\- :^$?\[\]{}|\\*+.]*")


class InvalidFilterPattern(ValueError):
    """A filter pattern AWS would refuse; the message says what is wrong."""


# -- matchers ---------------------------------------------------------------------------------------
Predicate = Callable[[Any], bool]  # a condition on one value (a JSON field, a space-delimited field)


@dataclass(frozen=True)
class FilterPattern:
    """A compiled filter pattern: ``matches(message)`` says whether a log event's message matches."""

    text: str
    kind: str  # "all", "terms", "json" or "space-delimited"
    _match: Callable[[str], bool]

    def matches(self, message: str) -> bool:
        return self._match(message)


def matches(pattern: str | None, message: str) -> bool:
    """Whether ``message`` matches ``pattern`` (raises InvalidFilterPattern for a bad pattern)."""
    return compile_pattern(pattern).matches(message)


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str | None) -> FilterPattern:
    """Parse a filter pattern once (cached: every log stream of a group applies the same one)."""
    text = pattern or ""
    if len(text) > MAX_PATTERN_LENGTH:
        raise InvalidFilterPattern(f"a filter pattern may be at most {MAX_PATTERN_LENGTH} characters")
    stripped = text.strip()
    if not stripped or (
        len(stripped) >= 2 and stripped[0] == stripped[-1] == '"' and not stripped[1:-1].strip()
    ):
        return FilterPattern(text, "all", lambda _message: True)
    regex_budget = _Budget(MAX_REGEX)
    if stripped.startswith("{"):
        return FilterPattern(text, "json", _json_pattern(stripped, regex_budget))
    if stripped.startswith("["):
        return FilterPattern(text, "space-delimited", _space_pattern(stripped, regex_budget))
    return FilterPattern(text, "terms", _terms_pattern(stripped, regex_budget))


class _Budget:
    """How many regular expressions a pattern may still use."""

    def __init__(self, left: int) -> None:
        self.left = left

    def regex(self, body: str) -> Regex:
        self.left -= 1
        if self.left < 0:
            raise InvalidFilterPattern(
                f"a filter pattern may contain at most {MAX_REGEX} regular expressions"
            )
        if not body or not _REGEX_ALLOWED.fullmatch(body):
            raise InvalidFilterPattern(
                f"regular expression %{body}% may use letters, digits, the symbols _ # = @ / ; , - and the "
                "operators ^ $ ? [ ] { } | \\ * + . only (no parentheses)"
            )
        try:
            return compile_regex(body)
        except RegexError as exc:
            raise InvalidFilterPattern(f"regular expression %{body}%: {exc}") from None


# -- unstructured: terms ----------------------------------------------------------------------------
_TERM = re.compile(
    r'(?P<prefix>[-?]?)(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|%(?P<regex>[^%]*)%|(?P<bare>[^\s"%]+))'
)


def _terms_pattern(text: str, budget: _Budget) -> Callable[[str], bool]:
    required: list[Callable[[str], bool]] = []
    optional: list[Callable[[str], bool]] = []
    excluded: list[Callable[[str], bool]] = []
    position = 0
    count = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        found = _TERM.match(text, position)
        if found is None or found.end() == position:
            raise InvalidFilterPattern(
                f"unexpected {text[position : position + 20]!r} at character {position + 1}"
            )
        count += 1
        if count > MAX_TERMS:
            raise InvalidFilterPattern(f"a filter pattern may have at most {MAX_TERMS} terms")
        test = _term_test(found, budget)
        {"": required, "?": optional, "-": excluded}[found.group("prefix")].append(test)
        position = found.end()
        if position < len(text) and not text[position].isspace():
            raise InvalidFilterPattern(f"terms are separated by spaces (at character {position + 1})")

    def match(message: str) -> bool:
        return (
            all(test(message) for test in required)
            and not any(test(message) for test in excluded)
            and (not optional or any(test(message) for test in optional))
        )

    return match


def _term_test(found: re.Match[str], budget: _Budget) -> Callable[[str], bool]:
    if found.group("regex") is not None:
        compiled = budget.regex(found.group("regex"))
        return compiled.search
    if found.group("quoted") is not None:
        term = _unescape(found.group("quoted"))
    else:
        term = found.group("bare")
        if term in ("&&", "||") or term[0] in "{}[]":
            raise InvalidFilterPattern(f"{term!r} is not a term; quote it to search for it")
    if not term:
        return lambda _message: True
    return lambda message: term in message


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# -- shared tokenizer for JSON and space-delimited patterns -----------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<regex>%[^%]*%)
      | (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|,)
      | (?P<ellipsis>\.\.\.)
      | (?P<selector>\$(?:\.[^\s.\[\]=!<>&|(),]+|\[\d+\])*)
      | (?P<word>[^\s"%=!<>&|(),\[\]{}]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # string, regex, op, ellipsis, selector, word, end
    text: str


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        found = _TOKEN.match(text, position)
        if found is None or found.end() == position:
            raise InvalidFilterPattern(
                f"unexpected {text[position:].strip()[:20]!r} at character {position + 1}"
            )
        kind = found.lastgroup or "word"
        tokens.append(_Token(kind, found.group(kind)))
        position = found.end()
        if len(tokens) > 4 * MAX_TERMS:
            raise InvalidFilterPattern(f"a filter pattern may have at most {4 * MAX_TERMS} tokens")
    tokens.append(_Token("end", ""))
    return tokens


class _Parser:
    """Recursive descent over the tokens of a JSON or a space-delimited pattern."""

    def __init__(self, tokens: list[_Token], budget: _Budget, *, numeric_strings: bool) -> None:
        self.tokens = tokens
        self.position = 0
        self.budget = budget
        # A space-delimited field is text: "404" is a number. A JSON string "404" is not.
        self.numeric_strings = numeric_strings

    def peek(self) -> _Token:
        return self.tokens[self.position]

    def take(self) -> _Token:
        token = self.tokens[self.position]
        if token.kind != "end":
            self.position += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text or token.kind not in ("op", "word"):
            raise InvalidFilterPattern(f"expected {text!r}, found {token.text or 'the end'!r}")

    def value(self, operator: str) -> Predicate:
        """The right-hand side of ``operator``: a number, a string (``*`` wildcards) or a regex."""
        token = self.take()
        if token.kind == "regex":
            if operator not in ("=", "!="):
                raise InvalidFilterPattern(f"a regular expression takes = or !=, not {operator}")
            compiled = self.budget.regex(token.text[1:-1])
            found: Predicate = lambda v: isinstance(v, str) and compiled.search(v)  # noqa: E731
            return found if operator == "=" else (lambda v: isinstance(v, str) and not found(v))
        if token.kind == "string":
            return _string_test(operator, _unescape(token.text[1:-1]))
        if token.kind == "word":
            number = _number(token.text)
            if number is not None:
                return _number_test(operator, number, self.numeric_strings)
            return _string_test(operator, token.text)
        raise InvalidFilterPattern(f"expected a value after {operator}, found {token.text or 'the end'!r}")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _as_number(value: Any, numeric_strings: bool) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and numeric_strings:
        return _number(value.strip())
    return None


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _number_test(operator: str, number: float, numeric_strings: bool) -> Predicate:
    compare = _COMPARE[operator]

    def test(value: Any) -> bool:
        actual = _as_number(value, numeric_strings)
        return actual is not None and compare(actual, number)

    return test


def wildcard_match(parts: list[str], text: str) -> bool:
    """Whether ``text`` is ``parts`` joined by any strings (``*`` wildcards): the first part a
    prefix, the last a suffix, the others in order between. Leftmost search is exact for ``*``-only
    patterns, and takes no backtracking: time at most the text's length times the parts'."""
    head, tail = parts[0], parts[-1]
    if len(text) < len(head) + len(tail) or not text.startswith(head) or not text.endswith(tail):
        return False
    position, end = len(head), len(text) - len(tail)
    for middle in parts[1:-1]:
        found = text.find(middle, position, end)
        if found < 0:
            return False
        position = found + len(middle)
    return True


def _string_test(operator: str, expected: str) -> Predicate:
    if operator not in ("=", "!="):
        raise InvalidFilterPattern(
            f"a string value takes = or !=, not {operator} (compare numbers with {operator})"
        )
    if "*" in expected:
        parts = expected.split("*")

        def equal(value: Any) -> bool:
            return isinstance(value, str) and wildcard_match(parts, value)

    else:

        def equal(value: Any) -> bool:
            return isinstance(value, str) and value == expected

    if operator == "=":
        return equal
    return lambda value: isinstance(value, str) and not equal(value)


# -- JSON -------------------------------------------------------------------------------------------
_MISSING = object()


def _json_pattern(text: str, budget: _Budget) -> Callable[[str], bool]:
    if not text.endswith("}"):
        raise InvalidFilterPattern("a JSON filter pattern is { expression } and must end with }")
    parser = _Parser(_tokenize(text[1:-1]), budget, numeric_strings=False)
    expression = _json_or(parser, 0)
    if parser.peek().kind != "end":
        raise InvalidFilterPattern(f"unexpected {parser.peek().text!r} in the JSON filter pattern")

    def match(message: str) -> bool:
        text = message.strip()
        if not text.startswith("{"):
            return False
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            return False
        return isinstance(document, dict) and expression(document)

    return match


def _json_joined(
    parser: _Parser,
    depth: int,
    operator: str,
    operand: Callable[[_Parser, int], Predicate],
    combine: Callable[[Any], bool],
) -> Predicate:
    """Operands joined by ``operator`` (``||``, ``&&``): one operand as it is, more combined by
    ``combine`` (``any``, ``all``) of their values."""
    operands = [operand(parser, depth)]
    while parser.peek().text == operator and parser.peek().kind == "op":
        parser.take()
        operands.append(operand(parser, depth))
    return operands[0] if len(operands) == 1 else (lambda doc: combine(each(doc) for each in operands))


def _json_or(parser: _Parser, depth: int) -> Predicate:
    return _json_joined(parser, depth, "||", _json_and, any)


def _json_and(parser: _Parser, depth: int) -> Predicate:
    return _json_joined(parser, depth, "&&", _json_factor, all)


def _json_factor(parser: _Parser, depth: int) -> Predicate:
    token = parser.take()
    if token.kind == "op" and token.text == "(":
        if depth >= MAX_DEPTH:
            raise InvalidFilterPattern(f"parentheses may be nested at most {MAX_DEPTH} deep")
        inner = _json_or(parser, depth + 1)
        parser.expect(")")
        return inner
    if token.kind != "selector":
        raise InvalidFilterPattern(
            f"expected a property selector such as $.level, found {token.text or 'the end'!r}"
        )
    select = _selector(token.text)
    following = parser.take()
    keyword = following.text.upper() if following.kind == "word" else ""
    if keyword == "IS":
        what = parser.take().text.upper()
        checks: dict[str, Predicate] = {
            "NULL": lambda v: v is None,
            "TRUE": lambda v: v is True,
            "FALSE": lambda v: v is False,
        }
        if what not in checks:
            raise InvalidFilterPattern("IS takes NULL, TRUE or FALSE")
        check = checks[what]
        return lambda doc: check(select(doc))
    if keyword == "EXISTS":
        return lambda doc: select(doc) is not _MISSING
    if keyword == "NOT":
        if parser.take().text.upper() != "EXISTS":
            raise InvalidFilterPattern("NOT takes EXISTS: $.field NOT EXISTS")
        return lambda doc: select(doc) is _MISSING
    if following.kind != "op" or following.text not in _COMPARE:
        raise InvalidFilterPattern(
            f"expected =, !=, <, <=, >, >=, IS or EXISTS after {token.text}, "
            f"found {following.text or 'the end'!r}"
        )
    test = parser.value(following.text)
    return lambda doc: _selected(select(doc), test)


def _selected(value: Any, test: Predicate) -> bool:
    if value is _MISSING or isinstance(value, (dict, list)):
        return False
    return test(value)


def _selector(text: str) -> Callable[[Any], Any]:
    parts: list[str | int] = []
    for found in re.finditer(r"\.([^.\[\]]+)|\[(\d+)\]", text[1:]):
        parts.append(found.group(1) if found.group(1) is not None else int(found.group(2)))
    if not parts:
        raise InvalidFilterPattern("a property selector names a field: $.field, $.a.b or $.items[0]")
    if len(parts) > _MAX_SELECTOR_PARTS:
        raise InvalidFilterPattern(f"a property selector may have at most {_MAX_SELECTOR_PARTS} parts")

    def select(document: Any) -> Any:
        current = document
        for part in parts:
            if isinstance(part, int):
                if not isinstance(current, list) or part >= len(current):
                    return _MISSING
            elif not isinstance(current, dict) or part not in current:
                return _MISSING
            current = current[part]
        return current

    return select


# -- space-delimited --------------------------------------------------------------------------------
_FIELD = re.compile(r'"([^"]*)"|\[([^\]]*)\]|(\S+)')


def split_fields(message: str) -> list[str]:
    """A space-delimited message's fields: a ``"..."`` or ``[...]`` group is one field, unquoted."""
    return [
        next(group for group in found.groups() if group is not None) for found in _FIELD.finditer(message)
    ]


@dataclass(frozen=True)
class _Field:
    name: str  # "..." for an ellipsis
    test: Predicate | None


def _space_pattern(text: str, budget: _Budget) -> Callable[[str], bool]:
    if not text.endswith("]"):
        raise InvalidFilterPattern(
            "a space-delimited filter pattern is [field, field, ...] and must end with ]"
        )
    parser = _Parser(_tokenize(text[1:-1]), budget, numeric_strings=True)
    fields: list[_Field] = []
    while True:
        fields.append(_space_field(parser))
        if len(fields) > MAX_TERMS:
            raise InvalidFilterPattern(f"a space-delimited pattern may name at most {MAX_TERMS} fields")
        token = parser.take()
        if token.kind == "end":
            break
        if token.text != ",":
            raise InvalidFilterPattern(f"fields are separated by commas, found {token.text!r}")
    ellipses = sum(1 for field in fields if field.name == "...")
    if ellipses > 1:
        raise InvalidFilterPattern("a space-delimited pattern may use ... once")
    named = [field for field in fields if field.name != "..."]

    def match(message: str) -> bool:
        values = split_fields(message)
        if ellipses:
            cut = next(i for i, field in enumerate(fields) if field.name == "...")
            before, after = fields[:cut], fields[cut + 1 :]
            if len(values) < len(before) + len(after):
                return False
            aligned = list(zip(before, values, strict=False))
            aligned += list(zip(after, values[len(values) - len(after) :], strict=True)) if after else []
        else:
            if len(values) != len(named):
                return False
            aligned = list(zip(named, values, strict=True))
        return all(field.test is None or field.test(value) for field, value in aligned)

    return match


def _space_field(parser: _Parser) -> _Field:
    token = parser.take()
    if token.kind == "ellipsis":
        return _Field("...", None)
    if token.kind != "word":
        raise InvalidFilterPattern(f"expected a field name or ..., found {token.text or 'the end'!r}")
    name = token.text
    if parser.peek().kind != "op" or parser.peek().text in (",", ")"):
        return _Field(name, None)
    return _Field(name, _space_or(parser, name))


def _space_or(parser: _Parser, name: str) -> Predicate:
    alternatives = [_space_and(parser, name)]
    while parser.peek().text == "||":
        parser.take()
        alternatives.append(_space_and(parser, name))
    return alternatives[0] if len(alternatives) == 1 else (lambda v: any(test(v) for test in alternatives))


def _space_and(parser: _Parser, name: str) -> Predicate:
    conditions = [_space_condition(parser, name, first=True)]
    while parser.peek().text == "&&":
        parser.take()
        conditions.append(_space_condition(parser, name, first=False))
    return conditions[0] if len(conditions) == 1 else (lambda v: all(test(v) for test in conditions))


def _space_condition(parser: _Parser, name: str, *, first: bool) -> Predicate:
    """``= value`` right after the field's name; ``name = value`` after && or ||."""
    if not first or parser.peek().kind == "word":
        repeated = parser.take()
        if repeated.text != name:
            raise InvalidFilterPattern(
                f"a condition after && or || names its field again ({name}), found {repeated.text!r}"
            )
    operator = parser.take()
    if operator.kind != "op" or operator.text not in _COMPARE:
        raise InvalidFilterPattern(
            f"expected =, !=, <, <=, > or >= after {name}, found {operator.text or 'the end'!r}"
        )
    return parser.value(operator.text)
