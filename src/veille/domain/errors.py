"""The five kinds of refusal every use case answers with: not found, conflict, invalid,
forbidden, busy.

They live in the domain so that domain rules (a workflow step, an authorization rule)
can say which kind they are without knowing about HTTP or the command line; the
entrypoints map each kind, in one place each, to a status or an exit code
(`entrypoints/api/errors.py`, `entrypoints/cli_common.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Problem:
    """One field that was refused, and why."""

    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


class VeilleError(Exception):
    """A refusal the caller can act on; `code` is machine-readable, the message says why.

    A subclass may set its own `code` (for instance `workflow`) where clients already
    read a more precise one than its kind's, and `extra`: fields its answer carries
    beside `code` and `message` (the `field` of a refused hotlist entry).
    """

    code = "error"
    extra: Mapping[str, str] = MappingProxyType({})
    # True when the use case has audited this refusal itself (a search refused for want of
    # a purpose is recorded under the search's own action): the entrypoint does not again
    audited = False

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class NotFound(VeilleError):
    """The thing named does not exist, or the caller may not know that it does."""

    code = "not_found"


class Conflict(VeilleError):
    """The request is well formed but cannot be done as things stand (a decided step,
    a name taken)."""

    code = "conflict"


class Invalid(VeilleError):
    """The input is wrong; `problems` names each refused field and why."""

    code = "invalid_request"

    def __init__(
        self,
        message: str = "",
        *,
        problems: Sequence[Problem] = (),
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.problems = tuple(problems)


class Forbidden(VeilleError):
    """The caller is known but the rules do not let them do this."""

    code = "forbidden"


class Busy(VeilleError):
    """Not done now, for lack of capacity; the same request may succeed later."""

    code = "busy"
    retry_after_s = 1
