"""Workout and challenge suggestions from a member's own history and goals, each with a reason a person
understands and the numbers it rests on.

`suggest(history, goals, now)` applies these rules (deterministic: the same input gives the same list), most
important first, and returns the first `limit` distinct suggestions:

1. Rest: `REST_AFTER_DAYS` (5) or more days in a row with a workout -> a rest day, then at most a light session
   (yoga or an easy walk) and, when the weekly goal is still open, a note of it. A week much heavier than usual
   (minutes in the last 7 days >= `HEAVY_WEEK` (1.5) x the weekly average of the 3 weeks before, and >= 3 h)
   -> a light session first.
2. Cold start: no workout yet -> beginner sessions of the activities most done on the platform this week
   (`popular`: activity -> sessions in the last 7 days; run, walk, cycle without it), the goal's focus first.
   Back after a break (no workout in `BREAK_DAYS` (14) days) -> an easy session of their main activity at 70%
   of their usual distance.
3. Goal: sessions left of the weekly target (`Goals.weekly_workouts`, weeks start on Monday UTC) and the days
   left to do them; the focus activity if not done in the last 7 days.
4. Progression: three or more sessions of the main activity this week -> an interval session; otherwise, when
   the last 3 sessions of it were steady (distances, or minutes where there is no distance, within 15% of
   their mean) -> the same +10%.
5. Variety: a foot or cycling athlete without strength or yoga in 14 days -> a strength session; an activity
   of theirs not done in 14 days or more -> their usual session of it.
6. Challenge: one more session of the main activity than their weekly average (3 weeks), or, for members who
   already train 4+ times a week, 10% more weekly distance.
"""

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from fitmint.memberhistory import DAY, MemberHistory, Session, week_start
from recommend.wording import DID, DOING, SESSIONS

REST_AFTER_DAYS = 5
HEAVY_WEEK = 1.5
HEAVY_WEEK_MINUTES = 180
BREAK_DAYS = 14
STEADY = 0.15
PROGRESSION = 0.10
VARIETY_DAYS = 14
DISTANCE = frozenset({"run", "walk", "hike", "cycle", "swim", "row"})
ENDURANCE = frozenset({"run", "walk", "hike", "cycle", "row", "swim"})
INTERVALS = frozenset({"run", "cycle", "row", "swim"})
# A first session: (km or None, minutes, what to call it).
BEGINNER = {"run": (2.0, 20, "a gentle run-walk"), "walk": (3.0, 35, "a brisk walk"),
            "cycle": (10.0, 40, "an easy ride"), "hike": (5.0, 90, "a short hike"),
            "swim": (0.5, 20, "an easy swim"), "row": (2.0, 15, "an easy row"),
            "strength": (None, 20, "a beginner strength routine"), "yoga": (None, 20, "a beginner yoga flow")}
DEFAULT_POPULAR = ("run", "walk", "cycle")
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Goals:
    weekly_workouts: int | None = None
    focus: str | None = None  # an activity


@dataclass(frozen=True)
class Suggestion:
    kind: Literal["workout", "challenge", "rest"]
    activity: str | None
    title: str
    reason: str
    distance_km: float | None = None
    minutes: float | None = None


def suggest(history: MemberHistory, goals: Goals | None, now: float, popular: Mapping[str, int] | None = None,
            limit: int = 3) -> list[Suggestion]:
    goals = goals or Goals()
    found: list[Suggestion] = []
    past = [s for s in history.sessions if s.at <= now]
    if not past:
        found += _first_steps(goals, popular)
        return _distinct(found, limit)
    streak = history.active_day_streak(now)
    main = history.main_activity(now, 28) or past[0].activity
    if streak >= REST_AFTER_DAYS:
        found.append(Suggestion("rest", None, "Rest day",
                                f"You have worked out {_times(streak, 'day')} in a row: a rest day lets your body "
                                "recover and get stronger."))
        found.append(_light(history, now, "If you want to move, keep it light"))
        goal = _goal(history, goals, now, main)
        if goal:
            found.append(goal)
        return _distinct(found, limit)
    heavy = _heavy_week(history, now)
    if heavy:
        found.append(_light(history, now, heavy))
    since = history.days_since_last(now)
    if since is not None and since >= BREAK_DAYS:
        found.append(_comeback(history, now, main, since))
    goal = _goal(history, goals, now, main)
    if goal:
        found.append(goal)
    focus = _focus(history, goals, now)
    if focus:
        found.append(focus)
    progression = _progression(history, now, main)
    if progression:
        found.append(progression)
    found += _variety(history, now, main)
    challenge = _challenge(history, now, main)
    if challenge:
        found.append(challenge)
    if not found:
        found.append(_usual_session(history, now, main, f"Keep your {DOING[main]} going"))
    return _distinct(found, limit)


