"""CloudWatch and CloudWatch Logs: metrics, statistics, alarms, filter patterns, and the fixes to
moto's CloudWatch and Logs."""
