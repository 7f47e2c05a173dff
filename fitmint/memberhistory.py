"""A member's workout history and the features derived from it: one definition of each, for every reader.

The feature store's `member_history` view (recommend/) stores the member's last 60 accepted workouts as four
aligned arrays (`recent_starts`, `recent_activities`, `recent_distance_m`, `recent_duration_s`, newest first)
as of the row's time; the windowed features "as of now" are derived here from those arrays (a stored 7-day
count would be stale for a member who stopped training). The workout suggestions, the product model's cold
start (`activity_mix`) and its training read them through this module, and so does the anti-cheat model
(backend/app/fitness/fraud/features.py) for its member-history features (how many recent workouts, the share
of the same activity, days since the last one, workouts in the last 7 days), from the member's history as it
stands when a workout is scored: one definition, whichever store the sessions come from.

Days are UTC calendar days (the feature store knows no member's time zone); a week starts on Monday.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DAY = 86_400.0
ACTIVITIES = ("run", "walk", "hike", "cycle", "swim", "row", "strength", "yoga")
RECENT_SESSIONS = 60  # what `member_history.recent_*` keeps
@dataclass(frozen=True)
class Session:
    """One accepted workout: when it started (unix s), the activity, distance (0 where none) and duration."""
    at: float
    activity: str
    distance_m: float
    duration_s: float


@dataclass(frozen=True)
class ActivityLoad:
    """What a member did of one activity in a window."""
    sessions: int
    distance_m: float
    duration_s: float


def day_of(at: float) -> int:
    """The UTC day number (days since 1970-01-01) of a unix time."""
    return int(at // DAY)


def week_start(now: float) -> float:
    """Monday 00:00 UTC of the week `now` falls in (unix s)."""
    moment = datetime.fromtimestamp(now, UTC)
    monday = (moment - timedelta(days=moment.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday.timestamp()


@dataclass(frozen=True)
class MemberHistory:
    """A member's recent accepted workouts, newest first (at most `RECENT_SESSIONS` when read from the store)."""
    member_id: str
    tenant_id: str = ""
    sessions: tuple[Session, ...] = ()
    workouts_total: int = 0  # all time: may exceed len(sessions)
    joined_at: float = 0.0  # unix s, 0 if unknown
    _days: frozenset[int] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self):
        ordered = tuple(sorted(self.sessions, key=lambda s: s.at, reverse=True))
        object.__setattr__(self, "sessions", ordered)
        object.__setattr__(self, "_days", frozenset(day_of(s.at) for s in ordered))
        if self.workouts_total < len(ordered):
            object.__setattr__(self, "workouts_total", len(ordered))

    @classmethod
    def from_row(cls, member_id: str, row: Mapping) -> "MemberHistory":
        """From a `member_history` feature row (a dict of the view's fields; missing or None fields are empty)."""
        def values(name: str) -> list:  # a list, a numpy array (pandas rows) or None
            value = row.get(name)
            return [] if value is None else list(value)

        starts, activities = values("recent_starts"), values("recent_activities")
        distances, durations = values("recent_distance_m"), values("recent_duration_s")
        sessions = tuple(
            Session(at=float(at), activity=str(activity), distance_m=float(distance or 0.0),
                    duration_s=float(duration or 0.0))
            for at, activity, distance, duration in zip(starts, activities, distances, durations, strict=False))
        tenant, total, joined = row.get("tenant_id"), row.get("workouts_total"), row.get("joined_at")
        return cls(member_id=member_id, tenant_id="" if tenant is None else str(tenant), sessions=sessions,
                   workouts_total=0 if total is None else int(total),
                   joined_at=0.0 if joined is None else float(joined))

    @classmethod
    def from_sessions(cls, member_id: str, sessions: Iterable[Session], *, tenant_id: str = "",
                      joined_at: float = 0.0, now: float | None = None,
                      keep: int = RECENT_SESSIONS) -> "MemberHistory":
        """From raw sessions (any order): those started by `now` (all if None), the newest `keep` kept, as the
        feature view would store them at `now`; `workouts_total` counts all of them."""
        known = [s for s in sessions if now is None or s.at <= now]
        known.sort(key=lambda s: s.at, reverse=True)
        return cls(member_id=member_id, tenant_id=tenant_id, sessions=tuple(known[:keep]),
                   workouts_total=len(known), joined_at=joined_at)

    def workouts_within(self, now: float, days: float) -> list[Session]:
        """Sessions started in the last `days` days up to `now` (newest first): from `now - days` included (the
        same time of day a week ago is within the week), nothing after `now`."""
        since = now - days * DAY
        return [s for s in self.sessions if since <= s.at <= now]

    def this_week(self, now: float) -> list[Session]:
        """Sessions since Monday 00:00 UTC of `now`'s week, up to `now` (newest first)."""
        since = week_start(now)
        return [s for s in self.sessions if since <= s.at <= now]

    def days_since_last(self, now: float) -> float | None:
        """Days (fractional) since the newest session started by `now`; None without any."""
        for session in self.sessions:
            if session.at <= now:
                return (now - session.at) / DAY
        return None

    def by_activity(self, now: float, days: float) -> dict[str, ActivityLoad]:
        """Sessions, distance and duration per activity over the last `days` days, most sessions first."""
        sessions: Counter[str] = Counter()
        distance: Counter[str] = Counter()
        duration: Counter[str] = Counter()
        for s in self.workouts_within(now, days):
            sessions[s.activity] += 1
            distance[s.activity] += s.distance_m
            duration[s.activity] += s.duration_s
        return {a: ActivityLoad(n, distance[a], duration[a])
                for a, n in sorted(sessions.items(), key=lambda kv: (-kv[1], kv[0]))}

    def active_day_streak(self, now: float) -> int:
        """Consecutive UTC days with a session, ending today (if today has one) or yesterday: how many days in a
        row the member has trained without a rest day. 0 if neither today nor yesterday was active."""
        today = day_of(now)
        days = {d for d in self._days if d <= today}
        day = today if today in days else today - 1
        streak = 0
        while day in days:
            streak += 1
            day -= 1
        return streak

    def activity_mix(self) -> dict[str, float]:
        """Each activity's share of the recent sessions (sums to 1; empty without sessions), largest first."""
        counts = Counter(s.activity for s in self.sessions)
        total = sum(counts.values())
        return {a: n / total for a, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}

    def main_activity(self, now: float | None = None, days: float = 28) -> str | None:
        """The activity with the most sessions in the last `days` days (all recent sessions if `now` is None);
        ties go to the most recently done."""
        sessions = self.sessions if now is None else self.workouts_within(now, days)
        counts = Counter(s.activity for s in sessions)
        if not counts:
            return None
        latest = {}
        for s in sessions:
            latest.setdefault(s.activity, s.at)
        return max(counts, key=lambda a: (counts[a], latest[a]))
