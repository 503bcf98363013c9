"""Prefect flows: orchestration only; every step is a pipeline function."""
