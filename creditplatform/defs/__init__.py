"""The Dagster shell: thin wrappers that call the pure modules and attach metadata."""
