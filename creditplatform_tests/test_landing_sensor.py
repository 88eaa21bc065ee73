"""landing_sensor evaluated against a real instance: one request per new or changed month."""

import shutil

import dagster as dg

from creditplatform.defs.landing import landing_sensor
from creditplatform.sensor_state import tick_context
from creditplatform_tests.conftest import resources_at


def evaluate(instance, data_dir, cursor=None):
    context = tick_context(landing_sensor, instance, resources_at(data_dir), cursor=cursor)
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
    context = tick_context(landing_sensor, dg.DagsterInstance.ephemeral(), resources_at(tmp_path))
    result = landing_sensor(context)
    assert isinstance(result, dg.SkipReason)
    assert "no new, changed or retryable complete month" in result.skip_message


def test_failed_or_dead_ingest_is_retried_a_bounded_number_of_times(small_history, monkeypatch):
    """A run that died (marked failed by the reaper) is retried; then an alert, once."""
    from creditplatform.definitions import build_definitions
    from creditplatform.settings import load_settings

    monkeypatch.setenv("CREDITPLATFORM_INGEST_MAX_RETRIES", "1")
    settings = load_settings()
    shutil.copytree(small_history / "landing" / "2024-01", settings.landing_dir / "2024-01")
    instance = dg.DagsterInstance.ephemeral()
    job = build_definitions(settings).resolve_job_def("ingest_job")

    def dies():
        run = instance.create_run_for_job(job, tags={"dagster/partition": "2024-01"})
        instance.report_run_failed(run, "run worker process 4242 is gone")

    requests, cursor = evaluate(instance, settings.data_dir)
    assert [r.tags["creditplatform/trigger"] for r in requests] == ["landing"]
    dies()
    requests, cursor = evaluate(instance, settings.data_dir, cursor)
    assert [r.run_key.endswith(":retry1") for r in requests] == [True]
    assert requests[0].tags["creditplatform/trigger"] == "landing_retry"
    dies()
    requests, cursor = evaluate(instance, settings.data_dir, cursor)
    assert requests == []
    evaluate(instance, settings.data_dir, cursor)
    alerts = (settings.reports_dir / "alerts.jsonl").read_text().splitlines()
    assert [a for a in alerts if "ingest_gave_up" in a] == [alerts[-1]]  # alerted once


def test_contract_failure_is_not_retried(small_history):
    from creditplatform.definitions import build_definitions
    from creditplatform.settings import load_settings

    settings = load_settings()
    shutil.copytree(small_history / "landing" / "2024-01", settings.landing_dir / "2024-01")
    app = settings.landing_dir / "2024-01" / "application.csv"
    app.write_text(app.read_text().replace(",0,", ",-5,", 3))  # physically impossible values
    instance = dg.DagsterInstance.ephemeral()
    requests, cursor = evaluate(instance, settings.data_dir)
    result = (
        build_definitions(settings)
        .resolve_job_def("ingest_job")
        .execute_in_process(instance=instance, partition_key="2024-01", raise_on_error=False)
    )
    assert not result.success
    assert any(not e.passed for e in result.get_asset_check_evaluations())
    requests, cursor = evaluate(instance, settings.data_dir, cursor)
    assert requests == []


def test_folders_that_are_not_months_are_reported_once_and_never_block(
    small_history, _isolated_data_dir
):
    """A stray folder, a month outside the partitions and a hidden in-flight copy: the valid
    month is still requested, the two mistakes are named in the log and alerted once."""
    import json

    from creditplatform.settings import load_settings

    landing = _isolated_data_dir / "landing"
    shutil.copytree(small_history / "landing" / "2024-01", landing / "2024-01")
    for stray in ("backup", "1999-12", "2024-13", ".2024-02.partial"):
        (landing / stray).mkdir(parents=True)
    (landing / "1999-12" / "_SUCCESS").touch()
    instance = dg.DagsterInstance.ephemeral()

    requests, cursor = evaluate(instance, _isolated_data_dir)
    assert [r.partition_key for r in requests] == ["2024-01"]
    alerts_file = load_settings().reports_dir / "alerts.jsonl"
    (alert,) = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    assert alert["kind"] == "landing_folder_ignored"
    assert sorted(alert["folders"]) == ["1999-12", "2024-13", "backup"]

    context = tick_context(
        landing_sensor, instance, resources_at(_isolated_data_dir), cursor=cursor
    )
    skipped = landing_sensor(context)
    assert isinstance(skipped, dg.SkipReason)
    assert "not a YYYY-MM month: 2024-13, backup" in skipped.skip_message
    assert "outside the partition range: 1999-12" in skipped.skip_message
    assert len(alerts_file.read_text().splitlines()) == 1  # not alerted again
