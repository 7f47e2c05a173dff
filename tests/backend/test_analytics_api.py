"""GET /analytics/... over a private analytics store filled with projection rows of two tenants (and of no
tenant: resale orders, the token): each answer checked against sums of the rows written, for one tenant and
for the whole platform; who may read what (tenant admins their own tenant, the platform's admins any tenant
and `all`); the period's validation; and a store that cannot be reached answering 503."""

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from backend.app.main import create_app
from tests.backend.conftest import Member
from tests.support.analyticsstore import days, write_rows
from tests.support.api import api_settings
from tests.support.units import FIT

NIL = uuid.UUID(int=0)
FIRST = date(2026, 1, 26)  # the rows span FIRST .. LAST; the period under test is inside, with room before
LAST = date(2026, 3, 29)
PERIOD = {"from": "2026-03-02", "to": "2026-03-15"}  # two ISO weeks; the one before: 2026-02-16 .. 03-01
START, END = date(2026, 3, 2), date(2026, 3, 15)
PREVIOUS = (date(2026, 2, 16), date(2026, 3, 1))
ACTIVITIES = ("cycle", "run", "walk")
REASONS = ("speed", "steps_vs_distance", "heart_rate")


@pytest.fixture
def settings(stack, tmp_path, backend_database, analytics_database):
    return api_settings(stack, tmp_path, backend_database, analytics_database=analytics_database)


def fit(value: str) -> Decimal:
    return Decimal(value) * FIT