def _distinct(found: list[Suggestion], limit: int) -> list[Suggestion]:
    seen, out = set(), []
    for s in found:
        key = (s.kind, s.activity)
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out[:limit]


# Words.

def _count(n: int) -> str:
    return NUMBERS[n] if 0 <= n < len(NUMBERS) else f"{n:,}"


def _times(n: int, unit: str = "time") -> str:
    if unit == "time" and n == 1:
        return "once"
    if unit == "time" and n == 2:
        return "twice"
    return f"{_count(n)} {unit}{'' if n == 1 else 's'}"


def _km(value: float) -> str:
    return f"{value:.1f} km"


def _minutes(value: float) -> float:
    return float(max(5, 5 * round(value / 5)))


def _one(activity: str) -> str:
    """One session of it: "run", "ride", "yoga session"."""
    return SESSIONS[activity][:-1]


def _session(km: float | None, minutes: float, activity: str) -> str:
    """ "5.2 km run", "40-minute yoga session"."""
    return f"{_km(km)} {_one(activity)}" if km else f"{_minutes(minutes):.0f}-minute {_one(activity)}"


# Per-activity figures.

def _of(history: MemberHistory, activity: str, now: float, days: float) -> list[Session]:
    return [s for s in history.workouts_within(now, days) if s.activity == activity]


def _usual(history: MemberHistory, activity: str, now: float) -> tuple[float | None, float]:
    """The median distance (km, None without one) and minutes of the member's last 5 sessions of `activity` in
    the last 6 weeks (of all their recent sessions if none): their usual session."""
    sessions = _of(history, activity, now, 42)[:5] or [s for s in history.sessions if s.activity == activity][:5]
    if not sessions:
        km, minutes, _ = BEGINNER[activity]
        return km, minutes
    distance = statistics.median(s.distance_m for s in sessions) / 1000.0
    minutes = statistics.median(s.duration_s for s in sessions) / 60.0
    return (distance if activity in DISTANCE and distance > 0 else None), minutes


def _usual_session(history: MemberHistory, now: float, activity: str, title: str) -> Suggestion:
    km, minutes = _usual(history, activity, now)
    return Suggestion("workout", activity, title,
                      f"Your usual {_one(activity)} is a {_session(km, minutes, activity)}.",
                      round(km, 1) if km else None, _minutes(minutes))


# Rules.

def _first_steps(goals: Goals, popular: Mapping[str, int] | None) -> list[Suggestion]:
    ranked = sorted(popular.items(), key=lambda kv: (-kv[1], kv[0])) if popular else []
    activities = [a for a, n in ranked if a in BEGINNER and n > 0] or list(DEFAULT_POPULAR)
    if goals.focus in BEGINNER:
        activities = [goals.focus] + [a for a in activities if a != goals.focus]
    out = []
    for activity in activities:
        km, minutes, what = BEGINNER[activity]
        if activity == goals.focus:
            why = f"You chose {DOING[activity]} as your focus"
        elif popular and popular.get(activity):
            why = (f"{DOING[activity].capitalize()} is one of the most popular activities here this week "
                   f"({popular[activity]:,} sessions)")
        else:
            why = f"{DOING[activity].capitalize()} is an easy way to start"
        size = f"{_km(km)} in about {minutes} minutes" if km else f"{minutes} minutes"
        out.append(Suggestion("workout", activity, f"Start with {what}",
                              f"{why}: {what}, {size}, is a good first workout.", km, float(minutes)))
    return out


