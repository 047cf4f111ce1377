"""The SQLite codec of moments: every time column is INTEGER microseconds since the Unix
epoch, UTC (decision 0009). Every SQLite repository encodes and decodes through here."""

from __future__ import annotations

from datetime import UTC, datetime

from veille.domain.times import from_micros, micros


def encode(moment: datetime) -> int:
    """The column value of an aware moment; a naive datetime raises `NaiveDatetime`."""
    return micros(moment)


def decode(value: int) -> datetime:
    """The aware UTC moment of a column value."""
    return from_micros(value)


def encode_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else micros(moment)


def decode_or_none(value: int | None) -> datetime | None:
    return None if value is None else from_micros(value)


def from_iso_text(text: str | int | None) -> int | None:
    """A time column as stores before migration 0013 kept it (ISO 8601 text, any offset;
    written without one it was UTC) as its column value now. A value already in
    microseconds is kept: an integer, or the digits a TEXT column made of one (Python's
    ISO text always holds a `T`, so digits alone are never ISO). Migration 0013 calls it
    as the SQL function `veille_micros`."""
    if text is None or isinstance(text, int):
        return text
    if text.lstrip("-").isdigit():
        return int(text)
    moment = datetime.fromisoformat(text)
    return micros(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
