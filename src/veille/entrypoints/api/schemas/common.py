"""Models every feature shares: the documented error body and cursor pages."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """One refused field and why."""

    field: str
    reason: str
    where: str | None = Field(None, description="The line or record of an import file.")


class ErrorDetail(BaseModel):
    """`code` is stable (clients branch on it); `message` is for people."""

    # some errors carry more: `dead_letter` (ingest), `where`, `field` (imports) …
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable error code, e.g. `not_found`, `invalid_request`.")
    message: str
    problems: list[Problem] | None = Field(None, description="Each refused field, when any.")


class ErrorBody(BaseModel):
    """Every error answer of the API: `{"error": {"code", "message", …}}`."""

    error: ErrorDetail


_REASONS = {
    400: "Malformed request (not JSON, wrong shape, bad encoding)",
    401: "Not signed in, or the token is invalid, expired or revoked",
    403: "Signed in but not allowed (role, designation, training, CSRF, scope)",
    404: "No such resource (or not one the caller may see)",
    409: "Conflicts with the resource's current state",
    413: "Request body or batch too large",
    422: "A field is invalid: `problems` names each field and why",
    503: "Busy or unavailable: retry later (`Retry-After`)",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that can answer these error statuses."""
    return {s: {"model": ErrorBody, "description": _REASONS.get(s, "Error")} for s in statuses}


# ---- cursor paging -------------------------------------------------------------------

T = TypeVar("T")
K = TypeVar("K", int, str)

MAX_CURSOR_CHARS = 512


def encode_cursor(key: Any) -> str:
    """An opaque cursor for the last key of a page (URL-safe base64 of its JSON)."""
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None, kind: type[K]) -> K | None:
    """The key (of type `kind`) a cursor names, or None for the first page; a cursor this
    API did not hand out is a 422 naming the field."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        key = None
    if not isinstance(key, kind) or isinstance(key, bool):
        problems = [{"field": "query.cursor", "reason": "not a cursor this API handed out"}]
        raise HTTPException(
            422,
            detail={"code": "invalid_request", "message": "bad cursor", "problems": problems},
        )
    return key


def split_page(
    rows: Sequence[T], limit: int | None, key: Callable[[T], Any]
) -> tuple[Sequence[T], str | None]:
    """`rows` fetched with `limit + 1`: the page, and the cursor after it (None at the end)."""
    if limit is None or len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(key(page[-1]))


Cursor = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_CHARS,
        description="`next_cursor` of the previous page; omit for the first page.",
    ),
]

NEXT_CURSOR_HEADER = "X-Next-Cursor"  # for answers that are a bare list (audit records)
NEXT_CURSOR_DOC = "Pass as `cursor` for the next page; null on the last page."
