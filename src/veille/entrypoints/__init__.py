"""Entrypoints: HTTP API, CLI, workers and jobs."""
