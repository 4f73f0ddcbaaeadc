"""The catalogue: which resources an environment is made of, and what each depends on."""

from __future__ import annotations

from ..spec import EnvironmentSpec
from .base import Resource


def resources_for(spec: EnvironmentSpec) -> list[Resource]:
    """Every managed resource of one environment, in no particular order (the graph orders them)."""
    from .alarms import Alarms
    from .alias import LiveAlias
    from .apigw_account import ApiGatewayAccount
    from .artifact_bucket import ArtifactBucket
    from .authorizer import authorizer_resources
    from .dashboard import Dashboard
    from .dlq import DeadLetterQueue
    from .function import Function
    from .kms_key import KmsKey
    from .log_group import access_log_group, function_log_group
    from .permission import InvokePermission
    from .rest_api import RestApi
    from .role import FunctionRole
    from .signing_secret import SigningSecret
    from .table import Table
    from .topic import AlarmTopic
    from .usage_plan import UsagePlan
    from .user_pool import UserPool

    resources: list[Resource] = [
        Table(),
        function_log_group(),
        access_log_group(),
        DeadLetterQueue(),
        FunctionRole(),
        ArtifactBucket(),
        Function(),
        LiveAlias(),
        ApiGatewayAccount(),
        RestApi(),
        UsagePlan(),
        InvokePermission(),
        AlarmTopic(),
        Alarms(),
        Dashboard(),
        # R-AUTH-1: every mode's resources are listed in every mode; each says whether the spec
        # wants it, so a mode switch deletes the old mode's and teardown finds them all.
        SigningSecret(),
        *authorizer_resources(),
        UserPool(),
    ]
    if spec.kms_key_arn is None:
        resources.insert(0, KmsKey())
    resources.extend(network_resources(spec))  # vpc mode only (R-NET-1, R-NET-2)
    return resources


def network_resources(spec: EnvironmentSpec) -> list[Resource]:
    """The network resources of a spec: in public mode the managed ones too, none of them wanted,
    so that a provisioned vpc-mode environment set back to public loses its network on the next
    apply, and its teardown finds it. (Here rather than in network.py: the security group and the
    endpoint build on network.py's helpers, so network.py cannot name them without a cycle.)"""
    from .network import AdoptedSubnets, AdoptedVpc, RouteTable, Subnets, Vpc
    from .security_group import FunctionSecurityGroup
    from .vpc_endpoint import DynamoDbEndpoint

    settings = spec.settings
    if settings.network == "vpc" and settings.vpc_id:
        return [AdoptedVpc(), AdoptedSubnets(), FunctionSecurityGroup(), DynamoDbEndpoint()]
    return [Vpc(), Subnets(), RouteTable(), FunctionSecurityGroup(), DynamoDbEndpoint()]
