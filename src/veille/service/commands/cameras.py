"""Commands and queries of the cameras area (handlers: `service/handlers/cameras.py`)."""

from __future__ import annotations
