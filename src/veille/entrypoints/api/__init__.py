"""HTTP API (FastAPI, OpenAPI)."""
