"""An IAM identity-policy evaluator: is ``action`` on ``resource`` allowed by these policy documents?

moto 5.2.5 evaluates identity policies, but passes ``*`` as the resource for DynamoDB and treats
every Condition as true (``../shared/notes/moto-5.2.5-next.md`` item 4), so a policy scoped to the
wrong table ARN, or missing the index, passes locally and fails on AWS. This module follows AWS's
evaluation logic for identity-based policies of one principal
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):

- an explicit Deny in any statement wins over every Allow;
- otherwise an Allow that matches action, resource and conditions allows;
- otherwise the request is implicitly denied.

Matching (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html,
``..._resource.html``): ``Action``/``NotAction`` and ``Resource``/``NotResource`` take ``*`` (any run
of characters) and ``?`` (one character); actions compare case-insensitively, resources exactly.

Conditions (``..._condition_operators.html``): ``StringEquals``, ``StringNotEquals``,
``StringEqualsIgnoreCase``, ``StringNotEqualsIgnoreCase``, ``StringLike``, ``StringNotLike``,
``ArnEquals``, ``ArnLike``, ``ArnNotEquals``, ``ArnNotLike``, ``Bool`` and ``Null``, each also with
the ``IfExists`` suffix. A key absent from the request makes a positive operator false and a
negated one true, as AWS does; ``...IfExists`` makes it true. Not modelled: numeric, date and IP
operators, ``ForAnyValue:``/``ForAllValues:`` set operators and policy variables (``${aws:...}``).
A statement with a condition operator not modelled is treated *deny-safe*: an Allow with it does
not apply, a Deny with it does. Resource-based policies, permissions boundaries, session policies
and SCPs are not evaluated.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

Decision = Literal["allow", "explicit_deny", "implicit_deny"]


@dataclass(frozen=True)
class Result:
    decision: Decision

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


class _UnknownOperator(Exception):
    pass


@functools.lru_cache(maxsize=1024)
def _pattern(wildcard: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in wildcard)
    return re.compile(body + r"\Z", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's ``*``/``?`` matching of a whole value (no character classes, unlike fnmatch)."""
    return _pattern(pattern, ignore_case).match(value) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _matches_any(patterns: Iterable[Any], value: str, ignore_case: bool) -> bool:
    return any(wildcard_match(str(p), value, ignore_case=ignore_case) for p in patterns)


def _element_applies(statement: Mapping[str, Any], element: str, value: str, ignore_case: bool) -> bool:
    """Does ``element`` (``Action``, ``Resource``) or its ``Not...`` form match ``value``?"""
    if element in statement:
        return _matches_any(_as_list(statement[element]), value, ignore_case)
    if "Not" + element in statement:
        return not _matches_any(_as_list(statement["Not" + element]), value, ignore_case)
    return False


def _action_applies(statement: Mapping[str, Any], action: str) -> bool:
    return _element_applies(statement, "Action", action, True)


def _resource_applies(statement: Mapping[str, Any], resource: str) -> bool:
    return _element_applies(statement, "Resource", resource, False)


_STRING_OPS = {
    "StringEquals": (lambda p, v: p == v, False),
    "StringNotEquals": (lambda p, v: p == v, True),
    "StringEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), True),
    "StringLike": (lambda p, v: wildcard_match(p, v), False),
    "StringNotLike": (lambda p, v: wildcard_match(p, v), True),
    "ArnEquals": (lambda p, v: p == v, False),
    "ArnNotEquals": (lambda p, v: p == v, True),
    "ArnLike": (lambda p, v: _arn_like(p, v), False),
    "ArnNotLike": (lambda p, v: _arn_like(p, v), True),
    "Bool": (lambda p, v: p.lower() == v.lower(), False),
}


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike compares each of the six colon-separated parts with wildcards."""
    p_parts, v_parts = pattern.split(":", 5), value.split(":", 5)
    if len(p_parts) != 6 or len(v_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(p_parts, v_parts, strict=True))


def _condition_holds(operator: str, block: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    keys = {k.lower(): v for k, v in context.items()}
    if base == "Null":
        # "true": the key must be absent; "false": present.
        return all(
            any(str(p).lower() == ("false" if k.lower() in keys else "true") for p in _as_list(w))
            for k, w in block.items()
        )
    if base not in _STRING_OPS:
        raise _UnknownOperator(operator)
    compare, negated = _STRING_OPS[base]
    for key, wanted in block.items():
        if key.lower() not in keys:
            if if_exists or negated:
                continue
            return False
        values = [str(v) for v in _as_list(keys[key.lower()])]
        hit = any(compare(str(p), v) for p in _as_list(wanted) for v in values)
        if hit == negated:
            return False
    return True


def _conditions_hold(statement: Mapping[str, Any], context: Mapping[str, Any], deny: bool) -> bool:
    conditions = statement.get("Condition") or {}
    try:
        return all(_condition_holds(op, block, context) for op, block in conditions.items())
    except _UnknownOperator:
        return deny  # deny-safe: an unmodelled operator never grants, and never lifts a Deny


def action_applies(statement: Mapping[str, Any], action: str) -> bool:
    """Does the statement's ``Action``/``NotAction`` cover ``action``? (trust policies have no Resource)"""
    return _action_applies(statement, action)


def conditions_hold(statement: Mapping[str, Any], context: Mapping[str, Any], deny: bool) -> bool:
    """Does the statement's ``Condition`` hold in ``context``? Deny-safe on unmodelled operators."""
    return _conditions_hold(statement, context, deny)


def default_versions(managed_policies: Mapping[str, Any]) -> list[Any]:
    """The document of the default version of each attached managed policy (moto's IAM objects)."""
    return [v.document for p in managed_policies.values() for v in p.versions if v.is_default_version]


def parse_documents(raw: Iterable[Any]) -> list[dict[str, Any]]:
    """Policy documents as IAM holds them (a dict, JSON text or URL-encoded JSON text) as dicts;
    a document that is not a JSON object is left out."""
    parsed = []
    for document in raw:
        text = document if isinstance(document, str) else json.dumps(document)
        try:
            value = json.loads(text)
        except ValueError:
            value = json.loads(unquote(text))
        if isinstance(value, dict):
            parsed.append(value)
    return parsed


def statements(policies: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for policy in policies:
        found.extend(s for s in _as_list(policy.get("Statement")) if isinstance(s, Mapping))
    return found


def evaluate(
    policies: Iterable[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
) -> Result:
    """The decision for one action on one resource under these identity-policy documents."""
    ctx = context or {}
    allowed = False
    for statement in statements(policies):
        effect = str(statement.get("Effect", ""))
        if effect not in ("Allow", "Deny"):
            continue
        deny = effect == "Deny"
        if not (_action_applies(statement, action) and _resource_applies(statement, resource)):
            continue
        if not _conditions_hold(statement, ctx, deny):
            continue
        if deny:
            return Result("explicit_deny")
        allowed = True
    return Result("allow" if allowed else "implicit_deny")
