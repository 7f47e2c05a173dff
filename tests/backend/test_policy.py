"""The policy table (roles x action -> scope) as a table: every role and action, deny by default, and no
rule ever reaching into another tenant."""

import itertools

import pytest

from backend.app.core.policy import (
    PLATFORM_WIDE,
    POLICY,
    Action,
    Denied,
    Principal,
    Role,
    authorize,
    authorize_platform,
)

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
}
ROLES = (Role.USER, Role.COACH, Role.ADMIN, Role.ATTESTOR, Role.AGENT)


def allowed(role: Role, action: Action, *, tenant: str, user: str | None) -> bool:
    principal = Principal(tenant_id=TENANT, role=role, user_id=ME if role in (Role.USER, Role.COACH, Role.ADMIN)
                          else None, client_id=None if role in (Role.USER, Role.COACH, Role.ADMIN) else "svc")
    try:
        authorize(principal, action, tenant_id=tenant, user_id=user)
        return True
    except Denied:
        return False


def test_the_table_covers_every_action():
    assert set(EXPECTED) == set(Action)


@pytest.mark.parametrize("action,role", list(itertools.product(Action, ROLES)))
def test_role_action_scope(action, role):
    expected = EXPECTED[action][ROLES.index(role)]
    own = allowed(role, action, tenant=TENANT, user=ME)
    others = allowed(role, action, tenant=TENANT, user=OTHER)
    assert (own, others) == {"own": (True, False), "tenant": (True, True), "-": (False, False)}[expected]
    assert not allowed(role, action, tenant=ELSEWHERE, user=OTHER), "a rule reached into another tenant"


def test_unknown_pairs_are_denied_with_the_reason():
    with pytest.raises(Denied) as refused:
        authorize(Principal(TENANT, Role.USER, user_id=ME), Action.MEMBER_ROLE_SET, tenant_id=TENANT)
    assert refused.value.status == 403 and "may not member.role.set" in str(refused.value)
    with pytest.raises(Denied) as hidden:
        authorize(Principal(TENANT, Role.ADMIN, user_id=ME), Action.PROFILE_READ, tenant_id=ELSEWHERE, user_id=OTHER)
    assert hidden.value.status == 404


def test_policy_has_no_rule_outside_the_table():
    assert {(role, action) for (role, action) in POLICY} == {
        (role, action) for action, row in EXPECTED.items()
        for role, scope in zip(ROLES, row, strict=True) if scope != "-"}


@pytest.mark.parametrize("action,role", list(itertools.product(Action, ROLES)))
def test_only_the_platform_tenants_members_act_across_tenants_and_only_for_platform_wide_actions(action, role):
    def across(tenant: str) -> bool:
        try:
            authorize_platform(Principal(tenant, role, user_id=ME), action, platform_tenant_id=TENANT)
            return True
        except Denied as refused:
            assert refused.status == 403 and "across tenants" in str(refused)
            return False

    assert across(TENANT) == (action in PLATFORM_WIDE and EXPECTED[action][ROLES.index(role)] == "tenant")
    assert not across(ELSEWHERE), "a member of another tenant than the platform's acted across tenants"


@pytest.mark.parametrize("gate", ["tenant", "platform"])
def test_a_token_narrowed_by_its_scope_has_only_the_granted_actions_at_every_gate(gate):
    """Both gates: a role's powers come back neither inside the tenant nor across tenants."""
    action = next(iter(PLATFORM_WIDE))
    narrowed = Principal(TENANT, Role.ADMIN, user_id=ME, scopes=frozenset({Action.WORKOUT_READ.value}))

    def decide(principal: Principal) -> None:
        if gate == "tenant":
            authorize(principal, action, tenant_id=TENANT)
        else:
            authorize_platform(principal, action, platform_tenant_id=TENANT)

    decide(Principal(TENANT, Role.ADMIN, user_id=ME))  # the role may
    with pytest.raises(Denied) as refused:
        decide(narrowed)
    assert refused.value.status == 403 and "scope" in str(refused.value)
    decide(Principal(TENANT, Role.ADMIN, user_id=ME, scopes=frozenset({action.value})))
