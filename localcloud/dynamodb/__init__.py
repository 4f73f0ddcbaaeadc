"""DynamoDB: point-in-time restores and the metrics AWS publishes for tables."""
