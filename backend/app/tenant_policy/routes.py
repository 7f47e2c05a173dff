"""GET/PUT /tenant/policy: a tenant's admins read and tighten their tenant's policy, without a deploy.

Tightening only: the body lists, per role, actions the base policy (policy/data.json) gives that role and
the tenant takes away; an action the role does not have is refused (422: there is nothing to take away,
and nothing here can grant). Stored in PostgreSQL, then given to this replica's OPA at once and to every
other replica's within `opa_sync_seconds` (sync.py). A PUT replaces the tenant's whole list; `{}` restores
the base policy."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from backend.app.core.inputs import RequestModel
from backend.app.core.policy import Action, Principal, Role
from backend.app.deps import BackendPool, CurrentPrincipal, check
from backend.app.tenant_policy import store

router = APIRouter(tags=["tenant"])

# Taking this from the tenant's admins would leave nobody able to give it back.
LOCKOUT = (Role.ADMIN, Action.TENANT_POLICY_MANAGE)


class TenantPolicyUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    denied: Annotated[dict[Role, Annotated[list[Action], Field(max_length=len(Action))]], Field(
        description="Per role, the actions it may not do in this tenant (each one the base policy gives it)")]


class TenantPolicyPublic(BaseModel):
    tenant_id: str
    denied: dict[str, list[str]] = Field(description="Per role, the actions this tenant took away")
    effective: dict[str, dict[str, str]] = Field(
        description="What each role may do here: action -> scope (own: its own data, tenant: any member's)")
    updated_at: datetime | None


async def _base_rules(request: Request) -> dict[str, dict[str, str]]:
    """The base policy as OPA enforces it (policy/data.json): {role: {action: scope}}."""
    return await request.app.state.opa.read("fitmint/base/rules") or {}


async def _answer(request: Request, principal: Principal, policy: dict) -> TenantPolicyPublic:
    base = await _base_rules(request)
    effective = {role: {action: scope for action, scope in sorted(rules.items())
                        if action not in policy["denied"].get(role, [])} for role, rules in base.items()}
    return TenantPolicyPublic(tenant_id=principal.tenant_id, denied=policy["denied"], effective=effective,
                              updated_at=policy["updated_at"])


@router.get("/tenant/policy", response_model=TenantPolicyPublic)
async def read_tenant_policy(request: Request, principal: CurrentPrincipal, pool: BackendPool) -> TenantPolicyPublic:
    """Your tenant's policy (admins): what it took away from the base policy, and what each role may do."""
    await check(principal, Action.TENANT_POLICY_MANAGE, tenant_id=principal.tenant_id)
    return await _answer(request, principal, await store.read(pool, principal.tenant_id))


@router.put("/tenant/policy", response_model=TenantPolicyPublic)
async def set_tenant_policy(body: TenantPolicyUpdate, request: Request, principal: CurrentPrincipal,
                            pool: BackendPool) -> TenantPolicyPublic:
    """Replaces what your tenant takes away from the base policy (admins): in effect on every replica within
    seconds. Only tightens: an action the role does not have in the base policy is refused (422)."""
    await check(principal, Action.TENANT_POLICY_MANAGE, tenant_id=principal.tenant_id)
    base = await _base_rules(request)
    nothing_to_take = [f"{role}: {action}" for role, actions in body.denied.items() for action in actions
                       if action not in base.get(role, {})]
    if nothing_to_take:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            "the base policy does not give these, so there is nothing to take away (a tenant's "
                            f"policy can only tighten): {', '.join(nothing_to_take)}")
    if LOCKOUT[1] in body.denied.get(LOCKOUT[0], []):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"admins may not take {LOCKOUT[1]} from admins: nobody could give it back")
    denied = {str(role): sorted({str(action) for action in actions})
              for role, actions in body.denied.items() if actions}
    await store.write(pool, principal.tenant_id, denied, principal.user_id)
    await request.app.state.policy_sync.push()
    return await _answer(request, principal, await store.read(pool, principal.tenant_id))
