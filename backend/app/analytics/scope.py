"""What a dashboard request is about: the period (`from`, `to`, `granularity`) and the tenants (`tenant`),
checked by the policy. Both are FastAPI dependencies the analytics routes share."""

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status

from backend.app.core.policy import Action, Denied, Principal, authorize, authorize_platform
from backend.app.deps import BackendPool, CurrentPrincipal, SettingsDep

MAX_DAYS = 400  # a period is at most this many days (a year and a bit: year-over-year weeks fit)
DEFAULT_DAYS = 30
EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)  # what a period's days may be (and its previous one's)
ALL = "all"


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO weeks, each labelled by its Monday; the first and last are cut to the period


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Period:
    """UTC days `start` to `end`, both included."""
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def after_end(self) -> date:
        return self.end + timedelta(days=1)

    def previous(self) -> "Period":
        """The period of the same length just before this one (what headline numbers compare against)."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def buckets(self, granularity: Granularity) -> list[date]:
        """Every bucket's label, in order: each day, or the Monday of each ISO week the period touches."""
        if granularity is Granularity.WEEK:
            first = monday(self.start)
            return [first + timedelta(weeks=i) for i in range((self.end - first).days // 7 + 1)]
        return [self.start + timedelta(days=i) for i in range(self.days)]


def get_period(settings: SettingsDep,
               start: Annotated[date | None, Query(alias="from", description=(
                   "First UTC day of the period (default: `to` - 29 days)"))] = None,
               end: Annotated[date | None, Query(alias="to", description=(
                   "Last UTC day of the period, included (default: today on the platform's clock)"))] = None,
               ) -> Period:
    for day in (start, end):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                f"{day} is outside the days analytics knows ({EARLIEST} to {LATEST})")
    end = end or settings.now().date()
    start = start or max(EARLIEST, end - timedelta(days=DEFAULT_DAYS - 1))
    if end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"`to` ({end}) is before `from` ({start}): the period would be empty")
    period = Period(start, end)
    if period.days > MAX_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"the period from {start} to {end} is {period.days} days; at most {MAX_DAYS}")
    return period


PeriodDep = Annotated[Period, Depends(get_period)]
GranularityQuery = Annotated[Granularity, Query(description=(
    "day: a row per UTC day; week: a row per ISO week (labelled by its Monday, the first and last cut to the period)"))]


@dataclass(frozen=True)
class TenantScope:
    """One tenant (`tenant_id`), or every tenant at once (None: the whole platform, including what belongs
    to no tenant, e.g. resale orders)."""
    tenant_id: str | None

    @property
    def label(self) -> str:
        return self.tenant_id or ALL


async def reads_every_tenant(principal: Principal, request: Request) -> bool:
    """Whether the caller is one of the platform's admins (may read any tenant, and `all`)."""
    try:
        await authorize_platform(principal, Action.ANALYTICS_READ, platform_tenant_id=_platform_tenant(request))
        return True
    except Denied:
        return False


def _platform_tenant(request: Request) -> str:
    """The platform's own tenant's id (the API's `default_tenant`, found or created at start)."""
    tenant_id = getattr(request.app.state, "platform_tenant_id", None)
    if tenant_id is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the backend database is not reachable")
    return tenant_id


async def get_tenant_scope(request: Request, principal: CurrentPrincipal, pool: BackendPool,
                           tenant: Annotated[str | None, Query(
                               pattern=r"^(all|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$",
                               description=("A tenant's id (default: the caller's), or `all` for the whole platform. "
                                            "Another tenant, or `all`, only for the platform's admins (the admins "
                                            "of the platform's own tenant)"))] = None) -> TenantScope:
    """The tenants the request reads, once the policy allows it: the caller's own tenant for its admins
    (ANALYTICS_READ); any tenant, or all of them, for the platform's admins (authorize_platform). Another
    tenant's id answers 404 to others (its existence is not revealed), `all` 403."""
    platform_tenant_id = _platform_tenant(request)
    wanted = principal.tenant_id if tenant is None else tenant.lower()
    try:
        if wanted == ALL:
            await authorize_platform(principal, Action.ANALYTICS_READ, platform_tenant_id=platform_tenant_id)
            return TenantScope(None)
        wanted = str(uuid.UUID(wanted))
        if wanted != principal.tenant_id and principal.tenant_id == platform_tenant_id:
            await authorize_platform(principal, Action.ANALYTICS_READ, platform_tenant_id=platform_tenant_id)
        else:  # the caller's own tenant; another one answers 404
            await authorize(principal, Action.ANALYTICS_READ, tenant_id=wanted)
    except Denied as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    known = wanted == principal.tenant_id or await pool.fetchval("SELECT 1 FROM tenants WHERE id = $1::uuid", wanted)
    if not known:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no tenant {wanted}")
    return TenantScope(wanted)


TenantDep = Annotated[TenantScope, Depends(get_tenant_scope)]
