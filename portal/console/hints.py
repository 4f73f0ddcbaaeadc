"""A hint of what to do next, for the error of a failed run (the first rule that matches wins)."""

from __future__ import annotations

RULES: list[tuple[tuple[str, ...], str]] = [
    (
        ("deletion protection", "refused:"),
        "An admin must lift the deletion protection first (environment page → Teardown → Lift protection).",
    ),
    (
        ("could not send the run to the celery broker",),
        "Start the broker and a worker (`make up` does), then press the button again.",
    ),
    (
        ("worker running it was lost", "abandoned"),
        "The worker died twice. Provisioning is idempotent: run it again to finish.",
    ),
    (
        ("toomanyrequests", "throttl", "rate exceeded"),
        "API Gateway's account-wide control-plane quota was hit. Wait a minute and run again; "
        "a re-run makes only the calls still needed.",
    ),
    (
        ("cannot be assumed by lambda",),
        "IAM had not yet propagated the new role. Run again in a few seconds.",
    ),
    (
        ("the function's role was denied",),
        "The function's execution role lacks the permission named in the failed check: add that action "
        "on that resource to the role's policy (provisioning/resources/role.py) and provision again.",
    ),
    (
        ("accessdenied", "not authorized", "unauthorizedoperation"),
        "The credentials (or the environment's role ARN) lack a permission named in the error.",
    ),
    (
        ("could not connect", "endpointconnectionerror", "connection refused"),
        "The AWS endpoint does not answer: is the local cloud running (`make up`), or the network up?",
    ),
    (
        ("verification failed",),
        "The resources are in place but a check failed: read its expected and found values below; "
        "a Verify run repeats the checks.",
    ),
    (
        ("drift:",),
        "Live resources differ from the definition. Plan shows what a Provision run would change "
        "to repair it.",
    ),
    (
        ("no api endpoint or key",),
        "The environment is not provisioned (or was torn down): provision it first.",
    ),
]
DEFAULT = "Read the failed step's error above. Runs are idempotent: a re-run does only what is left."


def hint_for(error: str) -> str:
    text = (error or "").lower()
    return next((hint for needles, hint in RULES if any(n in text for n in needles)), DEFAULT)
