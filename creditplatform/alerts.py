"""Alerts: always appended to ``reports/alerts.jsonl``; also POSTed as JSON to a webhook if set.

A webhook that is down must not lose the alert or fail the sensor that raised it, so delivery
problems are recorded in the alert line itself.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

# A webhook that hiccups gets this many tries, waiting 0.5 s, 1 s, ... between them.
WEBHOOK_ATTEMPTS = 3


def _post(webhook_url: str, record: dict, timeout: float) -> int:
    scheme = urllib.parse.urlsplit(webhook_url).scheme
    if scheme not in ("http", "https"):  # urlopen would also read file:// and ftp://
        raise urllib.error.URLError(f"the webhook URL must be http(s), not {scheme or 'empty'}")
    request = urllib.request.Request(
        webhook_url,
        data=json.dumps(record, default=str).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    # bandit B310 (urlopen reads any scheme): the scheme is checked above.
    with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310
        return response.status


def send_alert(alerts_file: Path, webhook_url: str, alert: dict, timeout: float = 5.0) -> dict:
    record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **alert}
    if webhook_url:
        for attempt in range(WEBHOOK_ATTEMPTS):
            try:
                record["webhook_status"] = _post(webhook_url, record, timeout)
                record.pop("webhook_error", None)
                break
            except (urllib.error.URLError, TimeoutError, OSError) as err:
                record["webhook_error"] = str(err)
                if attempt + 1 < WEBHOOK_ATTEMPTS:
                    time.sleep(0.5 * 2**attempt)
        record["webhook_attempts"] = attempt + 1
    alerts_file.parent.mkdir(parents=True, exist_ok=True)
    with alerts_file.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=str) + "\n")
    return record
