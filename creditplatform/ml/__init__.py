"""Splits, model pipeline, metrics, gates, registry helpers and lineage hashing (no Dagster)."""
