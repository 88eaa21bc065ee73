"""Staged rollout: the canary rule alone, then challenger → shadow → canary → champion on the real
platform (Dagster, DuckDB, MLflow), a hold approved by hand, a replaced and a rejected
challenger, a tampered challenger, and shadow scoring in the service."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest

from creditplatform.cli import main
from creditplatform.definitions import build_definitions
from creditplatform.ml.batch_scoring import ensure_shadow
from creditplatform.ml.canary import CanaryLimits, compare, grade_psi, grade_shares
from creditplatform.ml.drift import psi_from_shares
from creditplatform.ml.promotion import alias_version, current_challenger
from creditplatform.ml.registry import CHAMPION, Registry, logged_model_dir
from creditplatform.ml.retrain_rules import retrain_hold
from creditplatform.ml.rollout import shadow_pairs
from creditplatform.sensor_state import tick_context
from creditplatform.serving.app import create_app
from creditplatform.serving.examples import landing_requests
from creditplatform.settings import load_settings
from creditplatform.warehouse.audit import history
from creditplatform_tests.conftest import PLATFORM_MONTH
from creditplatform_tests.test_serving import keyed

LIMITS = CanaryLimits(1000, 0.02, 0.02, 0.10, 0.05, 0.95, 0.2)


def _pds(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).beta(2, 12, n)


# --- the rule ---------------------------------------------------------------------------------


def test_the_same_pds_pass_with_every_figure_zero():
    pds = _pds(2000)
    result = compare(pds, pds.copy(), LIMITS, (1, 2), ["2024-05"], whole_month=False)
    assert result.verdict == "passed"
    assert {f.name: (f.value, f.lo, f.hi) for f in result.figures} == {
        "approval_rate_delta": (0.0, 0.0, 0.0), "mean_pd_delta": (0.0, 0.0, 0.0),
        "psi": (0.0, 0.0, 0.0), "flip_share": (0.0, 0.0, result.figures[3].hi),
    }  # fmt: skip
    assert 0 < result.figures[3].hi < 0.005  # Wilson: no flip in 2,000 is not "never"
    assert result.reasons()[0].startswith("canary passed: v2 vs champion v1 on 2000")


def test_a_shift_beyond_a_limit_holds_and_says_which():
    champion = _pds(3000)
    challenger = champion + 0.03  # every PD 3 points higher: mean-PD beyond 0.02, approvals drop
    result = compare(champion, challenger, LIMITS, (1, 2), ["2024-05"], whole_month=True)
    figures = {f.name: f for f in result.figures}
    assert result.verdict == "held"
    assert not figures["mean_pd_delta"].within
    assert figures["mean_pd_delta"].value == pytest.approx(0.03)
    assert figures["approval_rate_delta"].value < 0
    assert any("mean_pd_delta +0.0300" in r and "OUTSIDE" in r for r in result.reasons())


def test_the_interval_decides_not_the_point():
    """A point estimate inside the limit whose interval reaches past it holds: promotion needs
    evidence that the change is small, and 1,000 applicants cannot show a 1.8-point change in
    approvals is below 2 points."""
    rng = np.random.default_rng(3)
    champion = rng.uniform(0.0, 0.4, 1000)
    challenger = champion.copy()
    flip = rng.choice(np.flatnonzero(champion < 0.2), 18, replace=False)
    challenger[flip] = 0.25  # 18 approvals become declines: -1.8 points
    result = compare(champion, challenger, LIMITS, (1, 2), ["m"], whole_month=False)
    approval = next(f for f in result.figures if f.name == "approval_rate_delta")
    assert approval.value == pytest.approx(-0.018)
    assert abs(approval.value) < 0.02 < abs(approval.lo)
    assert result.verdict == "held"


def test_exactly_at_a_limit_is_within():
    champion = np.full(1000, 0.125)
    challenger = champion + 0.0625  # no variance: the interval is the point, exactly the limit
    limits = dataclasses.replace(LIMITS, max_mean_pd_delta=0.0625, max_psi=10.0)
    result = compare(champion, challenger, limits, (1, 2), ["m"], whole_month=False)
    mean_pd = next(f for f in result.figures if f.name == "mean_pd_delta")
    assert mean_pd.lo == mean_pd.hi == 0.0625 and mean_pd.within


def test_psi_is_over_pd_grades_so_isotonic_steps_moving_by_a_hair_do_not_count():
    """Calibrated PDs are steps: with hard bins a step moving by 1e-6 between two models would
    carry a tenth of the applicants across an edge; shared between neighbouring grades it moves
    next to nothing, while a real move of mass from one grade to the next is measured."""
    steps = np.repeat([0.012, 0.027, 0.045, 0.09, 0.14, 0.26], [300, 250, 200, 150, 70, 30])
    assert grade_psi(steps, steps) == 0.0
    assert grade_psi(steps, steps + 1e-6) < 1e-6
    on_grades = np.repeat([0.01, 0.02, 0.05], [500, 300, 200])  # exactly on grade centres
    assert grade_shares(on_grades)[[0, 1, 2]] == pytest.approx([0.5, 0.3, 0.2])
    moved = np.repeat([0.01, 0.02, 0.10], [500, 300, 200])  # the 5% grade moves up one grade
    expected = psi_from_shares(grade_shares(on_grades), grade_shares(moved))
    assert grade_psi(on_grades, moved) == pytest.approx(expected) and expected > 1.0


def test_too_few_applicants_wait_unless_a_whole_month_is_in():
    pds = _pds(300)
    assert compare(pds, pds, LIMITS, (1, 2), ["m"], whole_month=False).verdict == "waiting"
    assert compare(pds, pds, LIMITS, (1, 2), ["m"], whole_month=True).verdict == "passed"
    assert compare(pds[:1], pds[:1], LIMITS, (1, 2), ["m"], whole_month=True).verdict == "waiting"
    with pytest.raises(ValueError, match="paired"):
        compare(pds, pds[:10], LIMITS, (1, 2), ["m"], whole_month=True)


def test_one_candidate_at_a_time():
    assert retrain_hold(None) is None
    assert "challenger v4 is in shadow" in retrain_hold(4)
    assert "already requested (drift, 2024-10)" in retrain_hold(None, "drift, 2024-10")
    assert "challenger v4" in retrain_hold(4, "drift, 2024-10")  # the shadow is the reason


def test_no_shadow_evidence_before_any_month_is_scored():
    with duckdb.connect() as con:
        pairs, whole = shadow_pairs(con, 1, 2)
        assert (len(pairs), whole) == (0, False)
        ensure_shadow(con)
        con.execute("CREATE TABLE scores.batch_scores (month VARCHAR, SK_ID_CURR BIGINT, "
                    "pd DOUBLE, model_version INTEGER, scored_at TIMESTAMPTZ)")  # fmt: skip
        con.execute("INSERT INTO scores.batch_scores VALUES ('m', 1, 0.1, 1, now()), "
                    "('m', 2, 0.2, 1, now())")  # fmt: skip
        con.execute("INSERT INTO scores.shadow_scores VALUES ('m', 1, 0.15, 2, now())")
        pairs, whole = shadow_pairs(con, 1, 2)
        assert pairs[["champion_pd", "challenger_pd"]].values.tolist() == [[0.1, 0.15]]
        assert not whole  # one of the month's two applicants: not a whole month
        con.execute("INSERT INTO scores.shadow_scores VALUES ('m', 2, 0.25, 2, now())")
        assert shadow_pairs(con, 1, 2)[1]


# --- on the platform --------------------------------------------------------------------------


def _decisions(data: Path) -> list[tuple[int, str, str]]:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        return [(d["version"], d["decision"], json.loads(d["reasons"])[0]) for d in history(con)]


def _alerts(data: Path, kind: str) -> list[dict]:
    path = data / "reports" / "alerts.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [a for a in map(json.loads, lines) if a["kind"] == kind]


def _status() -> dict:
    from creditplatform.status import status

    settings = load_settings()
    return status(settings, Registry.for_settings(settings))


def _canary_sensor_requests() -> list[dg.RunRequest]:
    defs = build_definitions(load_settings())
    with dg.DagsterInstance.get() as instance:
        sensor = defs.resolve_sensor_def("canary_sensor")
        context = tick_context(sensor, instance, defs.resources, definitions=defs)
        return list(sensor(context) or [])


def _tamper(registry: Registry, version: int) -> None:
    files = logged_model_dir(registry.version(version).source.removeprefix("models:/"))
    pickled = next(p for p in files.rglob("model.*") if p.suffix in {".pkl", ".skops"})
    pickled.write_bytes(pickled.read_bytes() + b"\0")


def test_challenger_shadows_then_the_canary_promotes_it(platform: Path):
    """Gates passed with a champion → challenger (not champion); a newer one replaces it; the
    month's batch scores shadow-score it; the canary sensor asks for the canary; the canary
    finds the same decisions and promotes it through the journal."""
    data = load_settings().data_dir
    registry = Registry.for_settings(load_settings())
    assert main(["retrain"]) == 0
    assert alias_version(registry, CHAMPION) == 1 and current_challenger(registry) == 2
    assert main(["retrain"]) == 0
    assert current_challenger(registry) == 3
    decisions = _decisions(data)
    assert [d[:2] for d in decisions] == [(1, "promoted"), (2, "challenger"), (3, "challenger")]
    assert decisions[1][2].startswith("gates passed: v2 shadows champion v1")
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        reasons = json.loads(con.execute("SELECT reasons FROM audit.promotions WHERE version = 3"
                                         ).fetchone()[0])  # fmt: skip
    assert "replaces challenger v2, which leaves the shadow" in reasons

    assert main(["score", "--month", PLATFORM_MONTH]) == 0
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        shadow = con.execute("SELECT model_version, count(*) FROM scores.shadow_scores GROUP BY 1"
                             ).fetchall()  # fmt: skip
        champion = con.execute("SELECT DISTINCT model_version FROM scores.batch_scores").fetchall()
    assert shadow == [(3, 600)] and champion == [(1,)]
    challenger = _status()["challenger"]
    assert (challenger["version"], challenger["stage"], challenger["shadow_applicants"]) == (
        3, "shadow", 600)  # fmt: skip
    assert challenger["canary"] == "passed"  # a whole month in, the same model's decisions
    assert [r.tags["creditplatform/trigger"] for r in _canary_sensor_requests()] == ["canary"]

    assert main(["rollout"]) == 0
    assert alias_version(registry, CHAMPION) == 3 and current_challenger(registry) is None
    last = _decisions(data)[-1]
    assert last[:2] == (3, "promoted") and last[2].startswith("canary passed: v3 vs champion v1")
    assert registry.version(1).tags["archived"] == "true"
    assert _status()["challenger"] is None


def test_a_held_challenger_is_alerted_once_and_approved_by_hand(
    platform: Path, monkeypatch: pytest.MonkeyPatch
):
    """No flip at all in 600 applicants still leaves a Wilson upper bound above 0.1%: held."""
    monkeypatch.setenv("CREDITPLATFORM_CANARY_MAX_FLIP_SHARE", "0.001")
    data = load_settings().data_dir
    registry = Registry.for_settings(load_settings())
    assert main(["retrain"]) == 0
    assert main(["score", "--month", PLATFORM_MONTH]) == 0
    assert main(["rollout"]) == 0
    assert main(["rollout"]) == 0  # the same evidence again: no second row, no second alert
    assert [d[:2] for d in _decisions(data)] == [(1, "promoted"), (2, "challenger"), (2, "held")]
    assert _decisions(data)[-1][2].startswith("canary held: v2 vs champion v1 on 600")
    alerts = _alerts(data, "challenger_held")
    assert len(alerts) == 1 and alerts[0]["version"] == 2
    assert alerts[0]["figures"]["flip_share"][3] == 0.001
    assert "promote --version 2" in alerts[0]["action"]
    assert _status()["challenger"]["stage"] == "held"
    assert alias_version(registry, CHAMPION) == 1  # held: the champion still decides

    assert main(["promote", "--reject", "7", "--reason", "not the challenger"]) == 1
    assert main(["promote", "--version", "2", "--reason", "risk review: flips reviewed, ok"]) == 0
    assert alias_version(registry, CHAMPION) == 2 and current_challenger(registry) is None
    assert _decisions(data)[-1][:3] == (2, "promoted", "risk review: flips reviewed, ok")


def test_a_tampered_challenger_never_touches_the_champions_scores(platform: Path):
    data = load_settings().data_dir
    registry = Registry.for_settings(load_settings())
    assert main(["retrain"]) == 0
    _tamper(registry, 2)
    assert main(["score", "--month", PLATFORM_MONTH]) == 0  # the champion scores the month
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM scores.shadow_scores").fetchone()[0] == 0
        assert con.execute("SELECT count(*), min(model_version) FROM scores.batch_scores WHERE "
                           "month = ?", [PLATFORM_MONTH]).fetchone() == (600, 1)  # fmt: skip
    assert main(["promote", "--reject", "2", "--reason", "artifact changed on disk"]) == 0
    assert current_challenger(registry) is None and alias_version(registry, CHAMPION) == 1
    assert _decisions(data)[-1][:2] == (2, "rejected")


def _log_rows(path: Path, expected: int) -> list[tuple]:
    deadline = time.monotonic() + 60
    while True:
        with duckdb.connect(str(path), read_only=True) as con:
            rows = con.execute("SELECT request_id, model_version, pd, shadow_pd, shadow_version "
                               "FROM scored_requests ORDER BY received_at").fetchall()  # fmt: skip
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_the_service_shadows_the_challenger_without_changing_a_byte(platform: Path):
    settings = load_settings()
    request = landing_requests(platform)[0]
    headers = {"X-Request-ID": "same-request"}
    with keyed(create_app(settings)) as client:
        before = client.post("/v1/score", json=request, headers=headers).content
    assert main(["retrain"]) == 0  # v2 becomes challenger
    with keyed(create_app(settings)) as client:
        assert client.post("/v1/score", json=request, headers=headers).content == before
        metrics = client.get("/metrics").text
    assert "creditplatform_shadow_version 2.0" in metrics
    rows = _log_rows(settings.request_log_path, 2)
    assert [r[:2] for r in rows] == [("same-request", 1)] * 2
    assert rows[0][3:] == (None, None)  # no challenger then
    # v2 was fitted on the same rows with the same seed: its shadow PD is the champion's.
    assert rows[1][4] == 2 and rows[1][3] == rows[1][2]

    _tamper(Registry.for_settings(settings), 2)
    with keyed(create_app(settings)) as client:
        assert client.post("/v1/score", json=request, headers=headers).content == before
        assert "creditplatform_shadow_version 0.0" in client.get("/metrics").text
    assert _log_rows(settings.request_log_path, 3)[2][3:] == (None, None)
