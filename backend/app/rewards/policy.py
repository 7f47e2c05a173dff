"""The reward policy: how much FIT an accepted workout earns, before the caps of the contract (daily
per account, per epoch) are applied by the voucher service."""

from decimal import Decimal

from backend.app.fitness.anticheat import ActivityType
from fitmint.units import FIT

# FIT per kilometre for distance activities: harder kilometres earn more (a swum km ~ 4 run km).
PER_KM: dict[ActivityType, Decimal] = {
    ActivityType.RUN: Decimal(10), ActivityType.WALK: Decimal(6), ActivityType.HIKE: Decimal(8),
    ActivityType.CYCLE: Decimal(3), ActivityType.SWIM: Decimal(40), ActivityType.ROW: Decimal(12),
}
# FIT per minute for activities without distance.
PER_MINUTE: dict[ActivityType, Decimal] = {ActivityType.STRENGTH: Decimal("0.5"), ActivityType.YOGA: Decimal("0.3")}


def reward_wei(workout: dict) -> int:
    """The uncapped reward of an accepted workout, in token base units (18 decimals)."""
    activity = ActivityType(workout["activity"])
    if activity in PER_KM:
        kilometres = Decimal(str(workout["distance_m"] or 0)) / 1000
        return int(kilometres * PER_KM[activity] * FIT)
    minutes = Decimal((workout["ended_at"] - workout["started_at"]).total_seconds()) / 60
    return int(minutes * PER_MINUTE.get(activity, Decimal(0)) * FIT)
