"""Structured logs: one JSON object per line, with whatever context the caller attached.

Three producers share the format: the scoring service (request id, model version), Dagster
runs (every ``context.log`` line of an asset, with run id, job, step and partition, through
``RunLogHandler``, which ``dagster.yaml`` installs for every run of the instance), and the CLI
when ``CREDITPLATFORM_LOG_FORMAT=json``. Context travels as ``extra=`` fields, so a log
shipper indexes them without parsing prose. The standard library has no JSON formatter and
this one is short, so no dependency is added.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from creditplatform.settings import load_settings

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "dagster_meta"}


def _dagster_fields(record: logging.LogRecord) -> dict:
    """Run id, job, step and partition of a Dagster log record, and the message as written."""
    meta = getattr(record, "dagster_meta", None)
    if not isinstance(meta, dict):
        return {}
    tags = meta.get("job_tags") or {}
    return {
        "message": meta.get("orig_message") or record.getMessage(),
        "run_id": meta.get("run_id"),
        "job": meta.get("job_name"),
        "step": meta.get("step_key") or meta.get("op_name"),
        "partition": tags.get("dagster/partition"),
    }


def _jsonable(value: object) -> object:
    """The value if JSON can hold it as it is, else its text: Dagster attaches its own event
    records to error lines, which refuse to be iterated as the tuples they look like."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        json.dumps(value)
    except Exception:
        return str(value)
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_dagster_fields(record))
        line.update({k: _jsonable(v) for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class RunLogHandler(logging.Handler):
    """Dagster run log lines as JSON in ``<data dir>/logs/runs.jsonl`` (one line each).

    Installed by ``python_logs`` in ``dagster.yaml``; the file is found from the settings, so
    it follows the data dir like the instance storage does, with no variable in the YAML.
    """

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            path = load_settings().data_dir / "logs" / "runs.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:  # one write per line: O_APPEND
                handle.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def json_logging(level: int = logging.INFO, stream=None) -> None:
    """Route the root logger (ours, uvicorn's errors) to one JSON line per event."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def say(message: str, **fields: object) -> None:
    """A line for the person at the terminal (stderr): as written, or as JSON with ``fields``
    when ``CREDITPLATFORM_LOG_FORMAT=json``."""
    if load_settings().log_format == "json":
        line: dict[str, object] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "info",
            "logger": "creditplatform.cli",
            "message": message.strip(),
            **fields,
        }
        message = json.dumps(line, default=str)
    print(message, file=sys.stderr, flush=True)
