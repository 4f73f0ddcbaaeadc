"""What a deployment of a REST API captured, so a stage serves its deployment and nothing newer.

moto's ``Deployment`` keeps only an id, a description and a date: it does not capture the API.
On AWS a deployment is a snapshot of the API's resources, methods, integrations (with their
responses), authorizers, gateway responses and settings such as binary media types, and a stage serves the
snapshot of the deployment it points at. So we take a deep snapshot at the moment the deployment is
created, by wrapping ``RestAPI.create_deployment`` (it serves both the CreateDeployment call and
CloudFormation). Snapshotting lazily on the first request to a stage would be wrong: a change made
between CreateDeployment and that first request would leak into the deployment.

The snapshot is stored on moto's Deployment object, so it goes away with it (delete, reset).
A deployment that exists without a snapshot (made before ``install()``) is snapshotted when first
seen, which is the best that can be done for it.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
from typing import Any

SNAPSHOT_ATTR = "_localcloud_snapshot"
_install_lock = threading.Lock()


def snapshot_api(api: Any) -> dict[str, Any]:
    resources = []
    for resource in list(api.resources.values()):
        resources.append(
            {
                "id": resource.id,
                "path": resource.get_path(),
                "methods": {
                    verb: copy.deepcopy(method.to_json())
                    for verb, method in list(resource.resource_methods.items())
                },
            }
        )
    return {
        "taken_at": time.time(),
        "resources": resources,
        "gateway_responses": {
            kind: copy.deepcopy(response.to_json()) for kind, response in list(api.gateway_responses.items())
        },
        # Authorizers are deployed with the API: a changed TTL or identity source takes effect on
        # the next deployment (apigateway-enable-cognito-user-pool.html: "redeploy your API").
        "authorizers": {
            authorizer_id: copy.deepcopy(authorizer.to_json())
            for authorizer_id, authorizer in list(api.authorizers.items())
        },
        "binary_media_types": list(api.binaryMediaTypes or []),
        "api_key_source": api.api_key_source or "HEADER",
    }


def install() -> None:
    """Wrap moto's RestAPI.create_deployment so that each new deployment carries a snapshot.
    Idempotent; wraps whatever is installed at the time (so call it after fidelity fixes)."""
    from moto.apigateway.models import RestAPI

    with _install_lock:
        current = RestAPI.create_deployment
        if getattr(current, "_localcloud_snapshots", False):
            return

        @functools.wraps(current)
        def create_deployment(self: Any, *args: Any, **kwargs: Any) -> Any:
            deployment = current(self, *args, **kwargs)
            setattr(deployment, SNAPSHOT_ATTR, snapshot_api(self))
            return deployment

        create_deployment._localcloud_snapshots = True  # type: ignore[attr-defined]
        RestAPI.create_deployment = create_deployment  # type: ignore[method-assign]  # on purpose


def deployment_snapshot(api: Any, deployment_id: str | None) -> dict[str, Any] | None:
    if not deployment_id:
        return None
    deployment = api.deployments.get(deployment_id)
    if deployment is None:
        return None
    snapshot = getattr(deployment, SNAPSHOT_ATTR, None)
    if snapshot is None:
        snapshot = snapshot_api(api)
        setattr(deployment, SNAPSHOT_ATTR, snapshot)
    return snapshot
