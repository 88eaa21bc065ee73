"""What the scoring service promises beyond a PD: features bit for bit the store's, the same
422 bodies as before its Arrow accept path, callers it knows, a compiled champion it trusts only
when verified, and an OpenAPI description that validates the README's example."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import duckdb
import jsonschema
import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from creditplatform.cli import main
from creditplatform.features.catalog import FEATURE_SCHEMA_VERSION, NUMERIC_FEATURES
from creditplatform.features.store import STORE, build_month
from creditplatform.homecredit import TABLE_NAMES, TABLES
from creditplatform.ml.registry import (
    CHAMPION,
    Registry,
    load_explained,
    log_pd_model,
    register,
)
from creditplatform.serving.api_keys import KeyStore
from creditplatform.serving.app import create_app
from creditplatform.serving.applicants import OnlineFeatures
from creditplatform.serving.examples import landing_requests
from creditplatform.settings import REPO_ROOT, load_settings
from creditplatform.warehouse.ingest import ingest_month
from creditplatform_tests.bad_requests import (
    batch_bodies,
    single_bodies,
    without_request_id,
)
from creditplatform_tests.test_serving import MONTH

RECORDED = Path(__file__).with_name("bad_request_bodies.json")


def store_month(warehouse: Path, month: str = MONTH) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.execute(f"SELECT * FROM {STORE} WHERE month = ?", [month]).df()
    return frame.set_index("SK_ID_CURR", drop=False)


def differing_cells(online: pd.DataFrame, stored: pd.DataFrame) -> dict[str, int]:
    """Numeric features whose bits differ (NaN equals NaN), and categories that differ."""
    stored = stored.loc[online["SK_ID_CURR"].to_numpy()]
    found = {}
    for column in online.columns:
        if column in ("month", "feature_schema_version") or column not in stored.columns:
            continue
        mine, theirs = online[column].to_numpy(), stored[column].to_numpy()
        if column in NUMERIC_FEATURES:
            a, b = mine.astype(np.float64), theirs.astype(np.float64)
            same = (a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))
        else:
            same = np.array(
                [x == y or (pd.isna(x) and pd.isna(y)) for x, y in zip(mine, theirs, strict=True)]
            )
        if not same.all():
            found[column] = int((~same).sum())
    return found


def test_online_features_are_the_stores_bit_for_bit_alone_and_in_passes(platform: Path):
    """Every applicant of the month: alone, in passes of 8 and of all 600 (the issue's case:
    float sums over the applicant's bureau rows once differed in the last bit)."""
    requests = landing_requests(platform)
    stored = store_month(load_settings().warehouse_path)
    online = OnlineFeatures()
    try:
        alone = pd.concat([online.compute([r]) for r in requests], ignore_index=True)
        eights = pd.concat(
            [online.compute(requests[i : i + 8], True) for i in range(0, len(requests), 8)],
            ignore_index=True,
        )
        everyone = online.compute(requests, True)
    finally:
        online.close()
    assert len(alone) == len(eights) == len(everyone) == len(stored) == 600
    for frame in (alone, eights, everyone):
        assert differing_cells(frame, stored) == {}
    assert stored["BURO_AMT_CREDIT_SUM_TOTAL"].notna().sum() > 100  # the sums were exercised


def _shuffled_landing(source: Path, target: Path, seed: int) -> None:
    """The month's files with their rows in another order (the header stays first)."""
    rng = random.Random(seed)
    target.mkdir(parents=True)
    for table in TABLE_NAMES:
        lines = (source / TABLES[table].file_name).read_text().splitlines(keepends=True)
        body = lines[1:]
        rng.shuffle(body)
        (target / TABLES[table].file_name).write_text("".join([lines[0], *body]))
    (target / "_SUCCESS").write_text("")


def test_the_month_rebuilt_from_rows_in_another_order_has_the_same_bits(
    platform: Path, tmp_path: Path
):
    landing = tmp_path / "landing"
    _shuffled_landing(platform, landing / MONTH, seed=3)
    warehouse = tmp_path / "shuffled.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        assert ingest_month(con, landing, MONTH).published
        assert build_month(con, MONTH).published
    original = store_month(load_settings().warehouse_path)
    rebuilt = store_month(warehouse)
    assert differing_cells(rebuilt.reset_index(drop=True), original) == {}


def test_every_bad_request_gets_the_422_body_it_got_before_the_arrow_accept_path(
    platform: Path,
):
    """The bodies in ``bad_request_bodies.json`` were recorded from the service before this
    change (``python -m creditplatform_tests.bad_requests``); the service answers each alike
    and keeps serving."""
    recorded = json.loads(RECORDED.read_text())
    good = landing_requests(platform, limit=6)
    app = create_app(load_settings(), insecure_local=True)
    with TestClient(app) as client:
        for path, bodies in (("/v1/score", single_bodies(good)),
                             ("/v1/score/batch", batch_bodies(good))):  # fmt: skip
            for name, body in bodies.items():
                response = client.post(path, content=body)
                got = [response.status_code, without_request_id(response.json())]
                assert got == recorded[name], name
        assert client.post("/v1/score", json=good[0]).status_code == 200
    assert sum(1 for status, _ in recorded.values() if status == 422) >= 20


def test_callers_need_a_known_key_with_the_scope_and_within_their_rate(
    platform: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CREDITPLATFORM_SERVE_RATE_PER_SECOND", "0.5")
    monkeypatch.setenv("CREDITPLATFORM_SERVE_RATE_BURST", "3")
    monkeypatch.setenv("CREDITPLATFORM_SERVE_MAX_BODY_MB", "0.5")
    settings = load_settings()
    store = KeyStore(settings.api_keys_path)
    scorer_key, admin_key = store.create("origination"), store.create("ops", admin=True)
    stored = settings.api_keys_path.read_text()
    assert scorer_key not in stored and admin_key not in stored  # hashed only
    assert oct(settings.api_keys_path.stat().st_mode & 0o777) == "0o600"
    applicant = landing_requests(platform, limit=1)[0]
    scorer = {"Authorization": f"Bearer {scorer_key}"}
    admin = {"Authorization": f"Bearer {admin_key}"}
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200  # always open
        assert client.get("/ready").status_code == 200  # open by default (probes)
        missing = client.post("/v1/score", json=applicant)
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
        assert "request_id" in missing.json()
        wrong = {"Authorization": "Bearer cp_not-a-key"}
        assert client.post("/v1/score", json=applicant, headers=wrong).status_code == 401
        assert client.post("/admin/reload", headers=scorer).status_code == 403
        assert client.post("/admin/reload", headers=admin).json()["outcome"] == "unchanged"
        oversize = client.post("/v1/score", content=b"x" * 600_000, headers=admin)
        assert oversize.status_code == 413
        assert client.post("/v1/score", json=applicant, headers=scorer).status_code == 200
        # The scorer's bucket held 3: one is spent above, two more pass, the next is refused.
        statuses = [client.post("/v1/score", json=applicant, headers=scorer).status_code
                    for _ in range(3)]  # fmt: skip
        assert statuses == [200, 200, 429]
        limited = client.post("/v1/score", json=applicant, headers=scorer)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        # Another key has its own bucket; a revoked key stops at once.
        assert client.post("/v1/score", json=applicant, headers=admin).status_code == 200
        store.revoke("ops")
        assert client.post("/v1/score", json=applicant, headers=admin).status_code == 401
        metrics = client.get("/metrics").text
    assert 'status="401"' in metrics and 'status="429"' in metrics


def test_probes_can_require_a_key_too(platform: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CREDITPLATFORM_SERVE_OPEN_PATHS", "")
    settings = load_settings()
    key = KeyStore(settings.api_keys_path).create("prometheus")
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/metrics").status_code == 401
        assert client.get("/ready").status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_a_champion_whose_compiled_form_disagrees_is_refused_and_v1_keeps_serving(
    platform: Path,
):
    """v2 is v1's pipeline whose frame step lists the numeric features in reverse order (the
    pipeline still works: its encoder selects columns by name). The compiled form, which
    assumes the encoder's output follows the frame step's order, disagrees on the probe rows,
    so the reload fails and v1 keeps answering."""
    settings = load_settings()
    registry = Registry.for_settings(settings)
    applicant = landing_requests(platform, limit=1)[0]
    app = create_app(settings, insecure_local=True)
    with TestClient(app) as client:
        assert client.post("/v1/score", json=applicant).json()["model"]["version"] == 1
        v1 = registry.champion()
        pipeline, reference = load_explained(registry, v1)
        booster = pipeline.calibrated_classifiers_[0].estimator.estimator
        frame = booster.named_steps["frame"]
        frame.kw_args = {**frame.kw_args, "numeric": tuple(reversed(frame.kw_args["numeric"]))}
        with mlflow.start_run(experiment_id=registry.experiment_id()):
            info = log_pd_model(pipeline, "model", reference)
        tags = {"feature_schema_version": str(FEATURE_SCHEMA_VERSION)}
        v2 = register(registry, info.model_uri, tags)
        registry.client().set_registered_model_alias(registry.model_name, CHAMPION, v2.version)
        reload = client.post("/admin/reload").json()
        assert reload["outcome"] == "failed" and reload["model_version"] == 1
        assert "disagrees with its pipeline" in reload["detail"]
        answer = client.post("/v1/score", json=applicant).json()
        assert answer["model"]["version"] == 1
        assert client.get("/ready").json()["model"]["version"] == 1


def _readme_example(kind: str) -> dict:
    """The JSON block after the README's ``<!-- serving-example: KIND -->`` marker."""
    text = (REPO_ROOT / "README.md").read_text()
    found = re.search(rf"<!-- serving-example: {kind} -->\s*```json\n(.*?)```", text, re.S)
    assert found, f"README has no serving-example {kind}"
    return json.loads(found.group(1))


def test_openapi_describes_the_bodies_and_validates_the_readmes_example(platform: Path):
    app = create_app(load_settings(), insecure_local=True)
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
        request = _readme_example("request")
        response = client.post("/v1/score?reasons=true", json=request)
    assert response.status_code == 200, response.text
    components = spec["components"]["schemas"]

    def validator(ref: str) -> jsonschema.Draft202012Validator:
        schema = {"$ref": ref, "components": spec["components"]}
        return jsonschema.Draft202012Validator(schema)

    operation = spec["paths"]["/v1/score"]["post"]
    request_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    ok_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    validator(request_ref).validate(request)
    validator(ok_ref).validate(_readme_example("response"))
    validator(ok_ref).validate(response.json())
    # The schema is the contract's: a float in an integer column or an unknown column fails.
    broken = json.loads(json.dumps(request))
    broken["application"]["CNT_CHILDREN"] = 1.5
    assert not validator(request_ref).is_valid(broken)
    broken = json.loads(json.dumps(request))
    broken["bureau"] = [{"SK_ID_CURR": 1}]
    assert not validator(request_ref).is_valid(broken)
    assert set(components["ApplicationRow"]["properties"]) == set(TABLES["application"].columns)
    batch = spec["paths"]["/v1/score/batch"]["post"]
    assert batch["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "BatchRequest"
    )
    assert "422" in operation["responses"] and "401" in operation["responses"]


def test_serve_keys_commands_print_a_key_once_and_never_list_it(capsys):
    assert main(["serve-keys", "create", "origination"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("cp_") and len(key) > 40
    assert main(["serve-keys", "create", "ops", "--admin"]) == 0
    capsys.readouterr()
    assert main(["serve-keys", "create", "ops"]) == 2  # a name is taken until revoked
    assert "exists" in capsys.readouterr().err
    assert main(["serve-keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert "origination\tscore\t" in listed and "ops\tscore,admin\t" in listed
    assert key not in listed and key not in load_settings().api_keys_path.read_text()
    assert KeyStore(load_settings().api_keys_path).find(key).name == "origination"
    assert main(["serve-keys", "revoke", "origination"]) == 0
    assert KeyStore(load_settings().api_keys_path).find(key) is None
    assert main(["serve-keys", "revoke", "origination"]) == 2


def test_insecure_local_refuses_an_address_other_than_loopback(capsys):
    assert main(["serve", "--insecure-local", "--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err
