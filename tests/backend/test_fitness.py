"""Workouts and nutrition through HTTP: anti-cheat refusals are 422 with every reason and are kept for
review; idempotency keys make retries safe; pages are complete; coaches see members' activity unless
the member keeps it private."""


import pytest

from tests.support.api import a_run, db

pytestmark = pytest.mark.wallclock  # `make test-clock` runs it at 00:05, 11:00 and 23:55 UTC


def test_plausible_workout_is_accepted(client, tenants):
    alice = tenants["alpha"]["user"]
    response = client.post("/fitness/workouts", json=a_run(), headers=alice.headers)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "accepted" and response.json()["rejections"] == []


@pytest.mark.parametrize("fields,code", [
    ({"distance_m": 42_000.0, "steps": 38_000}, "too_fast"),              # 42 km in 30 minutes
    ({"steps": 200}, "steps_distance_mismatch"),                          # 25 m per step
    ({"avg_heart_rate": 240}, "heart_rate_out_of_range"),
    ({"gps": {"points": 900, "distance_m": 15_000.0}}, "gps_distance_mismatch"),
])
def test_implausible_workout_is_refused_with_the_reason_and_kept(client, settings, tenants, fields, code):
    alice, coach = tenants["alpha"]["user"], tenants["alpha"]["coach"]
    response = client.post("/fitness/workouts", json=a_run(**fields), headers=alice.headers)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert code in [r["code"] for r in detail["rejections"]] and detail["message"].startswith("workout refused")
    kept = db(settings, "SELECT status FROM workouts WHERE id = $1::uuid", detail["workout_id"])
    assert kept[0]["status"] == "rejected"
    review = client.get("/fitness/review", headers=coach.headers).json()["data"]
    assert detail["workout_id"] in [w["id"] for w in review]
    assert client.get("/fitness/review", headers=alice.headers).status_code == 403


def test_duplicates_and_overlaps_are_refused(client, tenants):
    alice = tenants["alpha"]["user"]
    run = a_run(hours_ago=5)
    assert client.post("/fitness/workouts", json=run, headers=alice.headers).status_code == 201
    duplicate = client.post("/fitness/workouts", json=run, headers=alice.headers)
    assert duplicate.status_code == 422
    assert [r["code"] for r in duplicate.json()["detail"]["rejections"]] == ["duplicate"]
    shifted = a_run(hours_ago=5 - 0.2)  # starts 12 minutes before the first one ends
    overlap = client.post("/fitness/workouts", json=shifted, headers=alice.headers)
    assert overlap.status_code == 422 and "overlap" in [r["code"] for r in overlap.json()["detail"]["rejections"]]


def test_idempotency_key_replays_the_first_answer(client, settings, tenants):
    alice = tenants["alpha"]["user"]
    run, key = a_run(hours_ago=7), {"Idempotency-Key": "phone-retry-0001"}
    first = client.post("/fitness/workouts", json=run, headers=alice.headers | key)
    again = client.post("/fitness/workouts", json=run, headers=alice.headers | key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/fitness/workouts", json=a_run(hours_ago=9), headers=alice.headers | key)
    assert other.status_code == 409 and "different workout" in other.json()["detail"]
    assert db(settings, "SELECT count(*) AS n FROM workouts WHERE user_id = $1::uuid", alice.user_id)[0]["n"] == 1


def test_workout_pages_are_complete_newest_first(client, tenants):
    alice = tenants["alpha"]["user"]
    for hours in range(1, 8):
        assert client.post("/fitness/workouts", json=a_run(hours_ago=hours * 1.5, minutes=20, km=3),
                           headers=alice.headers).status_code == 201
    seen, cursor = [], None
    while True:
        page = client.get("/fitness/workouts", params={"limit": 3} | ({"cursor": cursor} if cursor else {}),
                          headers=alice.headers).json()
        seen += [w["started_at"] for w in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and seen == sorted(seen, reverse=True)


def test_coach_sees_members_activity_unless_private(client, tenants):
    alpha = tenants["alpha"]
    alice, coach = alpha["user"], alpha["coach"]
    client.post("/fitness/workouts", json=a_run(), headers=alice.headers)
    listed = client.get("/fitness/workouts", params={"user_id": alice.user_id}, headers=coach.headers)
    assert listed.status_code == 200 and len(listed.json()["data"]) == 1
    client.put("/users/me/preferences", json={"privacy": "private"}, headers=alice.headers)
    hidden = client.get("/fitness/workouts", params={"user_id": alice.user_id}, headers=coach.headers)
    assert hidden.status_code == 403 and "private" in hidden.json()["detail"]
    assert client.get("/fitness/workouts", params={"user_id": alice.user_id},
                      headers=alpha["admin"].headers).status_code == 200
    other_user = client.get("/fitness/workouts", params={"user_id": coach.user_id}, headers=alice.headers)
    assert other_user.status_code == 403


def test_nutrition_logs(client, tenants):
    alice = tenants["alpha"]["user"]
    meal = {"eaten_at": "2026-11-26T12:30:00+01:00", "meal": "lunch", "calories": 650, "protein_g": 35}
    key = {"Idempotency-Key": "meal-0000001"}
    first = client.post("/fitness/nutrition", json=meal, headers=alice.headers | key)
    again = client.post("/fitness/nutrition", json=meal, headers=alice.headers | key)
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    listed = client.get("/fitness/nutrition", headers=alice.headers).json()["data"]
    assert [n["id"] for n in listed] == [first.json()["id"]]
    bad = client.post("/fitness/nutrition", json=meal | {"meal": "second breakfast"}, headers=alice.headers)
    assert bad.status_code == 422


@pytest.mark.parametrize("body,reason", [
    (a_run(started_at="2026-11-26T10:00:00"), "time zone"),
    (a_run(ended_at="2020-01-01T00:00:00Z"), "after started_at"),
    (a_run(activity="teleport"), "activity"),
    (a_run(distance_m=-5), "greater than or equal"),
])
def test_malformed_workouts_are_422_with_the_reason(client, tenants, body, reason):
    response = client.post("/fitness/workouts", json=body, headers=tenants["alpha"]["user"].headers)
    assert response.status_code == 422 and reason in response.text


def test_oversized_body_and_bad_tokens_are_refused(client, tenants):
    headers = tenants["alpha"]["user"].headers
    huge = client.post("/fitness/workouts", content=b'{"activity": "' + b"x" * 200_000 + b'"}',
                       headers=headers | {"content-type": "application/json"})
    assert huge.status_code == 413 and "larger than" in huge.json()["detail"]
    chunks = (b"x" * 16_384 for _ in range(8))  # no Content-Length: counted as it arrives
    streamed = client.post("/fitness/workouts", content=chunks, headers=headers | {"content-type": "application/json"})
    assert streamed.status_code == 413
    for bad in ("Bearer nonsense", "Basic abc", ""):
        response = client.get("/fitness/workouts", headers={"Authorization": bad} if bad else {})
        assert response.status_code == 401
