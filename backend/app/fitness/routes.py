"""Workouts (checked by the anti-cheat rules before anything is rewarded) and nutrition logs."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse

from backend.app.core.pages import TIME_CURSOR
from backend.app.core.policy import Action
from backend.app.deps import BackendPool, CurrentPrincipal, FraudModel, SettingsDep, UsersDep, check, target_user
from backend.app.fitness import service
from backend.app.fitness.models import (
    NutritionIn,
    NutritionPage,
    NutritionPublic,
    WorkoutIn,
    WorkoutPublic,
    WorkoutsPage,
)

router = APIRouter(prefix="/fitness", tags=["fitness"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(pattern=TIME_CURSOR, description="next_cursor of the previous page")]
ForUser = Annotated[uuid.UUID | None, Query(description="Whose data (default: yours); coaches, admins and "
                                                         "attestor services name a member of their tenant")]


@router.post("/workouts", response_model=WorkoutPublic, status_code=status.HTTP_201_CREATED,
             responses={422: {"description": "Refused by validation or by the anti-cheat rules (then kept for "
                                             "review; `detail.rejections` gives every reason)"}})
async def submit_workout(body: WorkoutIn, principal: CurrentPrincipal, users: UsersDep, pool: BackendPool,
                         settings: SettingsDep, fraud: FraudModel, response: Response, user_id: ForUser = None,
                         idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=8,
                                                                       max_length=128,
                                                                       pattern=r"^[A-Za-z0-9_.:-]+$")] = None):
    """Records a workout. Implausible ones (speed, pace, steps vs distance, heart rate, overlaps,
    duplicates, per-day caps) are refused with 422 and every reason, and kept for review. An accepted one
    the anti-cheat model finds suspicious stays accepted, with `review_status` "pending": a coach reviews it."""
    member = await target_user(principal, users, Action.WORKOUT_CREATE, user_id)
    try:
        stored = await service.submit_workout(pool, tenant_id=principal.tenant_id, user_id=member,
                                              submitted_by=principal.name, body=body, idempotency_key=idempotency_key,
                                              now=settings.now(), fraud=fraud)
    except service.IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    workout = stored.row
    if workout["status"] == "rejected":
        reasons = "; ".join(r["reason"] for r in workout["rejections"])
        return JSONResponse(status_code=422, content={"detail": {
            "message": f"workout refused: {reasons}", "workout_id": workout["id"], "status": "rejected",
            "rejections": workout["rejections"]}})
    if stored.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return WorkoutPublic(**workout)


@router.get("/workouts", response_model=WorkoutsPage)
async def list_workouts(principal: CurrentPrincipal, users: UsersDep, pool: BackendPool, user_id: ForUser = None,
                        status_: Annotated[str | None, Query(alias="status", pattern=r"^(accepted|rejected)$")] = None,
                        limit: Limit = 50, cursor: Cursor = None) -> WorkoutsPage:
    """A member's workouts, newest first."""
    member = await target_user(principal, users, Action.WORKOUT_READ, user_id)
    page, next_cursor = await service.list_workouts(pool, tenant_id=principal.tenant_id, user_id=member,
                                                    status=status_, limit=limit, cursor=cursor)
    return WorkoutsPage(data=[WorkoutPublic(**w) for w in page], next_cursor=next_cursor)


@router.get("/review", response_model=WorkoutsPage)
async def review_queue(principal: CurrentPrincipal, pool: BackendPool, limit: Limit = 50,
                       cursor: Cursor = None) -> WorkoutsPage:
    """Rejected workouts of the whole tenant, kept for review (coaches and admins)."""
    await check(principal, Action.WORKOUT_REVIEW, tenant_id=principal.tenant_id)
    page, next_cursor = await service.list_workouts(pool, tenant_id=principal.tenant_id, user_id=None,
                                                    status="rejected", limit=limit, cursor=cursor)
    return WorkoutsPage(data=[WorkoutPublic(**w) for w in page], next_cursor=next_cursor)


@router.get("/workouts/{workout_id}", response_model=WorkoutPublic)
async def read_workout(workout_id: uuid.UUID, principal: CurrentPrincipal, users: UsersDep,
                       pool: BackendPool) -> WorkoutPublic:
    """One workout, with the anti-cheat verdict."""
    workout = await service.get_workout(pool, str(workout_id))
    if workout is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found in your tenant")
    await target_user(principal, users, Action.WORKOUT_READ, uuid.UUID(workout["user_id"]))
    return WorkoutPublic(**workout)


@router.post("/nutrition", response_model=NutritionPublic, status_code=status.HTTP_201_CREATED)
async def add_nutrition(body: NutritionIn, principal: CurrentPrincipal, users: UsersDep, pool: BackendPool,
                        response: Response, user_id: ForUser = None,
                        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=8,
                                                                      max_length=128,
                                                                      pattern=r"^[A-Za-z0-9_.:-]+$")] = None):
    """Logs a meal or drink."""
    member = await target_user(principal, users, Action.NUTRITION_CREATE, user_id)
    try:
        stored = await service.add_nutrition(pool, tenant_id=principal.tenant_id, user_id=member, body=body,
                                             idempotency_key=idempotency_key)
    except service.IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if stored.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return NutritionPublic(**stored.row)


@router.get("/nutrition", response_model=NutritionPage)
async def list_nutrition(principal: CurrentPrincipal, users: UsersDep, pool: BackendPool, user_id: ForUser = None,
                         limit: Limit = 50, cursor: Cursor = None) -> NutritionPage:
    """A member's nutrition logs, newest first."""
    member = await target_user(principal, users, Action.NUTRITION_READ, user_id)
    page, next_cursor = await service.list_nutrition(pool, tenant_id=principal.tenant_id, user_id=member,
                                                     limit=limit, cursor=cursor)
    return NutritionPage(data=[NutritionPublic(**n) for n in page], next_cursor=next_cursor)
