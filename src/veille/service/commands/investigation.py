"""Commands and queries of investigation: searches, analyses, exports (handlers:
`service/handlers/investigation.py`)."""

from __future__ import annotations