def projection_rows(tenant_ids: list[uuid.UUID], seed: int = 17) -> dict[str, list[dict]]:
    """Plausible projection rows for each tenant on every day FIRST .. LAST (some days empty), resale orders
    of no tenant, and the platform's token days."""
    rng = random.Random(seed)
    rows: dict[str, list[dict]] = {t: [] for t in (
        "member_days", "activity_days", "workout_days", "refusal_days", "reward_days", "order_days",
        "item_days", "member_milestones", "retention_weeks", "token_days")}
    span = days(FIRST, (LAST - FIRST).days + 1)
    for tenant in tenant_ids:
        members = [uuid.uuid4() for _ in range(30)]
        for member in members:
            joined = datetime(2026, 1, 26, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 24 * 62))
            workout = joined + timedelta(hours=rng.randrange(1, 200)) if rng.random() < 0.8 else None
            claim = workout + timedelta(hours=rng.randrange(1, 50)) if workout and rng.random() < 0.7 else None
            purchase = joined + timedelta(hours=rng.randrange(1, 300)) if rng.random() < 0.5 else None
            rows["member_milestones"].append({"tenant_id": tenant, "user_id": member, "joined_at": joined,
                                              "first_workout_at": workout, "first_claim_at": claim,
                                              "first_purchase_at": purchase})
        for day in span:
            for member in rng.sample(members, rng.randrange(0, 12)):
                rows["member_days"].append({"tenant_id": tenant, "user_id": member, "day": day,
                                            "sign_ins": rng.randrange(0, 3), "workouts": rng.randrange(0, 3)})
            if day.weekday() != 6:  # Sundays have no activity row at all
                rows["activity_days"].append({"tenant_id": tenant, "day": day, "dau": rng.randrange(1, 12),
                                              "wau": rng.randrange(12, 25), "mau": rng.randrange(25, 31)})
            for activity in rng.sample(ACTIVITIES, rng.randrange(0, 3)):
                accepted = rng.randrange(1, 9)
                rows["workout_days"].append({
                    "tenant_id": tenant, "day": day, "activity": activity, "accepted": accepted,
                    "rejected": rng.randrange(0, 4), "flagged": rng.randrange(0, accepted),
                    "distance_m": accepted * rng.uniform(2000, 9000), "duration_s": accepted * rng.uniform(900, 4000)})
            for reason in rng.sample(REASONS, rng.randrange(0, 3)):
                rows["refusal_days"].append({"tenant_id": tenant, "day": day, "reason": reason,
                                             "workouts": rng.randrange(1, 4)})
            issued = rng.randrange(0, 10)
            claimed = rng.randrange(0, issued + 1)
            rows["reward_days"].append({"tenant_id": tenant, "day": day, "issued": issued,
                                        "issued_amount": issued * 3 * FIT // 2, "claimed": claimed,
                                        "claimed_amount": claimed * 3 * FIT // 2,
                                        "claim_seconds": claimed * rng.uniform(600, 40_000)})
        listings = {rng.randrange(1, 10_000): f"Band {i}" for i in range(3)}  # the marketplace: sold some days
        for day in span:
            sold = [rng.randrange(1, 4) for listing in listings if rng.random() < 0.4]
            for (listing, name), quantity in zip(listings.items(), sold, strict=False):
                rows["item_days"].append({"tenant_id": tenant, "day": day, "listing_id": listing, "name": name,
                                          "orders": 1, "quantity": quantity, "volume": quantity * 2 * FIT})
            if sold:
                volume = sum(sold) * 2 * FIT
                rows["order_days"].append({"tenant_id": tenant, "day": day, "orders": len(sold), "buyers": len(sold),
                                           "quantity": sum(sold), "volume": volume, "fees": volume // 20,
                                           "burned": volume // 100})
        for cohort in days(FIRST, 63)[::7]:
            members_joined = rng.randrange(1, 10)
            for week in range(0, (LAST - cohort).days // 7 + 1):
                active = rng.randrange(0, members_joined + 1)
                if active:  # as the projection: a week nobody of the cohort was active in has no row
                    rows["retention_weeks"].append({"tenant_id": tenant, "cohort": cohort, "week": week,
                                                    "members": members_joined, "active": active})
    for day in span[::2]:  # resale orders belong to no tenant
        rows["order_days"].append({"tenant_id": NIL, "day": day, "orders": 1, "buyers": 1, "quantity": 1,
                                   "volume": FIT, "fees": FIT // 20, "burned": FIT // 100})
    for day in span:
        if rng.random() < 0.8:
            rows["token_days"].append({"day": day, "minted": rng.randrange(0, 50) * FIT,
                                       "burned": rng.randrange(0, 5) * FIT // 10,
                                       "to_treasury": rng.randrange(0, 5) * FIT // 20})
    return rows


def within(rows, start=START, end=END, tenant=None):
    return [r for r in rows if start <= r["day"] <= end and (tenant is None or r["tenant_id"] == tenant)]


def total(rows, key):
    return sum(r[key] for r in rows)


@pytest.fixture
def filled(client, tenants, settings, stack):
    """The two tenants' rows (alpha's, beta's) and the platform's, written to the store."""
    ids = [uuid.UUID(tenants[slug]["admin"].tenant_id) for slug in ("alpha", "beta")]
    rows = projection_rows(ids)
    write_rows(stack, settings.analytics_database, rows)
    return {"alpha": ids[0], "beta": ids[1], "rows": rows}


@pytest.fixture
def platform_admin(client, settings):
    return Member(client, settings, settings.default_tenant, "admin")


def get(client, member, path, **params):
    answer = client.get(f"/analytics/{path}", params={**PERIOD, **params}, headers=member.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_overview_is_the_tenants_period_beside_the_one_before(client, tenants, filled):
    rows, alpha = filled["rows"], filled["alpha"]
    answer = get(client, tenants["alpha"]["admin"], "overview")
    assert (answer["tenant"], answer["from"], answer["to"]) == (str(alpha), "2026-03-02", "2026-03-15")
    assert (answer["previous_from"], answer["previous_to"]) == ("2026-02-16", "2026-03-01")
    for key, (start, end) in {"current": (START, END), "previous": PREVIOUS}.items():
        figures = answer[key]
        members = within(rows["member_days"], start, end, alpha)
        workouts = within(rows["workout_days"], start, end, alpha)
        rewards = within(rows["reward_days"], start, end, alpha)
        orders = within(rows["order_days"], start, end, alpha)
        tokens = within(rows["token_days"], start, end)
        joined = [m for m in rows["member_milestones"] if m["tenant_id"] == alpha
                  and start <= m["joined_at"].date() <= end]
        assert figures["active_members"] == len({r["user_id"] for r in members})
        assert figures["new_members"] == len(joined)
        assert (figures["workouts"], figures["rejected"], figures["flagged"]) == (
            total(workouts, "accepted"), total(workouts, "rejected"), total(workouts, "flagged"))
        assert figures["distance_km"] == pytest.approx(total(workouts, "distance_m") / 1000)
        assert figures["active_hours"] == pytest.approx(total(workouts, "duration_s") / 3600)
        assert (figures["rewards_issued"], figures["rewards_claimed"]) == (
            total(rewards, "issued"), total(rewards, "claimed"))
        assert fit(figures["rewards_issued_fit"]) == total(rewards, "issued_amount")
        assert fit(figures["rewards_claimed_fit"]) == total(rewards, "claimed_amount")
        assert figures["claim_rate"] == pytest.approx(total(rewards, "claimed") / total(rewards, "issued"))
        assert figures["orders"] == total(orders, "orders")
        assert fit(figures["volume_fit"]) == total(orders, "volume")
        assert fit(figures["minted_fit"]) == total(tokens, "minted")
        assert fit(figures["burned_fit"]) == total(tokens, "burned")
    assert answer["current"] != answer["previous"]


def test_the_platforms_admins_read_any_tenant_and_the_whole_platform(client, tenants, filled, platform_admin):
    rows = filled["rows"]
    beta = get(client, platform_admin, "overview", tenant=str(filled["beta"]))
    assert beta == get(client, tenants["beta"]["admin"], "overview")
    everything = get(client, platform_admin, "overview", tenant="all")["current"]
    assert everything["orders"] == total(within(rows["order_days"]), "orders")  # resale (no tenant) included
    assert everything["active_members"] == len({r["user_id"] for r in within(rows["member_days"])})
    workouts = get(client, platform_admin, "workouts", tenant="all", granularity="week")
    assert sum(p["accepted"] for p in workouts["data"]) == total(within(rows["workout_days"]), "accepted")


def test_only_admins_read_their_tenant_and_only_platform_admins_read_others(client, tenants, filled,
                                                                            platform_admin):
    alpha, beta = tenants["alpha"], filled["beta"]
    for role in ("user", "coach"):
        refused = client.get("/analytics/overview", params=PERIOD, headers=alpha[role].headers)
        assert refused.status_code == 403 and "analytics.read" in refused.json()["detail"]
    other = client.get("/analytics/overview", params={**PERIOD, "tenant": str(beta)}, headers=alpha["admin"].headers)
    assert other.status_code == 404  # another tenant's existence is not revealed
    every = client.get("/analytics/activity", params={**PERIOD, "tenant": "all"}, headers=alpha["admin"].headers)
    assert every.status_code == 403 and "across tenants" in every.json()["detail"]
    unknown = client.get("/analytics/overview", params={**PERIOD, "tenant": str(uuid.uuid4())},
                         headers=platform_admin.headers)
    assert unknown.status_code == 404 and "no tenant" in unknown.json()["detail"]
    assert client.get("/analytics/overview", params=PERIOD).status_code == 401
    scope = client.get("/analytics/scope", headers=alpha["admin"].headers).json()
    assert (scope["tenant"], scope["platform"], [t["slug"] for t in scope["tenants"]]) == (
        alpha["admin"].tenant_id, False, ["alpha"])
    scope = client.get("/analytics/scope", headers=platform_admin.headers).json()
    assert scope["platform"] is True
    assert [t["slug"] for t in scope["tenants"]] == [client.app.state.settings.default_tenant, "alpha", "beta"]


def test_a_bad_period_is_refused_with_the_reason(client, tenants, filled):
    admin = tenants["alpha"]["admin"]

    def refused(**params):
        answer = client.get("/analytics/activity", params=params, headers=admin.headers)
        assert answer.status_code == 422, answer.text
        return str(answer.json()["detail"])

    assert "before `from`" in refused(**{"from": "2026-03-15", "to": "2026-03-02"})
    assert "at most 400" in refused(**{"from": "2025-01-01", "to": "2026-03-02"})
    assert "date" in refused(**{"from": "yesterday"})
    assert "outside the days" in refused(**{"from": "0001-01-01", "to": "0001-01-05"})
    assert "outside the days" in refused(**{"to": "9999-12-31"})
    assert "day" in refused(**PERIOD, granularity="month")
    assert "pattern" in refused(**PERIOD, tenant="alpha")
    assert client.get("/analytics/activity", params={"from": "2025-02-05", "to": "2026-03-10"},
                      headers=admin.headers).status_code == 200  # 399 days


def test_activity_fills_every_day_and_averages_weeks(client, tenants, filled):
    rows, alpha = filled["rows"], filled["alpha"]
    admin = tenants["alpha"]["admin"]
    daily = get(client, admin, "activity")["data"]
    assert [p["period"] for p in daily] == [d.isoformat() for d in days(START, 14)]
    by_day = {r["day"]: r for r in within(rows["activity_days"], tenant=alpha)}
    for point in daily:
        row = by_day.get(date.fromisoformat(point["period"]))
        expected = (row["dau"], row["wau"], row["mau"]) if row else (0, 0, 0)  # Sundays: no row
        assert (point["dau"], point["wau"], point["mau"]) == expected
        assert point["stickiness"] == (pytest.approx(row["dau"] / row["mau"]) if row else None)
    weekly = get(client, admin, "activity", granularity="week", **{"from": "2026-03-04"})["data"]
    assert [p["period"] for p in weekly] == ["2026-03-02", "2026-03-09"]
    first_week = days(date(2026, 3, 4), 5)  # Wednesday .. Sunday: cut to the period
    assert weekly[0]["dau"] == pytest.approx(sum(by_day[d]["dau"] for d in first_week if d in by_day) / 5)
    assert (weekly[1]["wau"], weekly[1]["mau"]) == (0, 0)  # its last day, Sunday 15th, has no row
    assert (weekly[0]["wau"], weekly[0]["mau"]) == (0, 0)
    saturday = by_day[date(2026, 3, 14)]
    week = get(client, admin, "activity", granularity="week", **{"from": "2026-03-09", "to": "2026-03-14"})["data"]
    assert (week[0]["wau"], week[0]["mau"]) == (saturday["wau"], saturday["mau"])  # the period ends on Saturday


def test_workouts_refusals_and_rewards_per_day_and_week(client, tenants, filled):
    rows, alpha = filled["rows"], filled["alpha"]
    admin = tenants["alpha"]["admin"]
    workouts = get(client, admin, "workouts", granularity="week")
    for point in workouts["data"]:
        monday = date.fromisoformat(point["period"])
        week = [r for r in within(rows["workout_days"], monday, monday + timedelta(days=6), alpha)
                if r["activity"] == point["activity"]]
        assert (point["accepted"], point["rejected"], point["flagged"]) == (
            total(week, "accepted"), total(week, "rejected"), total(week, "flagged"))
        assert point["distance_km"] == pytest.approx(total(week, "distance_m") / 1000)
    period_rows = within(rows["workout_days"], tenant=alpha)
    assert [(a["activity"], a["accepted"]) for a in workouts["activities"]] == sorted(
        ((name, total([r for r in period_rows if r["activity"] == name], "accepted"))
         for name in {r["activity"] for r in period_rows}), key=lambda pair: (-pair[1], pair[0]))

    refusals = get(client, admin, "refusals")
    refused = within(rows["refusal_days"], tenant=alpha)
    assert refusals["rejected"] == total(period_rows, "rejected")
    by_reason = {}
    for r in refused:
        by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + r["workouts"]
    assert {r["reason"]: r["workouts"] for r in refusals["reasons"]} == by_reason
    assert [r["workouts"] for r in refusals["reasons"]] == sorted((r["workouts"] for r in refusals["reasons"]),
                                                                  reverse=True)
    assert len(refusals["data"]) == len(refused)

    rewards = get(client, admin, "rewards")
    by_day = {r["day"]: r for r in within(rows["reward_days"], tenant=alpha)}
    for point in rewards["data"]:
        row = by_day[date.fromisoformat(point["period"])]
        assert (point["issued"], point["claimed"], fit(point["claimed_fit"])) == (
            row["issued"], row["claimed"], row["claimed_amount"])
        assert point["mean_hours_to_claim"] == (
            pytest.approx(row["claim_seconds"] / row["claimed"] / 3600) if row["claimed"] else None)
    assert rewards["totals"]["issued"] == total(by_day.values(), "issued")


def test_token_running_sums_start_from_every_day_before_the_period(client, tenants, filled):
    token_days = filled["rows"]["token_days"]
    answer = get(client, tenants["beta"]["admin"], "token")
    assert answer == get(client, tenants["alpha"]["admin"], "token") | {"tenant": answer["tenant"]}
    for point in answer["data"]:
        day = date.fromisoformat(point["period"])
        so_far = [r for r in token_days if r["day"] <= day]
        assert fit(point["supply_fit"]) == total(so_far, "minted") - total(so_far, "burned")
        assert fit(point["treasury_fit"]) == total(so_far, "to_treasury")
        assert fit(point["circulating_fit"]) == fit(point["supply_fit"]) - fit(point["treasury_fit"])
        today = [r for r in token_days if r["day"] == day]
        assert fit(point["minted_fit"]) == total(today, "minted")


def test_marketplace_totals_and_best_sellers(client, tenants, filled):
    rows, alpha = filled["rows"], filled["alpha"]
    answer = get(client, tenants["alpha"]["admin"], "marketplace", top=2)
    orders = within(rows["order_days"], tenant=alpha)
    assert answer["totals"]["orders"] == total(orders, "orders")
    assert fit(answer["totals"]["volume_fit"]) == total(orders, "volume")
    assert fit(answer["totals"]["average_order_fit"]) == total(orders, "volume") // total(orders, "orders")
    assert sum(fit(p["fees_fit"]) for p in answer["data"]) == total(orders, "fees")
    sold = {}
    for r in within(rows["item_days"], tenant=alpha):
        sold[r["listing_id"]] = sold.get(r["listing_id"], 0) + r["volume"]
    best = sorted(sold.items(), key=lambda item: (-item[1], item[0]))[:2]
    assert [(i["listing_id"], fit(i["volume_fit"])) for i in answer["top_items"]] == best


def test_retention_matrix_and_funnel_of_the_members_who_joined(client, tenants, filled):
    rows, alpha = filled["rows"], filled["alpha"]
    admin = tenants["alpha"]["admin"]
    cohorts = [r for r in rows["retention_weeks"] if r["tenant_id"] == alpha]
    observed = max(r["day"] for r in rows["activity_days"] if r["tenant_id"] == alpha)

    def matrix(first: date, last: date, weeks: int) -> list:
        """(cohort, members, [(week, active)]) of the cohorts of the weeks first .. last: a week without a row
        is 0 once observed (the store has days after its start), absent before."""
        mondays = sorted({r["cohort"] for r in cohorts if first <= r["cohort"] <= last})
        return [(monday.isoformat(), next(r["members"] for r in cohorts if r["cohort"] == monday),
                 [(week, next((r["active"] for r in cohorts if r["cohort"] == monday and r["week"] == week), 0))
                  for week in range(min(weeks, (observed - monday).days // 7) + 1)]) for monday in mondays]

    for (start, end), weeks in {("2026-02-04", "2026-02-16"): 3, ("2026-03-11", "2026-03-29"): 12}.items():
        retention = get(client, admin, "retention", weeks=weeks, **{"from": start, "to": end})
        assert [(c["cohort"], c["members"], [(w["week"], w["active"]) for w in c["weeks"]])
                for c in retention["cohorts"]] == matrix(date.fromisoformat(start) - timedelta(days=2),
                                                         date.fromisoformat(end), weeks)
        assert len(retention["cohorts"]) == 3  # the weeks of Feb 2, 9 and 16; of Mar 9, 16 and 23
    assert [len(c["weeks"]) for c in retention["cohorts"]] == [3, 2, 1]  # Mar 9 .. Mar 28: weeks observed so far

    funnel = get(client, admin, "funnel", **{"from": "2026-02-01", "to": "2026-03-01"})
    joined = [m for m in rows["member_milestones"] if m["tenant_id"] == alpha
              and date(2026, 2, 1) <= m["joined_at"].date() <= date(2026, 3, 1)]
    worked = [m for m in joined if m["first_workout_at"]]
    claimed = [m for m in worked if m["first_claim_at"]]
    bought = [m for m in claimed if m["first_purchase_at"]]
    steps = funnel["steps"]
    assert [(s["step"], s["members"]) for s in steps] == [
        ("joined", len(joined)), ("first_workout", len(worked)), ("first_claim", len(claimed)),
        ("first_purchase", len(bought))]
    assert steps[2]["step_rate"] == pytest.approx(len(claimed) / len(worked))
    hours = sorted((m["first_workout_at"] - m["joined_at"]).total_seconds() / 3600 for m in worked)
    middle = len(hours) // 2
    median = hours[middle] if len(hours) % 2 else (hours[middle - 1] + hours[middle]) / 2
    assert steps[1]["median_hours"] == pytest.approx(median)


def test_a_store_that_cannot_be_reached_answers_503(stack, tmp_path, backend_database):
    settings = api_settings(stack, tmp_path, backend_database, analytics_database=f"missing_{uuid.uuid4().hex[:8]}")
    with TestClient(create_app(settings)) as client:
        client.post("/auth/nonce")
        admin = Member(client, settings, settings.default_tenant, "admin")
        answer = client.get("/analytics/overview", params=PERIOD, headers=admin.headers)
        assert answer.status_code == 503 and "not reachable" in answer.json()["detail"]
