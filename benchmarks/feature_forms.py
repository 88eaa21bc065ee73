"""The feature SQL's forms side by side: why float sums add decimals, why online stacks.

On one generated month (default: a Home Credit-sized 25,626 applications) loaded into DuckDB:

- the month's feature query with float sums and means as they were (order-dependent), as
  ``sum(x ORDER BY x)`` (exact, ordered) and as exact decimals (what the SQL files do now);
  each also run on 1 and on 2 threads, to show which give the same bits either way;
- one applicant's features through a statement prepared once over Arrow slots (as the scoring
  service does), joined (``feature_query``) and stacked (``online_feature_query``).

    python -m benchmarks.feature_forms [--applications-per-month 25626] [--name feature_forms]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks.common import write_results
from creditplatform.features.store import columns_read, feature_query, online_feature_query
from creditplatform.homecredit import TABLE_NAMES, TABLES
from creditplatform.serving.applicants import ONLINE_MONTH, FeatureStatement, staged_tables
from creditplatform.serving.examples import landing_requests
from creditplatform.synthetic.generate import GenerateOptions, generate_history

_DECIMAL_SUM = re.compile(r"(sum|mean)\(CAST\((.+?) AS DECIMAL\(38, 10\)\)\)")


def variants() -> dict[str, str]:
    """The month query in each form of its float sums (the files hold the decimal one)."""
    exact = feature_query()
    return {
        "float (as before)": _DECIMAL_SUM.sub(r"\1(\2)", exact),
        "ORDER BY the value": _DECIMAL_SUM.sub(r"\1(\2 ORDER BY \2)", exact),
        "exact decimals (now)": exact,
    }


def _median_s(run, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def month_forms(warehouse: Path, month: str, repeats: int) -> dict:
    found = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for name, query in variants().items():
            results = []
            for threads in (1, 2):
                con.execute(f"SET threads = {threads}")
                results.append(
                    con.execute(f"{query} ORDER BY SK_ID_CURR", {"month": month}).fetchall()
                )
            con.execute("SET threads = 2")
            seconds = _median_s(
                lambda q=query: con.execute(q, {"month": month}).to_arrow_table(), repeats
            )
            found[name] = {
                "seconds": seconds,
                "same_bits_1_and_2_threads": results[0] == results[1],
            }
    return found


def one_applicant(month_dir: Path, repeats: int) -> dict:
    """Median ms of one prepared execution per applicant, joined and stacked."""
    applicants = landing_requests(month_dir, limit=repeats)
    tables = [staged_tables([a], batch=False) for a in applicants]
    columns = {t: ["month", *c] for t, c in columns_read().items()}
    found = {}
    for name, query in (
        ("joined", feature_query().replace("$month", f"'{ONLINE_MONTH}'")),
        ("stacked", online_feature_query(ONLINE_MONTH)),
    ):
        statement = FeatureStatement(query, columns)
        statement.features(tables[0])
        times = []
        for staged in tables:
            started = time.perf_counter()
            statement.features(staged)
            times.append(time.perf_counter() - started)
        statement.con.close()
        found[name] = round(statistics.median(times) * 1000, 2)
    return found


def run(applications: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="creditplatform-feature-forms-") as tmp:
        root = Path(tmp)
        generate_history(root, GenerateOptions(months=1, applications_per_month=applications))
        month_dir = next(p for p in sorted((root / "landing").iterdir()) if p.is_dir())
        month = month_dir.name
        warehouse = root / "warehouse.duckdb"
        with duckdb.connect(str(warehouse)) as con:
            con.execute("CREATE SCHEMA raw")
            for table in TABLE_NAMES:
                spec = TABLES[table]
                con.execute(
                    f"CREATE TABLE raw.{spec.asset_name} AS SELECT ? AS month, * FROM "
                    "read_csv(?, header = true, columns = ?)",
                    [month, str(month_dir / spec.file_name), spec.duckdb_types()],
                )
        return {
            "feature_forms": {
                "applications": applications,
                "month_query_s": month_forms(warehouse, month, repeats),
                "one_applicant_prepared_ms": one_applicant(month_dir, 40),
            }
        }


def markdown(result: dict) -> str:
    forms = result["feature_forms"]
    lines = [
        f"# Feature SQL forms ({forms['applications']:,} applications, one month)",
        "",
        "| float sums and means | month query s (median) | same bits on 1 and 2 threads |",
        "|---|---|---|",
    ]
    for name, found in forms["month_query_s"].items():
        lines.append(f"| {name} | {found['seconds']} | {found['same_bits_1_and_2_threads']} |")
    one = forms["one_applicant_prepared_ms"]
    lines += [
        "",
        f"One applicant, statement prepared over Arrow slots (median of 40): joined "
        f"{one['joined']} ms, stacked {one['stacked']} ms.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications-per-month", type=int, default=25_626)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default="feature_forms")
    args = parser.parse_args()
    result = run(args.applications_per_month, args.repeats)
    text = markdown(result)
    write_results(args.name, result, text)
    print(text)


if __name__ == "__main__":
    main()
