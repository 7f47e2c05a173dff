"""What the analytics endpoints answer. Amounts of FIT are exact decimal strings in FIT (the wei amounts of
the store divided by 10^18, e.g. "12.5"), in fields named `..._fit`; distances in km and durations in
hours are numbers; rates are fractions (0.25 = 25%), null when there is nothing to divide by."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

Fit = str  # an exact decimal string in FIT


class Window(BaseModel):
    """What every answer is about: the tenant (or `all`) and the period, as asked."""
    model_config = ConfigDict(populate_by_name=True)

    tenant: str = Field(description="The tenant's id, or `all` (the whole platform)")
    start: date = Field(alias="from", description="First UTC day of the period")
    end: date = Field(alias="to", description="Last UTC day of the period (included)")


class Series(Window):
    granularity: str = Field(description="day | week")


class TenantPublic(BaseModel):
    id: str
    slug: str
    name: str


class AnalyticsScope(BaseModel):
    tenant: str = Field(description="The caller's tenant (the default of every analytics endpoint's `tenant`)")
    platform: bool = Field(description="Whether the caller may read every tenant (`tenant=<id>` or `all`)")
    tenants: list[TenantPublic] = Field(description="The tenants the caller may read, its own first")
    as_of: datetime | None = Field(description="When the store's projections were last brought up to date (live or "
                                               "by a rebuild): their freshness")


class Headlines(BaseModel):
    active_members: int = Field(description="Members active (signed in or recorded a workout) in the period")
    new_members: int = Field(description="Members who joined in the period")
    workouts: int = Field(description="Accepted workouts (by start day)")
    rejected: int = Field(description="Workouts the anti-cheat refused")
    flagged: int = Field(description="Accepted workouts the model flagged for review")
    distance_km: float
    active_hours: float = Field(description="Duration of the accepted workouts")
    rewards_issued: int = Field(description="Vouchers issued")
    rewards_issued_fit: Fit
    rewards_claimed: int = Field(description="Of the vouchers issued in the period, how many were claimed so far")
    rewards_claimed_fit: Fit
    claim_rate: float | None = Field(description="rewards_claimed / rewards_issued")
    orders: int = Field(description="Marketplace orders of the tenant's products")
    volume_fit: Fit = Field(description="What those orders paid")
    minted_fit: Fit = Field(description="FIT minted, platform-wide (the token is shared by every tenant)")
    burned_fit: Fit = Field(description="FIT burned, platform-wide")


class Overview(Window):
    """The period's headline numbers beside those of the period of the same length just before it."""
    current: Headlines
    previous: Headlines
    previous_from: date
    previous_to: date
    as_of: datetime | None = Field(description="When the store's projections were last brought up to date")


class ActivityPoint(BaseModel):
    period: date = Field(description="The day, or the Monday of the week")
    dau: float = Field(description="Members active on the day (week: the mean over its days in the period)")
    wau: int = Field(description="Members active in the 7 days ending with the day (week: its last day in the period)")
    mau: int = Field(description="Members active in the 30 days ending with the day (week: its last day in the period)")
    stickiness: float | None = Field(description="dau / mau")


class Activity(Series):
    data: list[ActivityPoint]


class WorkoutCounts(BaseModel):
    accepted: int
    rejected: int
    flagged: int = Field(description="Accepted workouts the anti-cheat model flagged for review")
    distance_km: float = Field(description="Distance of the accepted workouts")
    active_hours: float = Field(description="Duration of the accepted workouts")


class WorkoutPoint(WorkoutCounts):
    period: date
    activity: str


class ActivityTotal(WorkoutCounts):
    activity: str


class Workouts(Series):
    data: list[WorkoutPoint] = Field(description="A row per period and activity that had workouts")
    activities: list[ActivityTotal] = Field(description="The period's totals per activity, most accepted first")


class ReasonTotal(BaseModel):
    reason: str = Field(description="The anti-cheat rule's code")
    workouts: int = Field(description="Refused workouts naming it (a workout refused by two rules counts twice)")
    share: float | None = Field(description="workouts / the period's refused workouts")


class RefusalPoint(BaseModel):
    period: date
    reason: str
    workouts: int


class Refusals(Series):
    rejected: int = Field(description="Refused workouts in the period")
    reasons: list[ReasonTotal] = Field(description="Most frequent first")
    data: list[RefusalPoint]


class RewardFigures(BaseModel):
    issued: int
    issued_fit: Fit
    claimed: int = Field(description="Of the vouchers issued, how many were claimed so far")
    claimed_fit: Fit
    claim_rate: float | None = Field(description="claimed / issued")
    mean_hours_to_claim: float | None = Field(description="From issue to claim, over the claimed ones")


class RewardPoint(RewardFigures):
    period: date = Field(description="The day (or week) the vouchers were issued")


class Rewards(Series):
    totals: RewardFigures
    data: list[RewardPoint]


class TokenPoint(BaseModel):
    period: date
    minted_fit: Fit
    burned_fit: Fit
    to_treasury_fit: Fit = Field(description="Marketplace fees paid to the treasury")
    supply_fit: Fit = Field(description="Minted less burned since the start, at the end of the day (week)")
    treasury_fit: Fit = Field(description="Paid to the treasury since the start, at the end of the day (week)")
    circulating_fit: Fit = Field(description="supply_fit less treasury_fit: held outside the treasury")


class Token(Series):
    """Platform-wide: the FIT token is shared by every tenant (the same answer for any `tenant`)."""
    data: list[TokenPoint]


class MarketPoint(BaseModel):
    period: date
    orders: int
    buyers: int = Field(description="Distinct buyers per day (week: the sum of its days')")
    quantity: int = Field(description="Items sold")
    volume_fit: Fit
    fees_fit: Fit
    burned_fit: Fit


class TopItem(BaseModel):
    listing_id: int
    name: str = Field(description="The product's name on the latest day it sold")
    orders: int
    quantity: int
    volume_fit: Fit


class MarketTotals(BaseModel):
    orders: int
    quantity: int
    volume_fit: Fit
    fees_fit: Fit
    burned_fit: Fit
    average_order_fit: Fit | None = Field(description="volume / orders")


class Marketplace(Series):
    totals: MarketTotals
    data: list[MarketPoint]
    top_items: list[TopItem] = Field(description="The period's best sellers by volume")


class RetentionCell(BaseModel):
    week: int = Field(description="Weeks after joining (0: the joining week)")
    active: int
    rate: float | None = Field(description="active / the cohort's members")


class Cohort(BaseModel):
    cohort: date = Field(description="Monday of the week its members joined")
    members: int
    weeks: list[RetentionCell] = Field(description="Up to the weeks observed so far")


class Retention(Window):
    cohorts: list[Cohort] = Field(description="The cohorts of the period's weeks, oldest first")


class FunnelStep(BaseModel):
    step: str = Field(description="joined | first_workout | first_claim | first_purchase")
    members: int = Field(description="Members who reached this step and every one before it")
    rate: float | None = Field(description="members / those who joined")
    step_rate: float | None = Field(description="members / those of the step before")
    median_hours: float | None = Field(description="Median time from joining to the step, over those who reached it")


class Funnel(Window):
    """The members who joined in the period, and how far they have got since."""
    steps: list[FunnelStep]
