import asyncio
from datetime import date

import pytest

from analytics import synthetic
from tests.support.analyticsstore import PrivateStores, analytics_settings

# A small platform: 2 tenants over 45 days, with a reorganisation's compensations among its events.
PLAN = synthetic.Plan(events=4_000, days=45, tenants=2, seed=5, last_day=date(2026, 3, 31), reorg_rate=0.02)


@pytest.fixture(scope="module")
def plan_events():
    return list(synthetic.generate(PLAN))


@pytest.fixture(scope="module")
def stores():
    stores = PrivateStores()
    yield stores
    asyncio.run(stores.close())


@pytest.fixture(scope="module")
def settings():
    return analytics_settings()
