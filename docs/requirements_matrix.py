"""Regenerate docs/requirements.md: each R- id, the code that meets it, the tests that name it.

Run from the repository root: `python docs/requirements_matrix.py`. The code column is kept by
hand below; the tests column is read from the `# R-...` comments in tests/.
"""

import ast
import collections
import pathlib
import re

code = {
    "R-ENV-1": "provisioning/spec.py (SUFFIX_RE, build_spec), provisioning/names.py; portal/models.py validates through build_spec",
    "R-ENV-2": "provisioning/spec.py (PROFILES, Settings, overrides, capacity_warnings: burst within reserved concurrency, rate within reserved concurrency / typical duration; throttle_for); table in README",
    "R-ENV-3": "provisioning/spec.py (EnvironmentSpec.tags, is_tag_value: AWS's tag characters), resources/base.py (Context.tag_list/tag_dict, repair_tags), every resource's create",
    "R-ENV-4": "each resource's outputs(); provisioning/engine.py (_outputs); resources/usage_plan.py stores the key id only",
    "R-DB-1": "provisioning/resources/table.py",
    "R-DB-2": "provisioning/resources/table.py (billing, _converge_scaling); spec.py (capacity >= 5)",
    "R-DB-3": "provisioning/resources/table.py (GSI byCreatedAt, no throughput on demand)",
    "R-DB-4": "provisioning/resources/table.py (SSE KMS, PITR, TTL, deletion protection), resources/kms_key.py",
    "R-FN-1": "lambda_bundle/handler.py; provisioning/resources/function.py (python3.12, arm64)",
    "R-FN-2": "provisioning/bundle.py (deterministic zip, import check); artifacts.py (default_artifact: lambda_bundle with its pinned requirements vendored, built once per source); resources/function.py (CodeSha256 compare)",
    "R-FN-3": "provisioning/resources/function.py (KMSKeyArn), resources/kms_key.py",
    "R-FN-4": "provisioning/resources/function.py (TracingConfig Active)",
    "R-FN-5": "provisioning/resources/dlq.py, resources/function.py (DeadLetterConfig)",
    "R-FN-6": "provisioning/resources/function.py (memory, timeout, reserved concurrency from Settings)",
    "R-FN-7": "provisioning/resources/log_group.py (function_log_group before the function)",
    "R-FN-8": "lambda_bundle/store.py (conditions), lambda_bundle/handler.py, errors.py, items.py (numbers DynamoDB can store), http.py (CORS on every response)",
    "R-FN-9": "lambda_bundle/paging.py, store.py (Query on the index, never Scan)",
    "R-FN-10": "lambda_bundle/logs.py (Powertools Logger), lambda_bundle/metrics.py (Powertools Metrics, EMF)",
    "R-IAM-1": "provisioning/resources/role.py (one Sid per statement, exact actions and ARNs)",
    "R-IAM-2": "provisioning/resources/role.py (trust policy compared)",
    "R-IAM-3": "provisioning/resources/apigw_account.py; rest_api depends on apigw_account",
    "R-API-1": "provisioning/resources/rest_api.py, rest_api_parts.py; resources/permission.py (execution ARN)",
    "R-API-2": "provisioning/resources/usage_plan.py; rest_api_parts.py (stage method settings throttling)",
    "R-API-3": "provisioning/resources/rest_api_parts.py (OPTIONS MOCK, DEFAULT_4XX/5XX); lambda_bundle/http.py",
    "R-API-4": "provisioning/resources/rest_api_parts.py (stage settings), resources/log_group.py (access log group)",
    "R-OBS-1": "provisioning/resources/topic.py; kms_key.py (CloudWatch may use the key); spec.py (is_email). Day two (Observe, R-OBS-1): provisioning/traffic.py (one GetMetricData and one DescribeAlarmHistory per view: API, function and table metrics, alarm bands), portal/services/traffic.py (markers of the portal's runs, cached views), portal/console/traffic.py and svg.py (the traffic page), manage.py metrics, /api/v1/environments/NAME/metrics/; localcloud/apigateway/stage_observer.py, localcloud/dynamodb/metrics.py (what AWS would publish)",
    "R-OBS-2": "provisioning/resources/alarms.py. Day two (Observe, R-OBS-2): provisioning/logs.py (the function's and the stage's logs, filter patterns passed through, bounded views, a request's lines), provisioning/checks.py and verify.py (each check records its request id), portal/services/logs.py, the Logs page, manage.py logs, /api/v1/environments/NAME/logs/; localcloud/cloudwatch/logs_filter.py (CloudWatch's filter-pattern grammar), localcloud/apigateway/stage_observer.py (access logs)",
    "R-OBS-3": "provisioning/resources/dashboard.py. Day two (Observe, R-OBS-3): provisioning/logs.py (errors grouped by exception and top frame of lambda_bundle/, with counts, first and last seen, versions), the Errors page, manage.py errors, /api/v1/environments/NAME/errors/",
    "R-VER-1": "provisioning/verify.py (_journey)",
    "R-VER-2": "provisioning/verify.py (_negative)",
    "R-VER-3": "provisioning/verify.py (engine drift per resource)",
    "R-VER-4": "provisioning/checks.py (Check), provisioning/verify.py",
    "R-OPS-1": "provisioning/reconcile.py, engine.py; every resource observes by name and tag; graph.py",
    "R-OPS-2": "provisioning/engine.py (drift), reconcile.py (assess), resources/base.py (compare)",
    "R-OPS-3": "provisioning/health.py",
    "R-OPS-4": "provisioning/engine.py (destroy, DestroyRefused), resources/table.py (backup); portal/services/environments.py (may_lift_protection: admin-only on every path), console teardown backs up unless declined",
    "R-OPS-5": "portal/services/schedules.py (teardown_expired_previews re-checks stage and protection; no expiry on prod, none in the past at creation)",
    "R-FLEET-1": "provisioning/ratelimit.py (token buckets per account, region and quota class: API Gateway's published quotas, per-account config; Redis Lua script or in-process; operators ahead of sweeps), provisioning/aws.py (every request passes it on before-send; adaptive retry behind it), engine.py (waits on the step); portal/fleet_limits.py, tasks.py and settings.py (runs and sweeps queues); localcloud/apigateway/control_plane_limits.py (--quotas aws); the console: ratelimit.py snapshot() (read-only, one Redis round trip) shown per account and region on the overview, a running step's live 'waiting for ... since' (portal/fleet_limits.waiting_of), and pages that stay light with a fleet (portal/console/overview.py attention first and paged, admin.py lists; bench/console.py)",
    "R-FLEET-2": "provisioning/shared_reads.py (a sweep's account-wide and widened reads, shared in Redis or the process), portal/fleet_limits.py (shared_reads per sweep)",
    "R-FLEET-3": "portal/services/schedules.py (_sweep, spread_offsets: a sweep's checks spread over the schedule's interval with jitter; the one-active-run rule skips a check still queued; a person's run supersedes a queued check), portal/tasks.py (countdown on the sweeps queue)",
    "R-REL-1": "provisioning/artifacts.py (deterministic zip by SHA-256, vendored requirements, import check), resources/artifact_bucket.py (versioned, SSE, public access blocked, TLS only, lifecycle), resources/function.py (code from S3); portal Artifact model",
    "R-REL-2": "provisioning/resources/alias.py (publish, live alias), resources/rest_api.py and permission.py (integration and permission on the alias), provisioning/release.py",
    "R-REL-3": "provisioning/release.py (Strategy, STAGE_STRATEGIES, strategy_for, parse_duration); localcloud/lambda_/aliases.py (weighted routing), localcloud/cloudwatch/alarms.py (alarm evaluation)",
    "R-REL-4": "provisioning/release.py (_journey by version, _alarm_check, _errors_check, _roll_back, _notify, _restore_latest), provisioning/verify.py (verify_version)",
    "R-REL-5": "provisioning/release.py (ReleaseState, resume); portal/runner.py (_ReleaseEvents stores the state; a resumed release keeps its record)",
    "R-REL-6": "provisioning/release.py (rollback, unchanged, _retain); portal/services/releases.py (request_release from a source environment, request_rollback)",
    "R-AUTH-1": "provisioning/spec.py (auth, auth_ttl_s, cognito_token_use), resources/authorizer.py (TOKEN authorizer function, role, log group, invoke permission), resources/signing_secret.py, resources/user_pool.py, resources/rest_api.py and rest_api_parts.py (authorizer, method authorization, API key kept), reconcile.py (unwanted resources deleted on a mode switch); authorizer_bundle/ (JWT checks, Deny never raise); provisioning/tokens.py; portal/services/environments.py (issue_token), portal/access.py; local cloud: localcloud/apigateway/authorizers.py (TOKEN authorizers, cache), cognito_auth.py, sigv4_auth.py, fixes.py (authorizer and method validation), localcloud/cognito/fixes.py (a key per pool), localcloud/iam/enforcement.py (Secrets Manager)",
    "R-AUTH-2": "provisioning/resources/rest_api_parts.py (GATEWAY_RESPONSE_TYPES: UNAUTHORIZED, ACCESS_DENIED with CORS headers); local cloud: localcloud/apigateway/gateway.py (UNAUTHORIZED, ACCESS_DENIED gateway responses, DEFAULT_4XX fallback)",
    "R-AUTH-3": "provisioning/credentials.py (a valid credential per mode, the refused ones), provisioning/verify.py (_auth_checks), provisioning/health.py (probe with the mode's credential); local cloud: localcloud/apigateway/cognito_auth.py, sigv4_auth.py (refusals: missing, malformed, expired, foreign credential)",
    "R-NET-1": "provisioning/spec.py (network, vpc_id, subnet_ids, _network_problems), resources/network.py (Vpc, Subnets in two zones, RouteTable without a way out; AdoptedVpc, AdoptedSubnets), resources/security_group.py (HTTPS to the DynamoDB prefix list only), resources/function.py (VpcConfig), resources/alias.py (a version's VpcConfig is frozen: the alias follows a switch); back to public: every network resource unwanted outside vpc mode (network_leftovers: one DescribeTags, shared in a sweep), engine.py (converging); docs/network.md; localcloud/ec2/lambda_vpc.py, localcloud/iam/vpc_reach.py",
    "R-NET-2": "provisioning/resources/vpc_endpoint.py (gateway endpoint, policy from data_access.data_grants like the role's), resources/data_access.py; localcloud/iam/vpc_reach.py (route, egress and endpoint policy enforced)",
    "R-NET-3": "provisioning/resources/network.py (eni_statements: AWSLambdaVPCAccessExecutionRole's ENI actions, scoped to the subnets, group and account/Region), resources/role.py",
    "R-NET-4": "provisioning/resources/network.py (wait_for_lambda_enis before the group and subnets go; resumable; shared adopted VPC and subnets; retire_vpc_versions after a switch to public), engine.py (destroy's eni_release_timeout_s); localcloud/ec2/lambda_vpc.py (ENIs released after a delay, DependencyViolation)",
    "R-SEC-1": "portal/services/authz.py (ACTIONS: one rule per action; authorize before anything is queued or written, for every caller; may; reach_filter), portal/tokens/reach.py (Reach: a token's stages, prod only when an admin grants it, and anchored name patterns inside them), portal/services/ (every service function calls authorize first), portal/migrations/0006_authz_token_scopes.py (old tokens narrowed, never widened); docs/security.md",
    "R-SEC-2": "provisioning/pins.py (requirements: exact pins only), provisioning/sandbox.py (pip and the import check in children: allow-listed environment, CPU, memory, file-size and wall-clock limits), provisioning/artifacts.py (zip caps from headers and while inflating, no links or special files); portal/api/parsers.py (JSON depth), middleware.py (JSON answers, request ids), uploads.py (uploads per token), waiting.py (long-polls per process and token), portal/lockout.py (failed authentications per address); authorizer_bundle/ (bounded decoding, Deny)",
    "R-SEC-3": "portal/notifications/addresses.py (URLs checked on save, addresses after resolution), webhooks.py (a pinned connection, no redirects, one deadline per attempt), tasks.py (every failure a recorded attempt), settings.py (deliveries on their own queue)",
    "R-REC-1": "provisioning/backups.py (on-demand and pre-teardown backups, the point-in-time window), provisioning/restore.py (parse_request: every problem before any AWS call; the restore into a new table, brought to spec with the table resource's own converge, checked and compared (restore_data.py), then a release-like cut-over: transitional grant, a version reading the new table, the CRUD journey before traffic, the alias, role/alarms/dashboard; RestoreState resumes a killed run; a failure before the alias moved leaves the live table serving), provisioning/retained.py (the replaced table kept, tagged and deletion-protected; swept after its retention; torn down after a backup), names.py and spec.py (the physical table the environment serves from); portal/services/restore.py (the one guard, one run of the environment), portal/runner.py (_restore, the current table recorded as soon as the alias moves), manage.py restore, /api/v1/environments/NAME/restore/, the console's Backups page (retained tables, restore form), portal/tasks.py (the hourly sweep); localcloud/dynamodb/fixes.py (item history: restores return what AWS would, CREATING first); bench/restore.py",
    "R-REC-2": "provisioning/restore.py (operation clone: another environment's table of the same region into a non-prod one, --mask names checked), provisioning/restore_data.py (mask_table: HMAC-SHA256 pseudonyms under a per-clone key, stable within a clone, idempotent); portal/services/restore.py (clone_data asked of the source: cloning from prod is an admin's; same account)",
    "R-COST-1": "provisioning/pricing/ (dated price table per region, each row's source; refresh from the Price List API), provisioning/cost.py (fixed cost counted from the graph, usage from the environment's own metrics, quantity x price lines), provisioning/actuals.py (Cost Explorer by the Environment tag); portal/costs/ (stored by an hourly sweep; roll-ups by owner, cost centre and stage; budgets at 80 and 100 %; idle previews; the overview's column, the environment page, the cost-centre page), manage.py cost and prices, /api/v1/.../cost/ and /api/v1/costs/; docs/cost.md",
}
m = collections.defaultdict(list)
for p in sorted(pathlib.Path("tests").rglob("test_*.py")):
    src = p.read_text()
    tree = ast.parse(src)
    lines = src.splitlines()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            while start > 0 and lines[start - 1].lstrip().startswith("#"):  # comments just above it
                start -= 1
            body = "\n".join(lines[start : node.end_lineno])
            for rid in sorted(set(re.findall(r"R-[A-Z]+-\d+", body))):
                m[rid].append(f"`{p}::{node.name}`")
out = [
    "# Requirements matrix",
    "",
    "Every id of `../shared/REQUIREMENTS.md`, the code that meets it and the tests that prove it",
    "(tests name the ids they prove in comments; `python docs/requirements_matrix.py` lists them).",
    "",
    "| id | code | tests |",
    "|---|---|---|",
]
for rid, where in code.items():
    tests = m.get(rid, [])
    shown = "<br>".join(tests[:4]) + (f"<br>(+{len(tests) - 4} more)" if len(tests) > 4 else "")
    out.append(f"| {rid} | {where} | {shown or '**not yet proved**'} |")
pathlib.Path("docs/requirements.md").write_text("\n".join(out) + "\n")