def _light(history: MemberHistory, now: float, lead: str) -> Suggestion:
    walks = len(_of(history, "walk", now, 28))
    yoga = len(_of(history, "yoga", now, 28))
    if walks > yoga:
        return Suggestion("workout", "walk", "An easy walk", f"{lead}: an easy 30-minute walk.", 2.5, 30.0)
    return Suggestion("workout", "yoga", "Gentle yoga", f"{lead}: 20 minutes of gentle yoga or stretching.",
                      None, 20.0)


def _heavy_week(history: MemberHistory, now: float) -> str | None:
    week = sum(s.duration_s for s in history.workouts_within(now, 7)) / 60.0
    before = [s for s in history.workouts_within(now, 28) if s.at <= now - 7 * DAY]
    usual = sum(s.duration_s for s in before) / 60.0 / 3.0
    if usual > 0 and week >= HEAVY_WEEK * usual and week >= HEAVY_WEEK_MINUTES:
        return (f"You trained {week:.0f} minutes in the last 7 days, {week / usual:.1f} times your usual "
                f"{usual:.0f}: keep today light")
    return None


def _comeback(history: MemberHistory, now: float, main: str, since: float) -> Suggestion:
    km, minutes = _usual(history, main, now)
    easy_km = round(0.7 * km, 1) if km else None
    easy_minutes = _minutes(0.7 * minutes)
    size = f"{_km(easy_km)}, about 70% of your usual {_km(km)}" if km else \
        f"{easy_minutes:.0f} minutes, about 70% of your usual {minutes:.0f}"
    return Suggestion("workout", main, f"Ease back into {DOING[main]}",
                      f"Your last workout was {since:.0f} days ago: ease back in with {size}.", easy_km,
                      easy_minutes)


