from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.app.core.inputs import RequestModel
from backend.app.fitness.anticheat import ActivityType


class Goals(RequestModel):
    """A member's training goals; null: none."""
    model_config = ConfigDict(extra="forbid")

    weekly_workouts: int | None = Field(default=None, ge=1, le=14, description="workouts a week to aim at")
    focus: ActivityType | None = Field(default=None, description="an activity to focus on")


class ProductRecommendation(BaseModel):
    product_id: str
    item_id: str = Field(description="The ERC-1155 id on FitItems, decimal")
    name: str
    price_fit: str = Field(description="FIT per item, decimal")
    listing_id: str = Field(description="An open marketplace listing of the item (decimal)")
    score: float
    reason: str = Field(description="Why it is recommended, in words a member understands")


class ProductRecommendations(BaseModel):
    data: list[ProductRecommendation]
    model_version: str | None = Field(description="The product model that ranked them (null: popularity only)")


class WorkoutSuggestion(BaseModel):
    kind: Literal["workout", "challenge", "rest"]
    activity: ActivityType | None
    title: str
    reason: str
    distance_km: float | None
    minutes: float | None


class WorkoutSuggestions(BaseModel):
    data: list[WorkoutSuggestion]
    goals: Goals
