"""landing_sensor evaluated against a real instance: one request per new or changed month."""

import shutil

import dagster as dg

from creditplatform.defs.resources import PlatformPaths
from creditplatform.defs.sensors import landing_sensor


def evaluate(instance, data_dir, cursor=None):
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"paths": PlatformPaths(data_dir=str(data_dir))},
    )
    result = landing_sensor(context)
    requests = result if isinstance(result, list) else []
    return requests, context.cursor


def test_new_month_once_then_again_only_when_content_changes(small_history, tmp_path):
    data = tmp_path / "data"
    landing = data / "landing"
    landing.mkdir(parents=True)
    instance = dg.DagsterInstance.ephemeral()

    requests, cursor = evaluate(instance, data)
    assert requests == []

    shutil.copytree(small_history / "landing" / "2024-01", landing / "2024-01")
    incomplete = landing / "2024-02"
    shutil.copytree(small_history / "landing" / "2024-02", incomplete)
    (incomplete / "_SUCCESS").unlink()

    requests, cursor = evaluate(instance, data, cursor)
    assert [r.partition_key for r in requests] == ["2024-01"]  # 2024-02 has no _SUCCESS yet
    first_key = requests[0].run_key
    assert first_key.startswith("2024-01:")
    assert requests[0].tags["creditplatform/trigger"] == "landing"

    requests, cursor = evaluate(instance, data, cursor)
    assert requests == []  # same month again: nothing

    app = landing / "2024-01" / "application.csv"
    app.write_bytes(app.read_bytes())  # re-dropped with identical content: new mtime only
    requests, cursor = evaluate(instance, data, cursor)
    assert requests == []

    lines = app.read_text().splitlines(keepends=True)
    app.write_text("".join(lines[:-1]))  # the provider re-sends the month without one row
    requests, cursor = evaluate(instance, data, cursor)
    assert [r.partition_key for r in requests] == ["2024-01"]
    assert requests[0].run_key != first_key

    (incomplete / "_SUCCESS").touch()
    requests, cursor = evaluate(instance, data, cursor)
    assert [r.partition_key for r in requests] == ["2024-02"]


def test_skip_reason_when_nothing_landed(tmp_path):
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        resources={"paths": PlatformPaths(data_dir=str(tmp_path))},
    )
    result = landing_sensor(context)
    assert isinstance(result, dg.SkipReason)
    assert "no new, changed or retryable complete month" in result.skip_message