def _goal(history: MemberHistory, goals: Goals, now: float, main: str) -> Suggestion | None:
    target = goals.weekly_workouts
    if not target or target <= 0:
        return None
    done = len(history.this_week(now))
    left = target - done
    if left <= 0:
        return None
    days_left = 7 - int((now - week_start(now)) // DAY)  # today included
    activity = goals.focus if goals.focus in BEGINNER else main
    km, minutes = _usual(history, activity, now)
    days = _times(days_left, "day")
    plan = (f"{_count(left)} more in the {days} left, today included" if left <= days_left else
            f"{_count(left)} more but only {days} left: a longer session can make up for one")
    title = f"{_times(left, 'workout').capitalize()} left this week"
    return Suggestion("workout", activity, title,
                      f"{_count(done).capitalize()} of your {target} workouts this week done: {plan}. "
                      f"Your usual {_session(km, minutes, activity)} counts.", round(km, 1) if km else None,
                      _minutes(minutes))


def _focus(history: MemberHistory, goals: Goals, now: float) -> Suggestion | None:
    focus = goals.focus
    if focus not in BEGINNER or _of(history, focus, now, 7):
        return None
    last = next((s for s in history.sessions if s.activity == focus and s.at <= now), None)
    km, minutes = _usual(history, focus, now)
    size = f"{_km(km)} in about {_minutes(minutes):.0f} minutes" if km else f"{_minutes(minutes):.0f} minutes"
    when = (f"your last was {(now - last.at) / DAY:.0f} days ago" if last else "you have not started yet")
    return Suggestion("workout", focus, f"A {DOING[focus]} session for your focus",
                      f"Your focus is {DOING[focus]} and {when}: {size}.", round(km, 1) if km else None,
                      _minutes(minutes))


def _progression(history: MemberHistory, now: float, main: str) -> Suggestion | None:
    this_week = [s for s in history.this_week(now) if s.activity == main]
    km, minutes = _usual(history, main, now)
    if len(this_week) >= 3 and main in INTERVALS:
        return Suggestion("workout", main, f"Interval {DOING[main]}",
                          f"You {DID[main]} {_times(len(this_week))} this week: try an interval session, "
                          "8 x 1 minute hard with 2 minutes easy in between, instead of another steady one.",
                          round(km, 1) if km else None, _minutes(minutes))
    last = _of(history, main, now, 21)[:3]
    if len(last) < 3:
        return None
    measure = [s.distance_m / 1000.0 for s in last] if main in DISTANCE and all(s.distance_m > 0 for s in last) \
        else [s.duration_s / 60.0 for s in last]
    mean = statistics.fmean(measure)
    if mean <= 0 or max(abs(x - mean) for x in measure) > STEADY * mean:
        return None
    target = mean * (1 + PROGRESSION)
    noun = SESSIONS[main]
    if main in DISTANCE and km:
        return Suggestion("workout", main, f"A longer {DOING[main]} session",
                          f"Your last three {noun} were steady at about {_km(mean)}: try {_km(target)} (+10%).",
                          round(target, 1), _minutes(target / mean * statistics.fmean(s.duration_s / 60 for s in last)))
    return Suggestion("workout", main, f"A longer {DOING[main]} session",
                      f"Your last three {noun} were steady at about {mean:.0f} minutes: try {_minutes(target):.0f} "
                      "minutes (+10%).", None, _minutes(target))


def _variety(history: MemberHistory, now: float, main: str) -> list[Suggestion]:
    out = []
    recent = history.by_activity(now, VARIETY_DAYS)
    if main in ENDURANCE and "strength" not in recent and "yoga" not in recent:
        sessions = recent.get(main)
        count = sessions.sessions if sessions else 0
        out.append(Suggestion("workout", "strength", "A strength session",
                              f"{_times(count, _one(main)).capitalize()} and no strength or yoga in the "
                              f"last {VARIETY_DAYS} days: 25 minutes of strength work balances your {DOING[main]}.",
                              None, 25.0))
    for activity in dict.fromkeys(s.activity for s in history.sessions if s.at <= now):
        if activity == main or activity in recent:
            continue
        last = next(s for s in history.sessions if s.activity == activity and s.at <= now)
        days = (now - last.at) / DAY
        km, minutes = _usual(history, activity, now)
        out.append(Suggestion("workout", activity, f"Some {DOING[activity]} for a change",
                              f"You last {DID[activity]} {days:.0f} days ago: your usual "
                              f"{_session(km, minutes, activity)} adds variety.",
                              round(km, 1) if km else None, _minutes(minutes)))
        break
    return out


def _challenge(history: MemberHistory, now: float, main: str) -> Suggestion | None:
    start = week_start(now)
    weeks = [[s for s in history.sessions if start - (w + 1) * 7 * DAY <= s.at < start - w * 7 * DAY]
             for w in range(3)]
    if not any(weeks):
        return None
    per_week = statistics.fmean(len(w) for w in weeks)
    this_week = history.this_week(now)
    if per_week >= 4 and main in DISTANCE:
        km_week = statistics.fmean(sum(s.distance_m for s in w if s.activity == main) for w in weeks) / 1000.0
        if km_week > 0:
            target = math.ceil(km_week * 1.1)
            done = sum(s.distance_m for s in this_week if s.activity == main) / 1000.0
            return Suggestion("challenge", main, f"{DOING[main].capitalize()} {target} km this week",
                              f"You averaged {_km(km_week)} of {DOING[main]} a week over the last three weeks: "
                              f"go for {target} km this week ({_km(done)} done).", float(target), None)
    main_weeks = [sum(1 for s in w if s.activity == main) for w in weeks]
    average = statistics.fmean(main_weeks)
    target = max(1, math.floor(average + 0.5) + 1)
    done = sum(1 for s in this_week if s.activity == main)
    if done >= target:
        return None
    noun = SESSIONS[main]
    return Suggestion("challenge", main, f"{_count(target).capitalize()} {noun} this week",
                      f"You averaged {average:.1f} {noun} a week over the last three weeks: make it {target} "
                      f"this week ({done} done so far).", None, None)
