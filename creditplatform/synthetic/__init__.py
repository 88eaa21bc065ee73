"""Home Credit-shaped synthetic data with a known true PD (no Dagster import)."""
