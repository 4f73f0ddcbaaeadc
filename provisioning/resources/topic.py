"""The environment's alarm topic (R-OBS-1): one SNS topic, encrypted, with its e-mail subscribers.

Encryption at rest uses the environment's customer-managed KMS key (`ctx.kms_key_arn`), not the
AWS-managed `alias/aws/sns`. This is deliberate: CloudWatch alarms publish to an encrypted topic
as the service principal `cloudwatch.amazonaws.com`, which needs kms:GenerateDataKey* and
kms:Decrypt on the topic's key. The policy of an AWS-managed key cannot be edited, so with
`alias/aws/sns` every alarm action fails ("CloudWatch Alarms does not have authorization to
access the SNS topic encryption key") and no e-mail ever arrives, while the alarm itself looks
healthy. The environment key's policy must therefore allow `cloudwatch.amazonaws.com` those two
actions (a statement in the kms_key resource, or in an operator-supplied key).

The topic policy is left at SNS's default (publish allowed to principals of the owning account,
`AWS:SourceOwner`), which is enough for CloudWatch alarms of the same account to publish; a policy
is not compared, so a hand-made policy is neither reported nor reverted.

Only `email` subscriptions are managed: one per address in `spec.alarm_emails`. An address that
is no longer in the spec is drift and is unsubscribed on update. Subscriptions of other protocols
(a chat bot, an incident tool) are someone else's and left alone. A subscription waiting for its
owner to click the confirmation link counts as present: subscribing again would only send another
confirmation mail.
"""

from __future__ import annotations

import logging
from typing import Any

from ..aws import paged_items, tag_map, tolerating_absent, unless_absent
from .base import MISSING, PRESENT, UNKNOWN, Context, FieldDiff, Observed, Resource, sync_tags, user_tags

log = logging.getLogger(__name__)

PROTOCOL = "email"
PENDING = "PendingConfirmation"  # what SNS lists as SubscriptionArn until the owner confirms
_GONE = ("Deleted",)  # listed for a short while after an unsubscribe
_NOT_FOUND = ("NotFound", "NotFoundException")
SUBSCRIPTION = "subscription:"  # state key prefix: "subscription:ops@example.com" -> PRESENT


def subscription_key(address: str) -> str:
    return f"{SUBSCRIPTION}{address}"


class AlarmTopic(Resource):
    key = "topic"
    kind = "sns-topic"
    depends_on = ("kms_key",)

    def name(self, ctx: Context) -> str:
        return ctx.names.topic

    def observe(self, ctx: Context) -> Observed | None:
        """Three reads on the deterministic ARN; CreateTopic is never used as a lookup (it mutates)."""
        sns = ctx.client("sns")
        arn = ctx.topic_arn
        attributes = unless_absent(lambda: sns.get_topic_attributes(TopicArn=arn)["Attributes"], *_NOT_FOUND)
        if attributes is None:
            return None
        subscriptions = _email_subscriptions(sns, arn)
        tags = tag_map(sns.list_tags_for_resource(ResourceArn=arn).get("Tags", []))
        state: dict[str, Any] = {
            "KmsMasterKeyId": attributes.get("KmsMasterKeyId", ""),
            "tags": user_tags(tags),
        }
        state.update({subscription_key(address): PRESENT for address in subscriptions})
        # The subscription ARNs are what update needs to unsubscribe; dependents only use "arn".
        return Observed(state=state, attrs={"arn": arn, "subscription_arns": subscriptions})

    def desired(self, ctx: Context) -> dict[str, Any]:
        state: dict[str, Any] = {"KmsMasterKeyId": ctx.kms_key_arn, "tags": ctx.tag_dict}
        state.update({subscription_key(address): PRESENT for address in ctx.spec.alarm_emails})
        return state

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        """Attributes and tags go with CreateTopic, so a crash can leave at worst missing subscribers,
        which the next run's observe reports and update adds."""
        key_id = desired["KmsMasterKeyId"]
        if key_id == UNKNOWN:
            raise RuntimeError("the alarm topic needs the environment's KMS key, which does not exist yet")
        sns = ctx.client("sns")
        arn = sns.create_topic(
            Name=ctx.names.topic, Attributes={"KmsMasterKeyId": key_id}, Tags=ctx.tag_list()
        )["TopicArn"]
        for address in _addresses(desired):
            _subscribe(sns, arn, address)
        return {"arn": arn}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        sns = ctx.client("sns")
        arn = observed.attrs["arn"]
        changed = {d.field: d for d in diffs}
        if "KmsMasterKeyId" in changed:
            sns.set_topic_attributes(
                TopicArn=arn, AttributeName="KmsMasterKeyId", AttributeValue=desired["KmsMasterKeyId"]
            )
        if "tags" in changed:
            sync_tags(observed, desired, sns.tag_resource, sns.untag_resource, ResourceArn=arn)
        for name, finding in changed.items():
            if not name.startswith(SUBSCRIPTION):
                continue
            address = name[len(SUBSCRIPTION) :]
            if finding.wanted == PRESENT:
                _subscribe(sns, arn, address)
            elif finding.wanted == MISSING:
                _unsubscribe(sns, address, observed.attrs.get("subscription_arns", {}).get(address, ""))
        return {"arn": arn}

    def delete(self, ctx: Context, observed: Observed) -> None:
        """DeleteTopic removes the topic's subscriptions with it, and is idempotent."""
        with tolerating_absent(*_NOT_FOUND):
            ctx.client("sns").delete_topic(TopicArn=observed.attrs["arn"])

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"alarm_topic_arn": attrs.get("arn", ctx.topic_arn)}


def _addresses(state: dict[str, Any]) -> list[str]:
    return sorted(
        k[len(SUBSCRIPTION) :] for k, v in state.items() if k.startswith(SUBSCRIPTION) and v == PRESENT
    )


def _email_subscriptions(sns: Any, topic_arn: str) -> dict[str, str]:
    """address -> SubscriptionArn ("PendingConfirmation" while unconfirmed) of the e-mail subscribers."""
    found: dict[str, str] = {}
    for sub in paged_items(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic_arn):
        if sub.get("Protocol") != PROTOCOL or sub.get("SubscriptionArn") in _GONE:
            continue
        # A confirmed ARN wins over a pending duplicate: it is the one that can be unsubscribed.
        if found.get(sub["Endpoint"], PENDING) == PENDING:
            found[sub["Endpoint"]] = sub["SubscriptionArn"]
    return found


def _subscribe(sns: Any, topic_arn: str, address: str) -> None:
    """SNS mails a confirmation link; alarms reach the address only after its owner clicks it."""
    sns.subscribe(TopicArn=topic_arn, Protocol=PROTOCOL, Endpoint=address, ReturnSubscriptionArn=True)


def _unsubscribe(sns: Any, address: str, subscription_arn: str) -> None:
    if not subscription_arn.startswith("arn:"):
        # An unconfirmed subscription has no ARN to unsubscribe; SNS deletes it after 3 days
        # unless it is confirmed. It stays reported as drift until then.
        log.warning("cannot unsubscribe %s yet: its subscription is pending confirmation", address)
        return
    with tolerating_absent(*_NOT_FOUND):
        sns.unsubscribe(SubscriptionArn=subscription_arn)


__all__ = ["PENDING", "AlarmTopic", "subscription_key"]
