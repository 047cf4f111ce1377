"""Embedded store: SQLite in WAL mode."""
