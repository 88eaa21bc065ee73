"""Bad scoring requests, one per way a request can break the contracts, built from good ones.

Shared by the serving tests (every case's 422 body is compared with the bodies recorded from
the service before its accept path moved to Arrow: ``bad_request_bodies.json``) and by
``benchmarks.serving`` (the current service and a baseline commit must answer each alike).

    python -m creditplatform_tests.bad_requests OUT.json   # record the bodies of this code

The recorder builds the same platform as the tests' ``platform_base`` (generated seed 5, 600
applications a month) in a temp dir, so the bodies are those of the test's own applicants.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

Change = Callable[[dict], None]


def _append_foreign_bureau(r: dict) -> None:
    r["bureau"].append(dict(r["bureau"][0], SK_ID_CURR=7))


# (name, change to one applicant) for /v1/score; each breaks exactly one rule.
SINGLE_CASES: list[tuple[str, Change]] = [
    ("table_missing", lambda r: r.pop("bureau")),
    ("column_missing", lambda r: r["application"].pop("AMT_CREDIT")),
    ("text_in_integer", lambda r: r["application"].update(CNT_CHILDREN="two")),
    ("float_in_integer", lambda r: r["application"].update(CNT_CHILDREN=1.5)),
    ("bool_in_integer", lambda r: r["application"].update(FLAG_EMP_PHONE=True)),
    ("null_integer", lambda r: r["application"].update(CNT_CHILDREN=None)),
    ("integer_overflow", lambda r: r["application"].update(CNT_CHILDREN=2**70)),
    ("number_in_text", lambda r: r["application"].update(CODE_GENDER=1)),
    ("unknown_column", lambda r: r["application"].update(NEW_COLUMN=1)),
    ("negative_income", lambda r: r["application"].update(AMT_INCOME_TOTAL=-1.0)),
    ("flag_not_binary", lambda r: r["application"].update(FLAG_EMP_PHONE=2)),
    ("ext_source_over_one", lambda r: r["application"].update(EXT_SOURCE_2=1.5)),
    ("born_in_future", lambda r: r["application"].update(DAYS_BIRTH=10)),
    ("days_employed_positive", lambda r: r["application"].update(DAYS_EMPLOYED=10)),
    ("bureau_status_unknown", lambda r: r["bureau_balance"][0].update(STATUS="Z")),
    ("pos_unknown_previous", lambda r: r["POS_CASH_balance"][0].update(SK_ID_PREV=1)),
    ("balance_unknown_bureau", lambda r: r["bureau_balance"][0].update(SK_ID_BUREAU=1)),
    ("bureau_of_another_applicant", _append_foreign_bureau),
    ("duplicate_bureau_row", lambda r: r["bureau"].append(dict(r["bureau"][0]))),
    ("child_not_a_list", lambda r: r.update(bureau={})),
]


def usable(good: list[dict]) -> dict:
    """The first applicant with rows in every table the cases change."""
    return next(r for r in good if r["POS_CASH_balance"] and r["bureau_balance"] and r["bureau"])


def single_bodies(good: list[dict]) -> dict[str, bytes]:
    """Each single case as a request body (JSON bytes), plus malformed JSON."""
    applicant = usable(good)
    bodies = {}
    for name, change in SINGLE_CASES:
        request = copy.deepcopy(applicant)
        change(request)
        bodies[name] = json.dumps(request).encode()
    bodies["json_malformed"] = b'{"application": {'
    return bodies


def batch_bodies(good: list[dict]) -> dict[str, bytes]:
    """Batch cases: one applicant twice, an empty list, one bad applicant among good ones."""
    bad = copy.deepcopy(usable(good))
    bad["application"]["AMT_CREDIT"] = -5.0
    return {
        "batch_duplicate_applicant": json.dumps({"applicants": [good[0], good[0]]}).encode(),
        "batch_empty": json.dumps({"applicants": []}).encode(),
        "batch_one_bad": json.dumps({"applicants": [good[1], bad, good[2]]}).encode(),
    }


def without_request_id(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "request_id"}


def record(out: Path) -> None:
    """Bodies of every case from this code's service on the tests' platform (see module doc)."""
    import os

    from fastapi.testclient import TestClient

    from creditplatform.cli import main
    from creditplatform.serving import app as serving_app
    from creditplatform.serving.examples import landing_requests
    from creditplatform.settings import load_settings
    from creditplatform.synthetic.generate import GenerateOptions, generate_history
    from creditplatform.warehouse.landing import land_month

    with tempfile.TemporaryDirectory() as tmp:
        source, data = Path(tmp) / "source", Path(tmp) / "data"
        os.environ |= {"CREDITPLATFORM_DATA_DIR": str(data),
                       "CREDITPLATFORM_DAGSTER_STORAGE": str(data / "dagster"),
                       "CREDITPLATFORM_MIN_TRAINING_MONTHS": "2"}  # fmt: skip
        generate_history(source, GenerateOptions(months=3, applications_per_month=600, seed=5))
        for month in ("2024-01", "2024-02"):
            land_month(source / "landing", data / "landing", month)
        assert main(["ingest"]) == 0 and main(["retrain"]) == 0
        good = landing_requests(source / "landing" / "2024-02", limit=6)
        try:
            app = serving_app.create_app(load_settings(), insecure_local=True)
        except TypeError:  # a baseline from before API keys: no keys to switch off
            app = serving_app.create_app(load_settings())
        found = {}
        with TestClient(app) as client:
            for path, bodies in (("/v1/score", single_bodies(good)),
                                 ("/v1/score/batch", batch_bodies(good))):  # fmt: skip
                for name, body in bodies.items():
                    response = client.post(path, content=body)
                    found[name] = [response.status_code, without_request_id(response.json())]
    out.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    record(Path(sys.argv[1]))
