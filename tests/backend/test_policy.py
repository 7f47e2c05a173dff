"""The policy table (roles x action -> scope) as a table, decided by a real OPA with policy/ (authz.rego and
the base policy, data.json): every role and action, deny by default, and no rule ever reaching into another
tenant. EXPECTED is the frozen expectation, kept here and not read from data.json, so a change to the policy
shows as a change to this table."""

import asyncio
import itertools
import json

import pytest

from backend.app.core.opa import Opa
from backend.app.core.policy import Action, Denied, Principal, Role, authorize, authorize_platform
from tests.support.opa import OpaServer
from tests.support.paths import ROOT

ME, OTHER, TENANT, ELSEWHERE = "u-me", "u-other", "t-1", "t-2"

# Who may act on whose data: "own" = only their own user's, "tenant" = any member's, "-" = nobody's.
EXPECTED = {
    #                            user     coach     admin     attestor  agent
    Action.PROFILE_READ:        ("own",  "tenant", "tenant", "-",      "tenant"),
    Action.PROFILE_UPDATE:      ("own",  "own",    "own",    "-",      "-"),
    Action.WALLET_LINK:         ("own",  "own",    "own",    "-",      "-"),
    Action.MEMBERS_LIST:        ("-",    "tenant", "tenant", "-",      "-"),
    Action.MEMBER_ROLE_SET:     ("-",    "-",      "tenant", "-",      "-"),
    Action.SERVICE_CLIENT_CREATE: ("-",  "-",      "tenant", "-",      "-"),
    Action.WORKOUT_CREATE:      ("own",  "own",    "own",    "tenant", "-"),
    Action.WORKOUT_READ:        ("own",  "tenant", "tenant", "tenant", "-"),
    Action.WORKOUT_REVIEW:      ("-",    "tenant", "tenant", "-",      "-"),
    Action.NUTRITION_CREATE:    ("own",  "own",    "own",    "-",      "-"),
    Action.NUTRITION_READ:      ("own",  "tenant", "tenant", "-",      "-"),
    Action.VOUCHER_ISSUE:       ("own",  "own",    "own",    "tenant", "-"),
    Action.VOUCHER_READ:        ("own",  "own",    "tenant", "tenant", "-"),
    Action.CATALOG_WRITE:       ("-",    "tenant", "tenant", "-",      "-"),
    Action.NOTIFICATION_READ:   ("own",  "own",    "own",    "-",      "-"),
    Action.ORDER_RECEIPT_READ:  ("own",  "own",    "own",    "-",      "-"),
    Action.IDENTITY_USE:        ("own",  "own",    "own",    "-",      "-"),
    Action.IDENTITY_ADMIN:      ("-",    "-",      "tenant", "-",      "-"),
    Action.TRANSACTION_SUBMIT:  ("-",    "-",      "tenant", "-",      "-"),
    Action.TRANSACTION_READ:    ("-",    "-",      "tenant", "-",      "-"),
    Action.RELAY_REQUEST:       ("own",  "own",    "own",    "-",      "-"),
    Action.RELAY_READ:          ("own",  "own",    "tenant", "-",      "-"),
    Action.SPONSORSHIP_READ:    ("-",    "-",      "tenant", "-",      "-"),
    Action.ANALYTICS_READ:      ("-",    "-",      "tenant", "-",      "-"),
    Action.TENANT_POLICY_MANAGE: ("-",   "-",      "tenant", "-",      "-"),
}
PLATFORM_WIDE = {Action.ANALYTICS_READ}
ROLES = (Role.USER, Role.COACH, Role.ADMIN, Role.ATTESTOR, Role.AGENT)
MEMBERS = (Role.USER, Role.COACH, Role.ADMIN)
# Whose data a request is about: the caller's own, another member's of its tenant, the tenant as a whole (no
# member), and a member's of another tenant.
TARGETS = {"own": (TENANT, ME), "other member": (TENANT, OTHER), "tenant-wide": (TENANT, None),
           "other tenant": (ELSEWHERE, OTHER)}


def principal(client: Opa, role: Role, tenant: str = TENANT) -> Principal:
    member = role in MEMBERS
    return Principal(tenant_id=tenant, role=role, user_id=ME if member else None,
                     client_id=None if member else "svc", policy=client)


def decide_all(url: str, cases: list, decide) -> list:
    """`decide(client, *case)` for every case, on one client (one event loop)."""
    async def run():
        client = Opa(url, 5.0)
        try:
            return [await decide(client, *case) for case in cases]
        finally:
            await client.close()

    return asyncio.run(run())


async def outcome(call) -> int:
    try:
        await call
        return 200
    except Denied as refused:
        return refused.status


@pytest.fixture(scope="module")
def opa():
    """A real OPA with policy/, holding the (empty) tenants' policies as the API gives them."""
    with OpaServer() as server:
        async def load():
            client = Opa(server.url, 5.0)
            await client.write("tenant_policy", {"loaded": True, "tenants": {}})
            await client.close()

        asyncio.run(load())
        yield server


