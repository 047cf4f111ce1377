"""Path parameter types shared by every router, so ids are validated at the edge, once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

# Store ids are SQLite INTEGER PRIMARY KEYs: positive and at most a signed 64-bit value.
# Anything outside can name no row, and would overflow the driver (a 500) if let through.
ROW_ID_MIN = 1
ROW_ID_MAX = 2**63 - 1

RowId = Annotated[
    int,
    Path(ge=ROW_ID_MIN, le=ROW_ID_MAX, description="A stored id: a whole number from 1 to 2⁶³−1."),
]
