"""Moments in Veille: aware and in UTC inside, microseconds in storage, one text form outside.

Every time the platform keeps or compares is an aware `datetime`; a naive one (no offset)
is refused, never guessed as UTC or local time. Stores keep a moment as microseconds
since the Unix epoch, UTC (`micros`/`from_micros`; SQLite's codec is
`adapters/sqlite/times.py`), and everything that leaves the server as JSON renders it
with `iso` (docs/api.md, "Times").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


class NaiveDatetime(ValueError):
    """A datetime without a time zone reached a place that keeps or compares moments."""

    def __init__(self, moment: datetime):
        super().__init__(
            f"{moment.isoformat()} has no time zone: Veille keeps only aware moments"
            " (give an offset, e.g. +00:00 or Z)"
        )


def utc(moment: datetime) -> datetime:
    """The same instant with tzinfo UTC; a naive datetime is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetime(moment)
    return moment.astimezone(UTC)


def micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch (UTC) of an aware moment; naive is refused."""
    if moment.tzinfo is None:
        raise NaiveDatetime(moment)
    return (moment - EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    """The aware UTC moment `value` microseconds after the Unix epoch."""
    return EPOCH + timedelta(microseconds=value)


def iso(moment: datetime) -> str:
    """The one JSON form of a moment: ISO 8601 in UTC with `Z`, microseconds when any
    (`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00.250000Z`), as pydantic renders it."""
    return utc(moment).isoformat().replace("+00:00", "Z")


def iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)
