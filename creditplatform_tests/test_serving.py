"""The online scoring API on a real platform: zero skew with batch scores, precise 422s,
metrics, the request log. (Uvicorn process and champion reload: ``test_serving_process``.)"""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from creditplatform.cli import main
from creditplatform.features.store import STORE
from creditplatform.ml.compiled_model import verified
from creditplatform.ml.reason_codes import score_with_reasons
from creditplatform.ml.registry import Registry, load_explained
from creditplatform.serving.api_keys import KeyStore
from creditplatform.serving.app import create_app
from creditplatform.serving.applicants import Rejected
from creditplatform.serving.batcher import MicroBatcher
from creditplatform.serving.champion import ChampionHolder
from creditplatform.serving.examples import landing_requests
from creditplatform.serving.scorer import Scorer
from creditplatform.settings import load_settings
from creditplatform_tests.conftest import PLATFORM_MONTH

MONTH = PLATFORM_MONTH


def keyed(app) -> TestClient:
    """A client of ``app`` carrying a fresh admin API key of the test's data dir."""
    key = KeyStore(load_settings().api_keys_path).create(f"test-{uuid.uuid4().hex[:8]}", admin=True)
    return TestClient(app, headers={"Authorization": f"Bearer {key}"})


def batch_scores(data: Path) -> dict[int, tuple[float, int]]:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT SK_ID_CURR, pd, model_version FROM scores.batch_scores WHERE month = ?",
            [MONTH],
        ).fetchall()
    return {sk: (pd_, version) for sk, pd_, version in rows}


def test_every_applicant_scores_online_exactly_as_in_batch(platform: Path):
    """Same rows, same champion: the API's PD equals scores.batch_scores to 1e-9 (in fact
    bit for bit), for every applicant of the month, one at a time and in batches."""
    requests = landing_requests(platform)
    expected = batch_scores(load_settings().data_dir)
    assert len(requests) == len(expected) == 600
    with keyed(create_app(load_settings())) as client:
        online = {}
        for start in range(0, len(requests), 150):
            response = client.post(
                "/v1/score/batch?reasons=false", json={"applicants": requests[start : start + 150]}
            )
            assert response.status_code == 200, response.text
            assert response.json()["model"]["version"] == 1
            online |= {r["SK_ID_CURR"]: r["pd"] for r in response.json()["results"]}
        singles = {}
        for request in requests[:25]:
            body = client.post("/v1/score", json=request).json()
            singles[body["SK_ID_CURR"]] = body["pd"]
            assert body["decision"] == ("decline" if body["pd"] >= 0.2 else "approve")
    assert set(online) == set(expected)
    assert max(abs(online[sk] - expected[sk][0]) for sk in expected) <= 1e-9
    assert all(abs(singles[sk] - expected[sk][0]) <= 1e-9 for sk in singles)


def test_reason_codes_are_the_documented_method_on_the_stored_features(platform: Path):
    """The API's reasons are ``score_with_reasons`` of the champion with its logged reference,
    applied to the applicants' feature-store rows: the same features, the same explanation."""
    requests = landing_requests(platform)[:60]
    settings = load_settings()
    with keyed(create_app(settings)) as client:
        results = client.post("/v1/score/batch", json={"applicants": requests}).json()["results"]
    registry = Registry.for_settings(settings)
    model, reference = load_explained(registry, registry.champion())
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        stored = con.execute(f"SELECT * FROM {STORE} WHERE month = ?", [MONTH]).df()
    stored = stored.set_index("SK_ID_CURR", drop=False).loc[[r["SK_ID_CURR"] for r in results]]
    compiled = verified(model, reference)
    _, expected = score_with_reasons(compiled, stored, reference, settings.serve_reason_codes)
    assert [[r["feature"] for r in result["reason_codes"]] for result in results] == [
        [r.feature for r in reasons] for reasons in expected
    ]
    assert sum(1 for result in results if result["reason_codes"]) >= len(results) // 2
    for result in results:
        contributions = [r["contribution"] for r in result["reason_codes"]]
        assert contributions == sorted(contributions, reverse=True)
        assert all(c > 0 for c in contributions)


def _problem(response) -> dict:
    assert response.status_code == 422, response.text
    return response.json()["detail"][0]


