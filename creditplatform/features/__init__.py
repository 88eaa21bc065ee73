"""The DuckDB SQL feature store: per-applicant features for one month (no Dagster import)."""
