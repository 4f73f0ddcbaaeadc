"""The API's JSON parser: DRF's, with the body's nesting bounded before Python's parser sees it.

The standard library's `json` recurses once per level, so a body of 100,000 `[` raised
RecursionError, a 500. No request of this API nests deeper than a few levels (an environment's
overrides are the deepest), so a body deeper than MAX_DEPTH is refused as a 400 that says so,
before it is parsed. The body's size is Django's DATA_UPLOAD_MAX_MEMORY_SIZE, checked before it is
read (`errors.exception_handler` answers 413).
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

from portal.services.base import InvalidInput

MAX_DEPTH = 32

# A JSON string (escapes included) or one bracket: what nesting is counted from.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


def deeper_than(text: str, limit: int) -> bool:
    """Whether `text` nests arrays and objects more than `limit` levels, read without recursion:
    linear in the text, and brackets inside strings do not count."""
    depth = 0
    for match in _TOKENS.finditer(text):
        char = match.group()[0]
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def too_deep() -> InvalidInput:
    levels = f"{MAX_DEPTH} levels"
    return InvalidInput(
        "the JSON body is nested too deep",
        [f"request: more than {levels} is not allowed; at most {levels} of arrays and objects"],
    )


class BoundedJSONParser(JSONParser):
    """JSON bodies nested at most MAX_DEPTH levels; deeper ones are a 400 before they are parsed."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding}: {exc.reason}") from None
        if deeper_than(text, MAX_DEPTH):
            raise too_deep()
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:  # unreachable under MAX_DEPTH; a 400 all the same, never a 500
            raise too_deep() from None
