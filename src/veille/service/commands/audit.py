"""Commands and queries of the audit area (handlers: `service/handlers/audit.py`)."""

from __future__ import annotations
