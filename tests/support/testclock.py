"""The clock of the time-sensitive suites (marked `wallclock`).

`make test` runs those suites again with FITMINT_TEST_CLOCK=HH:MM (00:05, 11:00, 23:55 UTC). Each settings
object a test makes (`tests.support.api.api_settings`) then starts the platform's clock at that time of day,
today (`Settings.clock_offset_seconds`: the API, the worker and the jobs all read it), and the test's own
helpers (`now()`, `a_run`) read the same clock. Without the variable the clock is the wall clock.
"""

import os
from datetime import UTC, datetime, time, timedelta

VARIABLE = "FITMINT_TEST_CLOCK"
_offset = 0.0  # the clock of the settings made last


def pinned_time() -> time | None:
    value = os.environ.get(VARIABLE)
    if not value:
        return None
    hours, minutes = (int(part) for part in value.split(":"))
    return time(hours, minutes, tzinfo=UTC)


def pin() -> float:
    """The offset that puts the platform's clock at the pinned time of day now (0 when unpinned)."""
    global _offset
    pinned = pinned_time()
    real = datetime.now(UTC)
    _offset = 0.0 if pinned is None else (datetime.combine(real.date(), pinned) - real).total_seconds()
    return _offset


def now() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=_offset)
