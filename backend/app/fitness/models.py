"""What the fitness endpoints accept and return."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from backend.app.core.inputs import RequestModel
from backend.app.fitness.anticheat import ActivityType


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps need a time zone (e.g. 2026-11-27T07:30:00Z)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class GpsSummary(RequestModel):
    model_config = ConfigDict(extra="forbid")

    points: int = Field(ge=2, le=1_000_000)
    distance_m: float = Field(ge=0, le=1_000_000)
    max_speed_mps: float | None = Field(default=None, ge=0, le=300)


class WorkoutIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    activity: ActivityType
    started_at: AwareDatetime
    ended_at: AwareDatetime
    distance_m: float | None = Field(default=None, ge=0, le=1_000_000)
    steps: int | None = Field(default=None, ge=0, le=1_000_000)
    calories: float | None = Field(default=None, ge=0, le=50_000)
    avg_heart_rate: int | None = Field(default=None, ge=20, le=300)
    max_heart_rate: int | None = Field(default=None, ge=20, le=300)
    gps: GpsSummary | None = None

    @model_validator(mode="after")
    def _order(self):
        if self.ended_at <= self.started_at:
            raise ValueError("ended_at must be after started_at")
        return self


class ReviewStatus(StrEnum):
    PENDING = "pending"
    CLEARED = "cleared"
    CONFIRMED = "confirmed"


class Rejection(BaseModel):
    code: str
    reason: str


class WorkoutPublic(BaseModel):
    id: str
    user_id: str
    activity: str
    started_at: datetime
    ended_at: datetime
    distance_m: float | None
    steps: int | None
    calories: float | None
    avg_heart_rate: int | None
    max_heart_rate: int | None
    gps: GpsSummary | None
    status: str
    rejections: list[Rejection]
    submitted_by: str
    created_at: datetime
    review_status: ReviewStatus | None = Field(
        default=None, description="pending: the anti-cheat model flagged it for a coach's review (it counts "
                                  "meanwhile); cleared or confirmed: the coach's decision; null: not flagged")


class WorkoutsPage(BaseModel):
    data: list[WorkoutPublic]
    next_cursor: str | None


class NutritionIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    eaten_at: AwareDatetime
    meal: str = Field(pattern=r"^(breakfast|lunch|dinner|snack|drink)$")
    calories: float = Field(ge=0, le=10_000)
    protein_g: float | None = Field(default=None, ge=0, le=1_000)
    carbs_g: float | None = Field(default=None, ge=0, le=2_000)
    fat_g: float | None = Field(default=None, ge=0, le=1_000)
    note: str | None = Field(default=None, max_length=500)


class NutritionPublic(NutritionIn):
    model_config = ConfigDict(extra="ignore")

    id: str
    user_id: str
    created_at: datetime


class NutritionPage(BaseModel):
    data: list[NutritionPublic]
    next_cursor: str | None


class ReviewDecision(RequestModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["cleared", "confirmed"] = Field(
        description="cleared: not fraud; confirmed: fraud (a label the model's retraining learns from)")
    note: str | None = Field(default=None, min_length=1, max_length=1_000)

    @model_validator(mode="after")
    def _confirmed_says_why(self):
        if self.decision == ReviewStatus.CONFIRMED and not (self.note or "").strip():
            raise ValueError("a confirmed fraud needs a note saying why")
        return self


class ReviewPublic(BaseModel):
    status: ReviewStatus
    score: float = Field(description="the model's fraud probability")
    threshold: float = Field(description="the flag threshold of the model version that scored it")
    model_version: int
    scored_at: datetime
    signals: list[str] = Field(description="what stands out in the workout, in words (hints for the reviewer, "
                                           "not the model's reasoning)")
    replay_of: str | None = Field(description="the member's earlier workout this one is nearest to")
    reviewer: str | None
    note: str | None
    reviewed_at: datetime | None


class FlaggedWorkout(BaseModel):
    workout: WorkoutPublic
    review: ReviewPublic


class FlaggedPage(BaseModel):
    data: list[FlaggedWorkout]
    next_cursor: str | None
