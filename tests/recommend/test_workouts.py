"""Workout suggestions (recommend.workouts) and the history helpers they read (fitmint.memberhistory)."""

from datetime import UTC, datetime

import numpy as np
import pytest

from fitmint.memberhistory import DAY, MemberHistory, Session, week_start
from recommend.simulator import World, simulate
from recommend.workouts import Goals, suggest

NOW = datetime(2026, 3, 12, 18, 0, tzinfo=UTC).timestamp()  # a Thursday evening
MONDAY = week_start(NOW)


def at(days_ago: float, hour: float = 8.0) -> float:
    """`days_ago` days before NOW's day, at `hour` UTC."""
    return (NOW // DAY - days_ago) * DAY + hour * 3600


def run(days_ago: float, km: float = 5.0, pace_min: float = 6.0) -> Session:
    return Session(at(days_ago), "run", km * 1000, km * pace_min * 60)


def history(*sessions: Session) -> MemberHistory:
    return MemberHistory.from_sessions("m1", sessions, tenant_id="t1")


# History.

def test_a_feature_row_becomes_sessions_newest_first():
    row = {"tenant_id": "t1", "workouts_total": 70, "joined_at": 1_700_000_000,
           "recent_starts": [at(3), at(1), at(2)], "recent_activities": ["yoga", "run", "cycle"],
           "recent_distance_m": [0.0, 5000.0, 20000.0], "recent_duration_s": [1800.0, 1700.0, 3600.0]}
    h = MemberHistory.from_row("m1", row)
    assert [s.activity for s in h.sessions] == ["run", "cycle", "yoga"]
    assert h.workouts_total == 70 and h.tenant_id == "t1" and h.joined_at == 1_700_000_000
    assert h.sessions[0] == Session(at(1), "run", 5000.0, 1700.0)
    as_arrays = MemberHistory.from_row("m1", {k: np.array(v) if isinstance(v, list) else v for k, v in row.items()})
    assert as_arrays.sessions == h.sessions
    empty = MemberHistory.from_row("m2", {"recent_starts": None, "workouts_total": None})
    assert empty.sessions == () and empty.workouts_total == 0 and empty.days_since_last(NOW) is None


def test_windowed_features_are_derived_as_of_now():
    h = history(run(0), run(1), Session(at(2), "yoga", 0, 1800), run(9), Session(at(30), "cycle", 20_000, 3600))
    assert len(h.workouts_within(NOW, 7)) == 3
    assert len(h.workouts_within(at(5), 7)) == 1  # as of 5 days ago: only the run 9 days ago... and nothing later
    assert h.days_since_last(NOW) == pytest.approx((NOW - at(0)) / DAY)
    load = h.by_activity(NOW, 14)
    assert list(load) == ["run", "yoga"] and load["run"].sessions == 3 and load["run"].distance_m == 15_000
    assert h.activity_mix() == {"run": 0.6, "cycle": 0.2, "yoga": 0.2}
    assert h.main_activity(NOW) == "run"
    assert h.active_day_streak(NOW) == 3
    assert h.active_day_streak(NOW + DAY) == 3  # nothing today yet: the streak up to yesterday
    assert h.active_day_streak(NOW + 2 * DAY) == 0
    assert len(h.this_week(NOW)) == 3 and week_start(NOW) == datetime(2026, 3, 9, tzinfo=UTC).timestamp()


# Rules.

def test_a_rest_day_after_five_days_in_a_row():
    h = history(*(run(d) for d in range(1, 6)))
    first, *rest = suggest(h, Goals(weekly_workouts=6), NOW)
    assert first.kind == "rest"
    assert "five days in a row" in first.reason
    assert rest and all(s.kind != "workout" or (s.minutes or 0) <= 30 or "left this week" in s.title for s in rest)
    assert all(s.kind != "rest" for s in suggest(history(*(run(d) for d in range(1, 5))), None, NOW))


def test_a_much_heavier_week_than_usual_asks_for_a_light_session():
    usual = [run(d, km=5) for d in (8, 11, 15, 18, 22, 25)]  # 30 minutes twice a week
    heavy = [Session(at(d), "cycle", 60_000, 3 * 3600) for d in (1, 3)]  # 6 hours this week
    first = suggest(history(*usual, *heavy), None, NOW)[0]
    assert first.kind == "workout" and first.activity in ("yoga", "walk")
    assert "360 minutes" in first.reason and "keep today light" in first.reason


def test_steady_sessions_progress_by_ten_percent():
    h = history(run(9, 5.0), run(6, 5.1), run(4, 4.95))  # none this week beyond Monday: NOW is a Thursday
    longer = next(s for s in suggest(h, None, NOW) if s.title.startswith("A longer"))
    assert longer.activity == "run" and longer.distance_km == pytest.approx(5.5, abs=0.05)
    assert "three runs were steady at about 5.0 km" in longer.reason and "5.5 km (+10%)" in longer.reason
    jumpy = history(run(9, 3.0), run(6, 5.0), run(4, 7.0))
    assert not any(s.title.startswith("A longer") for s in suggest(jumpy, None, NOW, limit=10))


def test_three_runs_this_week_suggest_intervals():
    h = history(run(0), run(2), run(3), run(8))
    assert (NOW - at(3)) / DAY < (NOW - MONDAY) / DAY  # all three this week
    interval = next(s for s in suggest(h, None, NOW) if s.title.startswith("Interval"))
    assert interval.reason.startswith("You ran three times this week: try an interval session")


def test_the_weekly_goal_counts_what_is_left():
    h = history(run(2), run(12), run(15))  # one this week (Tuesday)
    goal = suggest(h, Goals(weekly_workouts=4), NOW)[0]
    assert goal.title == "Three workouts left this week"
    assert goal.reason == ("One of your 4 workouts this week done: three more in the four days left, today included. "
                           "Your usual 5.0 km run counts.")
    assert all("left this week" not in s.title for s in suggest(h, Goals(weekly_workouts=1), NOW, limit=10))


def test_the_focus_activity_is_suggested_when_not_done_lately():
    h = history(run(1), run(3), Session(at(10), "swim", 1500, 2400))
    focus = next(s for s in suggest(h, Goals(focus="swim"), NOW, limit=5) if s.activity == "swim")
    assert "Your focus is swimming and your last was 10 days ago: 1.5 km" in focus.reason


def test_variety_and_a_challenge_come_from_the_members_own_habits():
    h = history(*(run(d) for d in (1, 4, 8, 11, 15, 18, 22)), Session(at(20), "cycle", 20_000, 3600))
    found = suggest(h, None, NOW, limit=10)
    strength = next(s for s in found if s.activity == "strength")
    assert "Four runs and no strength or yoga in the last 14 days" in strength.reason
    cycle = next(s for s in found if s.activity == "cycle")
    assert "You last cycled 20 days ago: your usual 20.0 km ride" in cycle.reason
    challenge = next(s for s in found if s.kind == "challenge")
    assert challenge.title == "Three runs this week" and "You averaged 2.0 runs a week" in challenge.reason


def test_back_after_a_break_eases_in():
    h = history(run(20, 6.0), run(23, 6.0), run(26, 6.0))
    first = suggest(h, None, NOW)[0]
    assert first.title == "Ease back into running" and first.distance_km == pytest.approx(4.2)
    assert "20 days ago" in first.reason and "70% of your usual 6.0 km" in first.reason


def test_cold_start_suggests_beginner_sessions_of_popular_activities():
    found = suggest(MemberHistory("new"), None, NOW, popular={"yoga": 90, "cycle": 300, "row": 0, "swim": 40})
    assert [s.activity for s in found] == ["cycle", "yoga", "swim"]
    assert "(300 sessions)" in found[0].reason and found[0].distance_km == 10.0
    focused = suggest(MemberHistory("new"), Goals(focus="swim"), NOW, popular=None)
    assert [s.activity for s in focused] == ["swim", "run", "walk"]
    assert focused[0].reason.startswith("You chose swimming as your focus")


def test_suggestions_are_deterministic_limited_and_explained_for_simulated_members():
    sim = simulate(World(members=300, items=30, days=60), seed=5)
    now = sim.day(55.3)
    for member in sim.members:
        h = MemberHistory.from_sessions(member.member_id, sim.workouts[member.member_id], now=now)
        for limit in (1, 3):
            found = suggest(h, Goals(weekly_workouts=3), now, limit=limit)
            assert 1 <= len(found) <= limit
            assert found == suggest(h, Goals(weekly_workouts=3), now, limit=limit)
            for s in found:
                assert s.reason and s.title and s.kind in ("workout", "challenge", "rest")
                assert any(ch.isdigit() for ch in s.reason) or any(
                    w in s.reason for w in ("one", "two", "three", "four", "five", "six", "once", "twice"))
