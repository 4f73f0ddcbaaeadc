"""API Gateway's limit on the size of a REST API request's header fields.

"Total combined size of all header values, including header names, values, any line terminators, and
whitespaces: 10240 Bytes", not adjustable (quotas for REST APIs,
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html).
Counted here as the header block the client sent: each field as ``Name: value`` plus its CRLF (the
request line and the blank line that ends the block are not header values). Private APIs have a
limit of 8000 bytes; the local cloud serves regional APIs only.

What API Gateway answers is not documented. Clients report 431 Request Header Fields Too Large
(https://backbencher.dev/solved-431-status-code-with-request-header-fields-too-large) with the text
"HTTP header is larger than 10240 bytes."
(https://ntsblog.homedev.com.au/index.php/2021/03/09/aws-api-gateway-http-header-is-larger-than-10240-bytes/);
the local cloud answers that status, with that text as the JSON ``message`` API Gateway's other
errors carry, before the request reaches an authorizer, a throttle or an integration. The answer is
not one of the gateway response types, so an API's gateway responses do not decorate it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

HEADER_LIMIT_BYTES = 10240
STATUS = 431
BODY = json.dumps({"message": f"HTTP header is larger than {HEADER_LIMIT_BYTES} bytes."}).encode()


def header_bytes(fields: Iterable[tuple[str, str]]) -> int:
    """The size of the header block these fields make: ``Name: value\\r\\n`` each, in bytes."""
    return sum(
        len(name.encode("latin-1", "replace")) + 2 + len(value.encode("latin-1", "replace")) + 2
        for name, value in fields
    )


def too_large(fields: Iterable[tuple[str, str]]) -> int | None:
    """The header block's size when it is over the limit, None when API Gateway would take it."""
    size = header_bytes(fields)
    return size if size > HEADER_LIMIT_BYTES else None
