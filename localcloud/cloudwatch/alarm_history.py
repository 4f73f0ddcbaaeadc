"""An alarm's history (DescribeAlarmHistory): written by the PutMetricAlarm/SetAlarmState fixes and by
the alarm evaluator alike."""

from __future__ import annotations

import json
from typing import Any

from moto.core.utils import utcnow


def record_history(alarm: Any, kind: str, summary: str, data: dict[str, Any]) -> None:
    """Append an AWS-shaped AlarmHistoryItem (DescribeAlarmHistory) to a moto alarm."""
    alarm.history.append(
        {
            "AlarmName": alarm.name,
            "AlarmType": "CompositeAlarm" if getattr(alarm, "rule", None) else "MetricAlarm",
            "Timestamp": utcnow(),
            "HistoryItemType": kind,
            "HistorySummary": summary,
            "HistoryData": json.dumps(data),
        }
    )
