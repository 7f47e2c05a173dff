"""Who may do what: roles x action -> scope, deny by default, decided by Open Policy Agent.

The table is data, policy/data.json (`rules[role][action]`: "own" or "tenant"; a pair that is not there is
denied), and the rules that read it are policy/authz.rego; this module names the roles and actions and asks
the API's OPA (`Principal.policy`, backend/app/core/opa.py) for each decision. OPA unreachable or slow:
`PolicyUnavailable`, the request fails closed (503/504 naming `opa`).

Every principal belongs to exactly one tenant (its token names it), and no rule reaches across tenants:
a target in another tenant is refused (404) before the table is read. Within the tenant, a rule's scope
says whose data the role may touch: only its own user's (OWN) or any member's (TENANT). A tenant's admins may
take rules away for their tenant (backend/app/tenant_policy: stored in PostgreSQL, pushed to OPA), never add.

One exception, and only for the base policy's `platform_wide` actions: the platform's own tenant (the API's
`default_tenant`, "fitmint", the operator's) is where platform staff sign in, and its members whose role
has TENANT scope for such an action have it over every tenant, and all of them at once
(`authorize_platform`). For ANALYTICS_READ these are the "platform admins": the admins of the platform's
tenant read any tenant's dashboards, and the whole platform's (`?tenant=all`).
"""

import json
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from backend.app.core.opa import Opa, PolicyUnavailable

log = logging.getLogger("api.policy")

BASE_RULES: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).resolve().parents[3] / "policy" / "data.json").read_text())["fitmint"]["base"]["rules"]


class Role(StrEnum):
    USER = "user"
    COACH = "coach"
    ADMIN = "admin"
    ATTESTOR = "attestor"  # a service: devices/integrations that submit verified activity
    AGENT = "agent"        # a service: the DIDComm agent controller


class Action(StrEnum):
    PROFILE_READ = "profile.read"
    PROFILE_UPDATE = "profile.update"
    WALLET_LINK = "wallet.link"
    MEMBERS_LIST = "members.list"
    MEMBER_ROLE_SET = "member.role.set"
    SERVICE_CLIENT_CREATE = "service_client.create"
    WORKOUT_CREATE = "workout.create"
    WORKOUT_READ = "workout.read"
    WORKOUT_REVIEW = "workout.review"     # the rejected entries kept for review, the anti-cheat model's flags
    NUTRITION_CREATE = "nutrition.create"
    NUTRITION_READ = "nutrition.read"
    VOUCHER_ISSUE = "voucher.issue"
    VOUCHER_READ = "voucher.read"
    CATALOG_WRITE = "catalog.write"       # upload images, create, update and list products
    NOTIFICATION_READ = "notification.read"   # the inbox, marking read, the live WebSocket
    ORDER_RECEIPT_READ = "order_receipt.read"  # receipts of orders the member's wallets bought or sold
    IDENTITY_USE = "identity.use"      # own DIDComm connections, credentials, presentations, gates
    IDENTITY_ADMIN = "identity.admin"  # revoke credentials, trusted issuers
    TRANSACTION_SUBMIT = "transaction.submit"  # a transaction through the queue, from the operator keys
    TRANSACTION_READ = "transaction.read"      # the tenant's queued transactions, their states and attempts
    RELAY_REQUEST = "relay.request"    # have the platform send one's own voucher claim or purchase intent
    RELAY_READ = "relay.read"          # relays and their states
    SPONSORSHIP_READ = "sponsorship.read"  # the tenant's sponsored relays today, per member, and the limits
    ANALYTICS_READ = "analytics.read"  # the tenant's dashboards (GET /analytics/...): aggregates, no member's data
    TENANT_POLICY_MANAGE = "tenant_policy.manage"  # read and tighten the tenant's own policy (GET/PUT /tenant/policy)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in member (user_id set) or a service client (client_id set)."""
    tenant_id: str
    role: Role
    user_id: str | None = None
    client_id: str | None = None
    scopes: frozenset[str] | None = None  # a service token's granted OAuth scope (actions); None: the role's
    policy: Opa | None = field(default=None, compare=False, repr=False)  # who decides (the app's OPA client)

    @property
    def name(self) -> str:
        return self.user_id or f"service:{self.client_id}"


class Denied(Exception):
    """`status` 404 when the target is outside the caller's tenant (its existence is not revealed),
    403 when the role may not do this."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


def _decider(principal: Principal) -> Opa:
    if principal.policy is None:
        raise RuntimeError("a Principal without a policy client cannot be authorized (deps.get_principal sets it)")
    return principal.policy


async def _decide(principal: Principal, rule: str, decision_input: dict) -> None:
    decision = await _decider(principal).decide(rule, decision_input)
    if decision.get("allow") is not True:
        if decision["status"] == 503:  # OPA is up but has not been given the tenants' policies yet
            principal.policy.data_missing.set()
            raise PolicyUnavailable(decision.get("reason", "tenant policies not loaded"))
        log.info("denied %s %s: %s (decision %s)", principal.name, decision_input["action"], decision["reason"],
                 decision.get("decision_id"))
        raise Denied(decision["status"] if decision["status"] == 404 else 403, decision.get("reason", "denied"))


def _who(principal: Principal) -> dict:
    """The principal as the Rego reads it; `scopes`: a service token's granted OAuth scope (null: the role's)."""
    return {"tenant_id": principal.tenant_id, "role": str(principal.role), "user_id": principal.user_id,
            "scopes": None if principal.scopes is None else sorted(principal.scopes)}


def actions_of(role: Role) -> list[str]:
    """The actions `role` may do at all in the base policy: a service client's OAuth scopes. Read from the
    file OPA decides with (policy/data.json)."""
    return sorted(BASE_RULES.get(str(role), {}))


async def authorize(principal: Principal, action: Action, *, tenant_id: str, user_id: str | None = None) -> None:
    """Raises Denied unless `principal` may do `action` on the data of `user_id` in `tenant_id`
    (user_id None: a tenant-wide action); PolicyUnavailable when OPA gives no decision."""
    await _decide(principal, "decision", {
        "principal": _who(principal), "action": str(action),
        "target": {"tenant_id": str(tenant_id), "user_id": None if user_id is None else str(user_id)}})


async def authorize_platform(principal: Principal, action: Action, *, platform_tenant_id: str) -> None:
    """Raises Denied (403) unless `principal` may do `action` across tenants: a platform-wide action, a
    member of the platform's own tenant, and a role with TENANT scope for it there."""
    await _decide(principal, "platform_decision", {
        "principal": _who(principal), "action": str(action), "platform_tenant_id": str(platform_tenant_id)})
