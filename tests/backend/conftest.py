"""Fixtures for API tests: the app on a fresh backend database of its own in the stack's PostgreSQL,
the stack's Redis, and a tenants/roles setup made through the API's own paths."""

import pytest
from fastapi.testclient import TestClient

from backend.app.main import create_app
from tests.support.analyticsstore import create_store
from tests.support.api import api_settings, db
from tests.support.databases import create_database, drop_database
from tests.support.signin import me, new_wallet, sign_in
from tests.support.stackenv import stack_settings


@pytest.fixture(scope="session")
def stack():
    return stack_settings()


@pytest.fixture
def backend_database(stack):
    name = create_database(stack)
    yield name
    drop_database(stack, name)


@pytest.fixture
def analytics_database(stack):
    """A private analytics store (its schema, no rows): for what reads it, the dashboards and reports."""
    name = create_store(stack)
    yield name
    drop_database(stack, name)


@pytest.fixture
def settings(stack, tmp_path, backend_database):
    return api_settings(stack, tmp_path, backend_database)


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


class Member:
    def __init__(self, client, settings, tenant: str, role: str = "user"):
        self.wallet = new_wallet()
        self.tenant = tenant
        self.headers = sign_in(client, settings, self.wallet, tenant)
        identity = me(client, self.headers)
        self.user_id, self.tenant_id = identity["user_id"], identity["tenant_id"]
        if role != "user":  # promoted the way an operator does (python -m backend.app.manage), then re-signed
            db(settings, "UPDATE users SET role = $2 WHERE id = $1::uuid", self.user_id, role)
            self.headers = sign_in(client, settings, self.wallet, tenant)
        self.role = role

    @property
    def address(self) -> str:
        return self.wallet.address


@pytest.fixture
def tenants(client, settings):
    """Two tenants with a user, a coach and an admin each: {"alpha": {"user": Member, ...}, "beta": {...}}."""
    db(settings, "INSERT INTO tenants (slug, name) VALUES ('alpha', 'Alpha Club'), ('beta', 'Beta Gym')")
    return {slug: {role: Member(client, settings, slug, role) for role in ("user", "coach", "admin")}
            for slug in ("alpha", "beta")}