@pytest.fixture(scope="module")
def decisions(opa) -> dict:
    """OPA's answer (HTTP status) for every role x action x target."""
    cases = list(itertools.product(ROLES, Action, TARGETS))

    async def decide(client, role, action, target):
        tenant, user = TARGETS[target]
        return await outcome(authorize(principal(client, role), action, tenant_id=tenant, user_id=user))

    return dict(zip(cases, decide_all(opa.url, cases, decide), strict=True))


def test_the_table_covers_every_action():
    assert set(EXPECTED) == set(Action)


@pytest.mark.parametrize("action,role", list(itertools.product(Action, ROLES)))
def test_role_action_scope(decisions, action, role):
    """Parity: OPA decides each case exactly as the table says (and as the Python table did)."""
    scope = EXPECTED[action][ROLES.index(role)]
    got = {target: decisions[role, action, target] for target in TARGETS}
    allowed = {"own": {"own"}, "tenant": {"own", "other member", "tenant-wide"}, "-": set()}[scope]
    assert got == {target: 200 if target in allowed else 404 if target == "other tenant" else 403
                   for target in TARGETS}, "a rule reached into another tenant" if got["other tenant"] != 404 else ""


def test_the_base_policy_is_exactly_the_table():
    """policy/data.json (what OPA decides from) has no rule outside the table, and names only known roles."""
    rules = json.loads((ROOT / "policy" / "data.json").read_text())["fitmint"]["base"]["rules"]
    assert {(role, action) for role, actions in rules.items() for action in actions} == {
        (str(role), str(action)) for action, row in EXPECTED.items()
        for role, scope in zip(ROLES, row, strict=True) if scope != "-"}
    assert all(rules[str(role)][str(action)] == scope for action, row in EXPECTED.items()
               for role, scope in zip(ROLES, row, strict=True) if scope != "-")


def test_refusals_say_why(opa):
    async def decide(client, role, action, tenant, user):
        try:
            await authorize(principal(client, role), action, tenant_id=tenant, user_id=user)
        except Denied as refused:
            return refused.status, str(refused)

    refused = decide_all(opa.url, [(Role.USER, Action.MEMBER_ROLE_SET, TENANT, None),
                                   (Role.USER, Action.PROFILE_READ, TENANT, OTHER),
                                   (Role.ADMIN, Action.PROFILE_READ, ELSEWHERE, OTHER)], decide)
    assert refused == [(403, "role 'user' may not member.role.set"),
                       (403, "role 'user' may profile.read only for itself"),
                       (404, "not found in your tenant")]


@pytest.mark.parametrize("action,role", list(itertools.product(Action, ROLES)))
def test_only_the_platform_tenants_members_act_across_tenants_and_only_for_platform_wide_actions(opa, action, role):
    async def across(client, tenant):
        try:
            await authorize_platform(principal(client, role, tenant), action, platform_tenant_id=TENANT)
            return True
        except Denied as refused:
            assert refused.status == 403 and "across tenants" in str(refused)
            return False

    at_home, elsewhere = decide_all(opa.url, [(TENANT,), (ELSEWHERE,)], across)
    assert at_home == (action in PLATFORM_WIDE and EXPECTED[action][ROLES.index(role)] == "tenant")
    assert not elsewhere, "a member of another tenant than the platform's acted across tenants"


def test_a_service_tokens_scope_narrows_its_role_and_never_widens_it(opa):
    """A service token granted part of its role's actions (OAuth scope) may do only those; a scope naming an
    action its role lacks adds nothing; a member's token (no scope) has its role's rules."""
    def attestor(client, scopes):
        return Principal(TENANT, Role.ATTESTOR, client_id="svc", scopes=scopes, policy=client)

    async def decide(client, role_or_scopes, action):
        who = (principal(client, role_or_scopes) if isinstance(role_or_scopes, Role)
               else attestor(client, frozenset(role_or_scopes)))
        try:
            await authorize(who, action, tenant_id=TENANT, user_id=OTHER)
            return 200
        except Denied as refused:
            return refused.status, str(refused)

    narrowed = {"workout.create", "member.role.set"}
    assert decide_all(opa.url, [(narrowed, Action.WORKOUT_CREATE), (narrowed, Action.WORKOUT_READ),
                                (narrowed, Action.MEMBER_ROLE_SET), (Role.ATTESTOR, Action.WORKOUT_READ)], decide) == [
        200, (403, "the token's scope does not include workout.read"),
        (403, "role 'attestor' may not member.role.set"), 200]


def test_a_narrowed_token_gets_no_platform_wide_powers_either(opa):
    """The platform gate applies the token's scope too: an admin of the platform's tenant whose token was not
    granted the platform-wide action may not use it across tenants."""
    action = next(iter(PLATFORM_WIDE))

    async def across(client, scopes):
        who = Principal(TENANT, Role.ADMIN, user_id=ME, scopes=scopes, policy=client)
        try:
            await authorize_platform(who, action, platform_tenant_id=TENANT)
            return 200
        except Denied as refused:
            return refused.status, str(refused)

    refused = (403, f"only the platform's own tenant's admins may {action} across tenants")
    scopes = [(None,), (frozenset({Action.WORKOUT_READ.value}),), (frozenset({action.value}),)]
    assert decide_all(opa.url, scopes, across) == [200, refused, 200]
