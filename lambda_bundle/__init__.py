"""The single Lambda function behind every /items route of one environment (R-FN-1).

The deployed zip holds this folder itself and Lambda is configured with the handler
``lambda_bundle.handler.lambda_handler``. Everything here uses the standard library, boto3
and the packages pinned in ``requirements.txt`` (Powertools for AWS Lambda, for the JSON logs
and the EMF metrics), which the artifact build vendors into the zip; siblings are imported
relatively, so the zip needs nothing from the rest of the repository (R-FN-2).

Environment contract (read at call time, never at import time, so tests can change it):

``TABLE_NAME``          required; the environment's DynamoDB table.
``INDEX_NAME``          GSI used for listing; default ``byCreatedAt``.
``ENVIRONMENT``         the environment suffix; added to every log line.
``LOG_LEVEL``           DEBUG/INFO/WARNING/ERROR; default INFO; unknown values mean INFO.
``CORS_ALLOW_ORIGINS``  comma-separated origins, or ``*`` (the default).
``AWS_ENDPOINT_URL``    honoured by boto3 itself (local cloud); never hard-coded here.
"""
