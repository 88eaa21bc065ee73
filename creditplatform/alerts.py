"""Alerts: always appended to ``reports/alerts.jsonl``; also POSTed as JSON to a webhook if set.

A webhook that is down must not lose the alert or fail the sensor that raised it, so delivery
problems are recorded in the alert line itself.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path


def send_alert(alerts_file: Path, webhook_url: str, alert: dict, timeout: float = 5.0) -> dict:
    record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **alert}
    if webhook_url:
        request = urllib.request.Request(
            webhook_url,
            data=json.dumps(record).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                record["webhook_status"] = response.status
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            record["webhook_error"] = str(err)
    alerts_file.parent.mkdir(parents=True, exist_ok=True)
    with alerts_file.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=str) + "\n")
    return record
