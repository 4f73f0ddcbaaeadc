"""Fidelity fixes for a REST API's binaryMediaTypes, which the gateway uses to encode request bodies
and decode base64 answers (``localcloud.gateway``).

Registered in ``localcloud.fidelity.FIXES`` (imported by that module) and installed by
``fidelity.apply()``. AWS's behaviour: https://docs.aws.amazon.com/apigateway/latest/api/API_CreateRestApi.html
(``binaryMediaTypes`` in the request) and
https://docs.aws.amazon.com/apigateway/latest/api/patch-operations.html#UpdateRestApi-Patch (a media type
is added or removed by ``/binaryMediaTypes/{type}``, the ``/`` in the type escaped as ``~1``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from moto.apigateway import models as apigw_models
from moto.apigateway.responses import APIGatewayResponse

from .fidelity import PatchOps, _fix, _patch

BINARY_PREFIX = "/binaryMediaTypes/"


def _media_type(path: str) -> str:
    return path[len(BINARY_PREFIX) :].replace("~1", "/").replace("~0", "~")


@_fix(
    "apigateway-binary-media-types",
    "CreateRestApi ignores binaryMediaTypes; UpdateRestApi add/remove /binaryMediaTypes/{type} reads the "
    "op's value (absent on AWS) instead of the type in the path, so nothing is added.",
    "CreateRestApi stores binaryMediaTypes; add and remove take the media type from the path "
    "(image~1png is image/png); replace swaps the type in the path for the value.",
)
def _fix_binary_media_types() -> None:
    """Wrap CreateRestApi's response handler and RestAPI.apply_patch_operations for binaryMediaTypes."""

    def make_create(orig: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(orig)
        def create_rest_api(self: Any) -> Any:
            status, headers, body = orig(self)
            wanted = self._get_param("binaryMediaTypes")
            if status == 200 and isinstance(wanted, list) and wanted:
                created = json.loads(body)
                api = self.backend.apis[created["id"]]
                api.binaryMediaTypes = [str(t) for t in wanted]
                body = json.dumps(api.to_dict())
            return status, headers, body

        return create_rest_api

    def make_patch(orig: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(orig)
        def apply_patch_operations(self: Any, patch_operations: PatchOps) -> None:
            rest = []
            types = list(self.binaryMediaTypes or [])
            for op in patch_operations or []:
                path, kind = str(op.get("path") or ""), op.get("op")
                if not path.startswith(BINARY_PREFIX) or kind not in ("add", "remove", "replace"):
                    rest.append(op)
                    continue
                media = _media_type(path)
                if kind == "add" and media not in types:
                    types.append(media)
                elif kind == "remove" and media in types:
                    types.remove(media)
                elif kind == "replace":
                    value = str(op.get("value") or "")
                    types = [value if t == media else t for t in types]
            self.binaryMediaTypes = types
            orig(self, rest)

        return apply_patch_operations

    _patch(APIGatewayResponse, "create_rest_api", make_create)
    _patch(apigw_models.RestAPI, "apply_patch_operations", make_patch)
