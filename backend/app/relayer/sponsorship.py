"""Sponsorship: how many relays the platform pays the gas of, per member and per tenant, per UTC day of the
platform's clock (Settings.now()). A relay is counted once, when it is first asked for (asking again returns
the same relay and counts nothing); a relay that later fails is not given back, so asking for doomed relays
cannot be used to spend the platform's checks for free.

Counting is atomic: each counter is raised by an upsert that only updates while the counter is below its
limit, under the row's lock, in the caller's transaction. Two requests at the limit serialise on the row;
the second sees the first's count and is refused, and a refusal rolls back the other counter raised with it.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from backend.app.core.config import Settings


@dataclass(frozen=True)
class Limits:
    member_daily_relays: int
    tenant_daily_relays: int

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(settings.sponsor_member_daily_relays, settings.sponsor_tenant_daily_relays)


class SponsorshipExhausted(Exception):
    """429: the member's or the tenant's sponsored relays for the day are used up, until `resets_at`."""

    def __init__(self, reason: str, resets_at: datetime):
        super().__init__(reason)
        self.reason, self.resets_at = reason, resets_at


def day_end(day: date) -> datetime:
    """When the counters of UTC `day` stop applying: the next midnight UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


async def charge(connection, limits: Limits, *, day: date, tenant_id: str, user_id: str) -> None:
    """Counts one relay for the member and the tenant on `day`, in the caller's transaction; raises
    SponsorshipExhausted (and the caller rolls back) when either limit is reached."""
    member = await connection.fetchval(
        """INSERT INTO sponsorship_member_days AS d (day, user_id, tenant_id, relays) VALUES ($1, $2::uuid, $3::uuid, 1)
           ON CONFLICT (day, user_id) DO UPDATE SET relays = d.relays + 1 WHERE d.relays < $4
           RETURNING relays""", day, user_id, tenant_id, limits.member_daily_relays)
    if member is None or member > limits.member_daily_relays:  # a limit of 0: the insert itself is over it
        raise SponsorshipExhausted(f"you have used your {limits.member_daily_relays} sponsored transactions of "
                                   f"{day.isoformat()} (UTC)", day_end(day))
    tenant = await connection.fetchval(
        """INSERT INTO sponsorship_tenant_days AS d (day, tenant_id, relays) VALUES ($1, $2::uuid, 1)
           ON CONFLICT (day, tenant_id) DO UPDATE SET relays = d.relays + 1 WHERE d.relays < $3
           RETURNING relays""", day, tenant_id, limits.tenant_daily_relays)
    if tenant is None or tenant > limits.tenant_daily_relays:
        raise SponsorshipExhausted(f"your club's {limits.tenant_daily_relays} sponsored transactions of "
                                   f"{day.isoformat()} (UTC) are used up", day_end(day))


async def usage(pool, *, day: date, tenant_id: str) -> tuple[int, list[dict]]:
    """The tenant's sponsored relays on `day`, and each member's who had any (most first)."""
    async with pool.acquire() as connection:
        total = await connection.fetchval("SELECT relays FROM sponsorship_tenant_days WHERE day = $1 "
                                          "AND tenant_id = $2::uuid", day, tenant_id)
        members = await connection.fetch(
            "SELECT user_id::text, relays FROM sponsorship_member_days WHERE day = $1 AND tenant_id = $2::uuid "
            "ORDER BY relays DESC, user_id", day, tenant_id)
    return total or 0, [dict(row) for row in members]
