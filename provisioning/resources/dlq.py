"""The function's dead-letter queue (R-FN-5): where failed asynchronous invocations end up.

Encryption is SQS-managed SSE (SqsManagedSseEnabled), not the environment's KMS key, on purpose:
- with a customer key, every sender (Lambda delivering a dead letter through the function's role)
  would also need kms:GenerateDataKey and kms:Decrypt on that key, widening the role's policy;
- the queue would have to wait for the key, while with SQS-managed keys it has no dependency and
  is created in parallel with the rest of the environment;
- a dead letter holds only the failed event, and it is still encrypted at rest either way.
Retention is 14 days, SQS's maximum, so a failure found after a long weekend is still there.
"""

from __future__ import annotations

from typing import Any

from ..aws import error_code, tolerating_absent
from .base import Context, FieldDiff, Observed, Resource, retry_until, sync_tags, user_tags

RETENTION_SECONDS = 14 * 24 * 60 * 60
# Attribute name -> the value we want, as SQS reports it (every attribute value is a string).
QUEUE_ATTRIBUTES: dict[str, str] = {
    "SqsManagedSseEnabled": "true",
    "MessageRetentionPeriod": str(RETENTION_SECONDS),
}
_NOT_FOUND = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
# AWS refuses to re-create a queue name for 60 s after it was deleted (a teardown then a re-run).
_DELETED_RECENTLY = ("AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently")


class DeadLetterQueue(Resource):
    key = "dlq"
    kind = "sqs-queue"

    def name(self, ctx: Context) -> str:
        return ctx.names.dlq

    def observe(self, ctx: Context) -> Observed | None:
        sqs = ctx.client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=ctx.names.dlq)["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        except Exception as exc:
            if error_code(exc) in _NOT_FOUND:
                return None
            raise
        state: dict[str, Any] = {name: attributes.get(name, "") for name in QUEUE_ATTRIBUTES}
        state["tags"] = user_tags(tags)
        return Observed(state=state, attrs={"url": url, "arn": attributes["QueueArn"]})

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {**QUEUE_ATTRIBUTES, "tags": ctx.tag_dict}

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        """CreateQueue is idempotent for equal attributes, so a re-run after a crash is harmless."""
        sqs = ctx.client("sqs")
        url = retry_until(
            ctx,
            lambda: sqs.create_queue(
                QueueName=ctx.names.dlq, Attributes=dict(QUEUE_ATTRIBUTES), tags=desired["tags"]
            )["QueueUrl"],
            lambda exc: error_code(exc) in _DELETED_RECENTLY,
            tries=10,
            first_delay=2.0,
            max_delay=15.0,
        )
        return {"url": url, "arn": ctx.dlq_arn}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        sqs = ctx.client("sqs")
        url = observed.attrs["url"]
        changed = {d.field for d in diffs}
        attributes = {name: desired[name] for name in QUEUE_ATTRIBUTES if name in changed}
        if attributes:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        if "tags" in changed:
            sync_tags(observed, desired, sqs.tag_queue, sqs.untag_queue, QueueUrl=url, tags_as=dict)
        return dict(observed.attrs)

    def delete(self, ctx: Context, observed: Observed) -> None:
        with tolerating_absent(*_NOT_FOUND):
            ctx.client("sqs").delete_queue(QueueUrl=observed.attrs["url"])


__all__ = ["QUEUE_ATTRIBUTES", "RETENTION_SECONDS", "DeadLetterQueue"]
