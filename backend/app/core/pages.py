"""Keyset pages ordered by (a timestamp, a unique key): the cursor is "<µs since the epoch>.<key>" of
the last row of the previous page. Every list endpoint of the backend's own tables uses it."""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A query parameter pattern for uuid-keyed pages: at most 17 digits (before year 5138, so the timestamp
# cannot overflow) and a well-formed uuid, so no cursor that passes it can fail the query.
TIME_CURSOR = r"^\d{1,17}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_NEWEST = (datetime(9999, 1, 1, tzinfo=UTC), "ffffffff-ffff-ffff-ffff-ffffffffffff")
_OLDEST = (EPOCH, "00000000-0000-0000-0000-000000000000")


def decode_cursor(cursor: str | None, *, newest_first: bool = True) -> tuple[datetime, str]:
    """Where the page starts: past the previous page's last row, or at the newest (oldest) end."""
    if cursor is None:
        return _NEWEST if newest_first else _OLDEST
    micros, _, key = cursor.partition(".")
    return EPOCH + timedelta(microseconds=int(micros)), key


def page(rows: Sequence, limit: int, time_column: str, key_column: str,
         item: Callable) -> tuple[list, str | None]:
    """The first `limit` of `limit + 1` fetched rows as items, and the cursor of the next page (None
    when this is the last)."""
    items = [item(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return items, None
    last = rows[limit - 1]
    return items, f"{(last[time_column] - EPOCH) // timedelta(microseconds=1)}.{last[key_column]}"
