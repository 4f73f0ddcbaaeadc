"""The one shape of a check, whichever report made it (R-VER-4).

Verification and health both end in a list of checks that the portal stores row by row and the
CLI prints; one type means one set of fields for both, so a field added to one cannot silently
be missing from the other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """One expectation and what was found: the fields R-VER-4 asks every check to record."""

    name: str
    requirement: str  # the R- id it proves
    passed: bool
    status: int | None  # the HTTP status, for checks that made a request
    latency_ms: float | None
    expected: str
    found: str
    # The request id the answer carried (API Gateway's `x-amzn-RequestId`, which the function logs
    # as `requestId`): what links a check to its log lines (issue 19 item 2). None without a request.
    request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["latency_ms"] = None if self.latency_ms is None else round(self.latency_ms, 2)
        return data
