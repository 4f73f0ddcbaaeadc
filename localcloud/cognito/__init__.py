"""Cognito user pools: the fixes to moto's pools and tokens."""
