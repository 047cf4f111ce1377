"""Commands and queries of the users area (handlers: `service/handlers/users.py`)."""

from __future__ import annotations
