"""Commands and queries of the jobs area (handlers: `service/handlers/jobs.py`)."""

from __future__ import annotations
