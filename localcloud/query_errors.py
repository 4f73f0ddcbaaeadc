"""The query protocol's error document (STS, IAM, SNS, CloudWatch...), shared by STS's sessions and
the IAM enforcement of a function's STS calls."""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


def query_error(code: str, message: str, namespace: str = STS_NAMESPACE) -> str:
    """The query protocol's error document (STS, IAM, SNS, CloudWatch...)."""
    return (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
