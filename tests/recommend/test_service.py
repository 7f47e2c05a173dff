"""The recommendation service on a private analytics store and Feast project (real PostgreSQL and Redis): the
model trained from the store's purchases by the retraining job, the answers the API relies on (only the
candidates it sends, never an excluded, bought or other tenant's item, cold members and new items served),
and the background follower bringing new facts to the answers without a materialisation by hand.

Tenant A sells 101 (run shoes), 102 (run socks), 103 (swim cap), 104 (yoga mat); tenant B sells 201 (run).
Twelve A runners bought 101 and 102 together; four A swimmers bought 103; `buyer` bought 101 only.
"""

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from recommend import featurestore as fs
from recommend import models, training
from recommend.service import create_app
from tests.recommend.analyticsdb import private_store

A, B = str(uuid.uuid4()), str(uuid.uuid4())
NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=40)
CANDIDATES = ["101", "102", "103", "104", "201"]


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


class Platform:
    def __init__(self, facts):
        self.facts = facts
        self.members: dict[str, str] = {}

    def member(self, name: str, tenant: str, when: datetime) -> str:
        member = str(uuid.uuid4())
        self.members[name] = member
        self.facts.signed_in(member, tenant, self.wallet(name), when)
        return member

    @staticmethod
    def wallet(name: str) -> str:
        return "0x" + uuid.uuid5(uuid.NAMESPACE_DNS, name).hex[:40].ljust(40, "0")

    def buys(self, name: str, listing: int, item: int, when: datetime) -> None:
        self.facts.order(self.wallet(name), listing, item, when)


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    with private_store(tmp_path_factory.mktemp("recommend"), freshness_poll_seconds=0.2) as private:
        facts = private.facts
        for listing, (tenant, item, tags) in enumerate([(A, 101, ["run", "shoes"]), (A, 102, ["run"]),
                                                        (A, 103, ["swim"]), (A, 104, ["yoga"]),
                                                        (B, 201, ["run"])], start=1):
            facts.listed(tenant, listing, item, day(0), tags=tags)
        world = Platform(facts)
        for n in range(12):
            name = f"runner{n}"
            member = world.member(name, A, day(1))
            facts.workout(member, A, "run", day(2 + n % 5), 5000.0)
            world.buys(name, 1, 101, day(3 + n))
            world.buys(name, 2, 102, day(3.5 + n))
        for n in range(4):
            name = f"swimmer{n}"
            member = world.member(name, A, day(1))
            facts.workout(member, A, "swim", day(2 + n), 1000.0)
            world.buys(name, 3, 103, day(5 + n))
        buyer = world.member("buyer", A, day(1))
        facts.workout(buyer, A, "run", day(20), 6000.0)
        world.buys("buyer", 1, 101, day(21))
        newcomer = world.member("newcomer", A, day(30))
        facts.workout(newcomer, A, "run", day(31), 4000.0)
        facts.workout(newcomer, A, "run", day(33), 4500.0)
        fs.materialize(private.store, full=True)
        report = training.train(private.settings, private.store)
        yield private, world, report


@pytest.fixture(scope="module")
def client(platform):
    private, _, _ = platform
    with TestClient(create_app(private.settings, background=False)) as client:
        yield client


def products(client, member: str, tenant: str = A, **body) -> list[str]:
    answer = client.post("/products", json={"member_id": member, "tenant_id": tenant, "limit": 10,
                                            "candidates": CANDIDATES} | body)
    assert answer.status_code == 200, answer.text
    assert all(item["reason"] for item in answer.json()["items"])
    return [item["item_id"] for item in answer.json()["items"]]


def test_training_publishes_a_model_of_the_stores_purchases(platform, client):
    private, _, report = platform
    assert report["purchases"] == 12 * 2 + 4 + 1 and report["items"] == 5
    assert models.current_version(private.settings.model_dir) == report["version"]
    assert client.get("/health").json() == {"status": "ok", "model_version": report["version"]}


def test_a_buyer_gets_what_others_bought_with_it_never_what_they_bought_or_another_tenants(platform, client):
    _, world, _ = platform
    answer = client.post("/products", json={"member_id": world.members["buyer"], "tenant_id": A, "limit": 10,
                                            "candidates": CANDIDATES}).json()["items"]
    ranked = [item["item_id"] for item in answer]
    assert ranked[0] == "102"  # bought with 101 by every runner
    assert "item 101" not in answer[0]["reason"]  # named, not numbered
    assert "101" not in ranked and "201" not in ranked
    assert "102" not in products(client, world.members["buyer"], exclude=["102"])  # held by a wallet
    assert products(client, world.members["buyer"], candidates=["103", "201"]) == ["103"]


def test_cold_members_get_what_fits_their_activities_or_what_is_popular(platform, client):
    _, world, _ = platform
    assert products(client, world.members["newcomer"])[:2] in (["101", "102"], ["102", "101"])
    stranger = products(client, str(uuid.uuid4()))  # no features at all
    assert set(stranger) <= {"101", "102", "103", "104"} and stranger[0] in ("101", "102")
    assert products(client, str(uuid.uuid4()), tenant=B) == ["201"]


def test_workout_suggestions_come_from_the_members_history_and_goals(platform, client):
    _, world, _ = platform
    answer = client.post("/workouts", json={"member_id": world.members["newcomer"], "limit": 3})
    assert answer.status_code == 200, answer.text
    suggestions = answer.json()["items"]
    assert 1 <= len(suggestions) <= 3 and all(s["title"] and s["reason"] for s in suggestions)
    assert any(s["activity"] == "run" for s in suggestions)
    focused = client.post("/workouts", json={"member_id": world.members["newcomer"], "focus": "swim",
                                             "weekly_workouts": 4}).json()["items"]
    assert any(s["activity"] == "swim" for s in focused)
    assert client.post("/workouts", json={"member_id": "x", "limit": 0}).status_code == 422


def test_the_follower_brings_new_facts_and_new_items_to_the_answers(platform):
    private, world, _ = platform
    facts = private.facts
    with TestClient(create_app(private.settings)) as client:
        fresh = world.member("fresh swimmer", A, NOW - timedelta(days=3))
        before = client.post("/workouts", json={"member_id": fresh, "limit": 3}).json()["items"]
        facts.listed(A, 6, 105, NOW - timedelta(days=1), tags=["swim", "goggles"])
        facts.workout(fresh, A, "swim", NOW - timedelta(days=2), 1200.0)
        facts.workout(fresh, A, "swim", NOW - timedelta(days=1), 1500.0)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            after = client.post("/workouts", json={"member_id": fresh, "limit": 3}).json()["items"]
            top = products(client, fresh, candidates=[*CANDIDATES, "105"], limit=3)
            if after != before and any("swims" in s["reason"] for s in after) and "105" in top:
                break  # "Two swims and ..."; the new swim item, listed after training, reaches a swimmer
            time.sleep(0.2)
        else:
            pytest.fail(f"the follower did not bring the new swims and item online: {before}, {top}")
        # The new item fits swimmers, not runners: it takes no runner's place.
        assert "105" not in products(client, world.members["newcomer"], candidates=[*CANDIDATES, "105"], limit=3)