def test_bad_requests_get_a_precise_422_and_the_service_keeps_serving(
    platform: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CREDITPLATFORM_SERVE_BATCH_MAX", "5")
    good = landing_requests(platform, limit=6)
    applicant = next(r for r in good if r["POS_CASH_balance"] and r["bureau_balance"])
    with keyed(create_app(load_settings())) as client:

        def send(change) -> dict:
            request = copy.deepcopy(applicant)
            change(request)
            return _problem(client.post("/v1/score", json=request))

        found = send(lambda r: r.pop("bureau"))
        assert (found["table"], found["rule"]) == ("bureau", "table_present")
        found = send(lambda r: r["application"].pop("AMT_CREDIT"))
        assert (found["table"], found["column"], found["rule"]) == (
            "application", "AMT_CREDIT", "column_present",
        )  # fmt: skip
        found = send(lambda r: r["application"].update(CNT_CHILDREN="two"))
        assert (found["column"], found["rule"], found["value"]) == (
            "CNT_CHILDREN", "is_integer", "two",
        )  # fmt: skip
        found = send(lambda r: r["application"].update(AMT_INCOME_TOTAL=-1.0))
        assert found["message"] == (
            "application.AMT_INCOME_TOTAL: rule greater_than_or_equal_to(0) failed (value -1.0)"
        )
        found = send(lambda r: r["application"].update(FLAG_EMP_PHONE=2))
        assert (found["column"], found["rule"], found["value"]) == (
            "FLAG_EMP_PHONE", "isin([0, 1])", 2,
        )  # fmt: skip
        found = send(lambda r: r["POS_CASH_balance"][0].update(SK_ID_PREV=1))
        assert (found["table"], found["row"], found["rule"]) == (
            "POS_CASH_balance", 0, "references previous_application(SK_ID_PREV)",
        )  # fmt: skip
        found = send(lambda r: r["bureau_balance"][0].update(SK_ID_BUREAU=1))
        assert (found["table"], found["column"], found["value"]) == (
            "bureau_balance", "SK_ID_BUREAU", 1,
        )  # fmt: skip
        found = send(lambda r: r["bureau"].append(dict(r["bureau"][0], SK_ID_CURR=7)))
        assert found["rule"].startswith("belongs_to_applicant")

        found = _problem(client.post("/v1/score", content=b'{"application": {'))
        assert found["rule"] == "json_well_formed"
        found = _problem(client.post("/v1/score/batch", json={"applicants": good}))
        assert (found["column"], found["rule"], found["value"]) == (
            "applicants", "at_most_5_applicants", 6,
        )  # fmt: skip
        twice = client.post("/v1/score/batch", json={"applicants": [good[0], good[0]]})
        assert _problem(twice)["rule"] == "unique(SK_ID_CURR)"
        assert _problem(twice)["applicant"] == 0

        assert client.post("/v1/score", json=applicant).status_code == 200
        assert client.get("/ready").json()["ready"] is True


def test_metrics_count_the_requests_and_the_request_log_keeps_them(platform: Path):
    requests = landing_requests(platform, limit=4)
    app = create_app(load_settings())
    with keyed(app) as client:
        ids = [client.post("/v1/score", json=r).headers["X-Request-ID"] for r in requests[:3]]
        given = client.post(
            "/v1/score", json=requests[3], headers={"X-Request-ID": "loan-42"}
        ).json()
        client.post("/v1/score", json={"application": {}})
        text = client.get("/metrics").text
    assert given["request_id"] == "loan-42"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("creditplatform_requests_total",
                    (("path", "/v1/score"), ("status", "200")))] == 4  # fmt: skip
    assert samples[("creditplatform_requests_total",
                    (("path", "/v1/score"), ("status", "422")))] == 1  # fmt: skip
    assert samples[("creditplatform_request_seconds_count", (("path", "/v1/score"),))] == 5
    assert samples[("creditplatform_scored_pd_count", ())] == 4
    assert samples[("creditplatform_model_version", ())] == 1
    for stage in ("convert", "contracts", "features", "model"):  # one pass per request
        assert samples[("creditplatform_scoring_stage_seconds_count", (("stage", stage),))] == 4
    # Leaving the client stopped the app, which flushed the request log.
    log = load_settings().request_log_path
    with duckdb.connect(str(log), read_only=True) as con:
        logged = con.execute(
            "SELECT request_id, model_version, SK_ID_CURR FROM scored_requests ORDER BY received_at"
        ).fetchall()
    assert [row[0] for row in logged] == [*ids, "loan-42"]
    assert {row[1] for row in logged} == {1}
    assert [row[2] for row in logged] == [r["application"]["SK_ID_CURR"] for r in requests]


def test_not_ready_without_a_champion(_isolated_data_dir: Path):
    with keyed(create_app(load_settings())) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "no champion" in ready.json()["detail"]
        scored = client.post("/v1/score", json={})
        assert scored.status_code == 503


def _submit_queued(batcher: MicroBatcher, applicants: list) -> list:
    """Queue every applicant before the worker starts, so they are scored as one pass."""
    answers: list = [None] * len(applicants)

    def ask(i: int) -> None:
        try:
            answers[i] = batcher.submit(applicants[i], reasons=True)
        except Rejected as err:
            answers[i] = err

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(applicants))]
    for thread in threads:
        thread.start()
    while batcher._queue.qsize() < len(applicants):
        time.sleep(0.01)
    batcher.start()
    for thread in threads:
        thread.join()
    batcher.stop()
    return answers


