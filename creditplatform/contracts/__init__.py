"""Data contracts for the landing tables: pandera schemas plus key checks (no Dagster import)."""
