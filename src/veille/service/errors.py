"""The error taxonomy of the service layer: every use case refuses with one of these kinds.

Defined in `veille.domain.errors` (domain rules raise them too) and re-exported here,
where the service layer and the entrypoints import them from. Each kind is mapped to an
HTTP status in `entrypoints/api/errors.py` and to a CLI exit code in
`entrypoints/cli_common.py`, and nowhere else.
"""

from __future__ import annotations

from veille.domain.errors import Busy, Conflict, Forbidden, Invalid, NotFound, Problem, VeilleError

__all__ = ["Busy", "Conflict", "Forbidden", "Invalid", "NotFound", "Problem", "VeilleError"]
