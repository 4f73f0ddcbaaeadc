"""A logging filter that masks API key values and the portal's API tokens, whatever logger they reach
(R-ENV-4: never in a log).

The portal itself never logs a key value (it never holds one: only the key's id is stored). This
is the second line: a stray debug line of a library, a request header in an exception message.
"""

from __future__ import annotations

import logging
import re

MASK = "****"

_PATTERNS = (
    # x-api-key: VALUE / 'x-api-key': 'VALUE' / X-Api-Key=VALUE
    re.compile(r"(?i)(x-api-key['\"]?\s*[:=]\s*['\"]?)([^'\"\s,}]+)"),
    # "value": "..." next to an apiKey shape, and api_key_value / apiKeyValue fields
    re.compile(r"(?i)((?:api_?key_?value|apikeyvalue)['\"]?\s*[:=]\s*['\"]?)([^'\"\s,}]+)"),
    # the portal's own API tokens (portal.tokens.credentials): the id stays readable, the secret does not
    re.compile(r"(envp_[0-9a-f]{12}_)([A-Za-z0-9_-]+)"),
)


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