def test_waiting_single_requests_are_scored_together_and_answer_alone(platform: Path):
    settings = load_settings()
    holder = ChampionHolder(Registry.for_settings(settings))
    assert holder.reload().outcome == "loaded"
    scorer = Scorer(holder, settings.serve_reason_codes)
    requests = landing_requests(platform, limit=10)
    expected = batch_scores(settings.data_dir)
    alone = [scorer.score([r], False, True) for r in requests]

    together = MicroBatcher(scorer, max_batch=100, workers=1)
    twice = _submit_queued(together, [*requests, requests[3]])  # one applicant asked twice
    # The duplicate breaks the batch's primary key: the pass falls back to one per request.
    assert together.passes == 1 + 11
    assert twice[3].pds[0] == twice[10].pds[0] == alone[3].pds[0]
    together = MicroBatcher(scorer, max_batch=100, workers=1)
    answers = _submit_queued(together, requests)
    assert together.passes == 1
    for answer, single, request in zip(answers, alone, requests, strict=True):
        sk = request["application"]["SK_ID_CURR"]
        assert answer.pds[0] == single.pds[0] == expected[sk][0]
        assert [r.feature for r in answer.reasons[0]] == [r.feature for r in single.reasons[0]]

    bad = copy.deepcopy(requests[5])
    bad["application"]["AMT_CREDIT"] = -1.0
    mixed = MicroBatcher(scorer, max_batch=100, workers=1)
    answers = _submit_queued(mixed, [*requests[:5], bad])
    assert isinstance(answers[-1], Rejected)
    assert answers[-1].problems[0].applicant is None  # the message of a single request
    assert all(a.pds[0] == expected[r["application"]["SK_ID_CURR"]][0]
               for a, r in zip(answers[:5], requests[:5], strict=True))  # fmt: skip


def test_example_request_prints_a_landed_applicant(platform: Path, capsys):
    assert main(["example-request", "--month", MONTH, "--index", "2"]) == 0
    assert json.loads(capsys.readouterr().out) == landing_requests(platform, limit=3)[2]
    assert main(["example-request", "--month", "2030-01"]) == 2


def test_the_request_log_can_be_turned_off(platform: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CREDITPLATFORM_SERVE_REQUEST_LOG", "false")
    with keyed(create_app(load_settings())) as client:
        assert client.post("/v1/score", json=landing_requests(platform, limit=1)[0]).is_success
    assert not (load_settings().request_log_path).exists()


HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.readline()
"""


def test_the_request_log_waits_while_another_process_holds_its_file(platform: Path):
    """A notebook holding requests.duckdb open for writing: scoring goes on, the rows wait in
    memory, and they are written once the other process lets go (no row lost, no error)."""
    log_file = load_settings().request_log_path
    log_file.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(log_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "holding"
        app = create_app(load_settings())
        requests = landing_requests(platform, limit=3)
        with keyed(app) as client:
            for request in requests:
                assert client.post("/v1/score", json=request).status_code == 200
            deadline = time.monotonic() + 120
            while app.state.request_log.failed_flushes == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert app.state.request_log.failed_flushes >= 1
            holder.stdin.close()
            holder.wait(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    with duckdb.connect(str(log_file), read_only=True) as con:
        ids = con.execute("SELECT SK_ID_CURR FROM scored_requests").fetchall()
    assert sorted(i for (i,) in ids) == sorted(r["application"]["SK_ID_CURR"] for r in requests)
    assert app.state.request_log.dropped == 0


def test_a_bug_is_a_500_with_its_request_id_and_the_service_goes_on(platform: Path):
    app = create_app(load_settings())
    request = landing_requests(platform, limit=1)[0]
    with keyed(app) as client:
        served = app.state.holder.current
        app.state.holder._current = dataclasses.replace(served, model=object())  # no model
        broken = client.post("/v1/score", json=request, headers={"X-Request-ID": "bug-1"})
        assert broken.status_code == 500
        assert broken.json() == {"request_id": "bug-1", "detail": "internal error"}
        app.state.holder._current = served
        assert client.post("/v1/score", json=request).status_code == 200
        metrics = client.get("/metrics").text
    assert 'creditplatform_requests_total{path="/v1/score",status="500"} 1.0' in metrics


def test_online_drift_of_a_month_scored_online_is_that_months_drift(platform: Path, capsys):
    """Score every applicant of 2024-02 through the API: judged from the request log, the
    online traffic shows exactly the drift the drift_report asset recorded for 2024-02."""
    requests = landing_requests(platform)
    with keyed(create_app(load_settings())) as client:
        for start in range(0, len(requests), 200):
            body = {"applicants": requests[start : start + 200]}
            assert client.post("/v1/score/batch?reasons=false", json=body).status_code == 200
    assert main(["online-drift", "--json"]) == 0
    online = json.loads(capsys.readouterr().out)
    with duckdb.connect(str(load_settings().warehouse_path), read_only=True) as con:
        monthly = con.execute(
            "SELECT max_psi, max_psi_feature, drifted_features, prediction_ks_pvalue "
            "FROM monitoring.drift WHERE month = ?",
            [MONTH],
        ).fetchone()
    assert online["applicants"] == 600 and online["champion_version"] == 1
    assert online["max_psi"] == pytest.approx(monthly[0], abs=1e-12)
    assert online["max_psi_feature"] == monthly[1]
    assert online["drifted_features"] == json.loads(monthly[2])
    assert online["prediction_ks_pvalue"] == pytest.approx(monthly[3], abs=1e-12)
    assert main(["online-drift", "--since", "2999-01-01"]) == 0
    assert "no applicant scored online" in capsys.readouterr().err
