"""Commands and queries of the hotlists area (handlers: `service/handlers/hotlists.py`)."""

from __future__ import annotations
