"""GET /analytics/...: the dashboards of a tenant (its admins) or of any tenant and the whole platform (the
platform's admins: backend/app/core/policy.py), read from the analytics store's projections
(backend/app/analytics/queries.py). Every endpoint takes the period (`from`, `to`: UTC days, at most 400)
and `tenant` (default: the caller's; `all`: the whole platform)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from backend.app.analytics import models as m
from backend.app.analytics import queries
from backend.app.analytics.database import AnalyticsDatabase, StoreUnavailable, get_analytics_database
from backend.app.analytics.scope import Granularity, GranularityQuery, PeriodDep, TenantDep, reads_every_tenant
from backend.app.core.policy import Action
from backend.app.deps import BackendPool, CurrentPrincipal, check

Store = Annotated[AnalyticsDatabase, Depends(get_analytics_database)]

REFUSALS = {403: {"description": "Not an admin; or another tenant, or `all`, asked by someone not a platform admin"},
            404: {"description": "Another tenant's id (to others than platform admins), or an unknown tenant"},
            422: {"description": "A bad period: `to` before `from`, longer than 400 days, or not a date"},
            503: {"description": "The analytics store is unreachable or has no schema yet"}}

router = APIRouter(prefix="/analytics", tags=["analytics"], responses=REFUSALS)


@router.get("/scope", response_model=m.AnalyticsScope)
async def scope(request: Request, principal: CurrentPrincipal, pool: BackendPool, store: Store):
    """What the caller may read: its own tenant, and whether it may read every tenant (then all of them
    are listed), with the store's freshness. The dashboard's tenant filter is built from it."""
    await check(principal, Action.ANALYTICS_READ, tenant_id=principal.tenant_id)
    platform = await reads_every_tenant(principal, request)
    rows = await pool.fetch("SELECT id::text AS id, slug, name FROM tenants "
                            + ("" if platform else "WHERE id = $1::uuid ") + "ORDER BY id = $1::uuid DESC, name, slug",
                            principal.tenant_id)
    try:
        freshness = await queries.as_of(store)
    except StoreUnavailable:
        freshness = None
    return m.AnalyticsScope(tenant=principal.tenant_id, platform=platform, as_of=freshness,
                            tenants=[m.TenantPublic(**row) for row in rows])


@router.get("/overview", response_model=m.Overview)
async def overview(store: Store, scope: TenantDep, period: PeriodDep):
    """The period's headline numbers (members, workouts, rewards, orders, the token) beside those of the
    period of the same length just before it, and the store's freshness."""
    return await queries.overview(store, scope, period)


@router.get("/activity", response_model=m.Activity)
async def activity(store: Store, scope: TenantDep, period: PeriodDep, granularity: GranularityQuery = Granularity.DAY):
    """Active members (signed in or worked out): DAU, WAU, MAU and stickiness (DAU / MAU) per day or week."""
    return await queries.activity(store, scope, period, granularity)


@router.get("/workouts", response_model=m.Workouts)
async def workouts(store: Store, scope: TenantDep, period: PeriodDep, granularity: GranularityQuery = Granularity.DAY):
    """Workouts per day (or week) and activity: accepted, refused, flagged for review, distance and time;
    and the period's totals per activity."""
    return await queries.workouts(store, scope, period, granularity)


@router.get("/refusals", response_model=m.Refusals)
async def refusals(store: Store, scope: TenantDep, period: PeriodDep, granularity: GranularityQuery = Granularity.DAY):
    """The anti-cheat's refusals by rule: the period's totals (most frequent first) and per day or week."""
    return await queries.refusals(store, scope, period, granularity)


@router.get("/rewards", response_model=m.Rewards)
async def rewards(store: Store, scope: TenantDep, period: PeriodDep, granularity: GranularityQuery = Granularity.DAY):
    """Reward vouchers issued and, of those, claimed so far: counts, FIT, claim rate, mean time to claim."""
    return await queries.rewards(store, scope, period, granularity)


@router.get("/token", response_model=m.Token)
async def token(store: Store, scope: TenantDep, period: PeriodDep, granularity: GranularityQuery = Granularity.DAY):
    """FIT minted, burned and paid to the treasury, with the supply, the treasury's share and what
    circulates outside it as running sums. Platform-wide: the token is shared by every tenant."""
    return await queries.token(store, scope, period, granularity)


@router.get("/marketplace", response_model=m.Marketplace)
async def marketplace(store: Store, scope: TenantDep, period: PeriodDep,
                      granularity: GranularityQuery = Granularity.DAY,
                      top: Annotated[int, Query(ge=1, le=50, description="How many best sellers")] = 10):
    """Orders of the tenant's products (`all`: resale included): orders, buyers, items, volume, fees and
    burned FIT per day or week, the period's totals and its best sellers by volume."""
    return await queries.marketplace(store, scope, period, granularity, top)


@router.get("/retention", response_model=m.Retention)
async def retention(store: Store, scope: TenantDep, period: PeriodDep,
                    weeks: Annotated[int, Query(ge=0, le=52, description="Weeks after joining to show")] = 12):
    """Weekly retention: for each cohort (the members who joined in a week of the period), how many were
    active in each week after."""
    return await queries.retention(store, scope, period, weeks)


@router.get("/funnel", response_model=m.Funnel)
async def funnel(store: Store, scope: TenantDep, period: PeriodDep):
    """Of the members who joined in the period: how many have worked out, then claimed a reward, then
    bought in the marketplace, with the median time from joining to each step."""
    return await queries.funnel(store, scope, period)
