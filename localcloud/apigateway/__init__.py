"""API Gateway: execute-api (the gateway, its authorizers, throttles and stage observer), deployment
snapshots, control-plane limits, and the fixes to moto's REST API calls."""
