"""Commands and queries of the dead letters area (handlers: `service/handlers/dead_letters.py`)."""

from __future__ import annotations
