"""docs/security.md's table of actions is `portal.services.authz.ACTIONS`, row for row: the same
actions in the same order, each with its permission (and the roles holding it), its prod
escalation, whether a read-only token may do it and whether a schedule does it. A new action, or a
changed rule, fails here until the page says so."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from portal.services import authz

DOC = Path(settings.BASE_DIR) / "docs" / "security.md"
HEADER = (
    "| action | what it is | permission (who holds it) | on a prod environment | read-only token | schedule |"
)
# the roles as the table names them, for each `who` of a Rule
WHO = {"any role": "any role", authz.OPERATOR_OR_ADMIN: "operator, admin", authz.ADMIN: "admin"}


def _rows() -> list[list[str]]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER) + 2  # past the header and its rule
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def _expected(action: str, rule: authz.Rule) -> dict[str, str]:
    prod = "the same" if rule.prod_permission is None else f"`{rule.prod_permission}` ({WHO[rule.prod_who]})"
    return {
        "action": f"`{action}`",
        "permission": f"`{rule.permission}` ({WHO[rule.who]})",
        "prod": prod,
        "read_only": "yes" if rule.read_only else "no",
        "schedule": "yes" if rule.schedule else "no",
        "below_prod": str(rule.schedule and rule.prod_permission is not None),
    }


def test_the_security_pages_actions_are_the_guards_table() -> None:
    rows = _rows()
    assert [row[0] for row in rows] == [f"`{action}`" for action in authz.ACTIONS]
    for row, (action, rule) in zip(rows, authz.ACTIONS.items(), strict=True):
        name, _what, permission, prod, read_only, schedule = row
        found = {
            "action": name,
            "permission": permission,
            "prod": prod,
            "read_only": read_only,
            "schedule": schedule.split(",")[0],
            # a schedule's teardown stops at prod (its escalation): the page says "below prod"
            "below_prod": str("below prod" in schedule),
        }
        assert found == _expected(action, rule), action
