"""The DuckDB warehouse: landing discovery, staging, contract run and atomic monthly publish."""
