"""envport's Lambda TOKEN authorizer (R-AUTH-1): a second, tiny function beside the CRUD one.

Standard library and boto3 only (what the python3.12 runtime offers), and nothing of envport's:
it is built into its own artifact by the same pipeline as `lambda_bundle/`.
"""
