"""The coaches' review of the workouts the anti-cheat model flagged (coaches and admins of the tenant; a
coach neither sees nor decides on members who keep their activity private, as elsewhere)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from backend.app.core.policy import Action, Role
from backend.app.deps import BackendPool, CurrentPrincipal, SettingsDep, UsersDep, check, target_user
from backend.app.fitness import service
from backend.app.fitness.fraud import reviews
from backend.app.fitness.models import FlaggedPage, FlaggedWorkout, ReviewDecision
from backend.app.fitness.routes import Cursor, Limit

router = APIRouter(prefix="/fitness", tags=["fitness"])

Statuses = Annotated[str, Query(alias="status", pattern=r"^(pending|cleared|confirmed|all)$",
                                description="pending (default): waiting for a decision; all: any")]


@router.get("/flagged", response_model=FlaggedPage)
async def flagged_workouts(principal: CurrentPrincipal, users: UsersDep, pool: BackendPool,
                           status_: Statuses = "pending", user_id: uuid.UUID | None = None, limit: Limit = 50,
                           cursor: Cursor = None) -> FlaggedPage:
    """Accepted workouts of the tenant the anti-cheat model flagged, most recently scored first, each with its
    score, what stands out in it and the decision if any (coaches and admins)."""
    await check(principal, Action.WORKOUT_REVIEW, tenant_id=principal.tenant_id)
    member = None if user_id is None else await target_user(principal, users, Action.WORKOUT_REVIEW, user_id)
    statuses = ["pending", "cleared", "confirmed"] if status_ == "all" else [status_]
    items, next_cursor = await reviews.flagged(pool, tenant_id=principal.tenant_id, statuses=statuses,
                                               user_id=member, include_private=principal.role is Role.ADMIN,
                                               limit=limit, cursor=cursor)
    return FlaggedPage(data=[FlaggedWorkout(**item) for item in items], next_cursor=next_cursor)


@router.put("/flagged/{workout_id}", response_model=FlaggedWorkout,
            responses={403: {"description": "Not a coach or admin, the member keeps their activity private, or "
                                            "it is the reviewer's own workout"},
                       404: {"description": "No such workout in your tenant"},
                       409: {"description": "Not flagged, or already decided otherwise (who and when)"},
                       422: {"description": "Not cleared/confirmed, or a confirmation without a note"}})
async def decide(workout_id: uuid.UUID, body: ReviewDecision, principal: CurrentPrincipal, users: UsersDep,
                 pool: BackendPool, settings: SettingsDep, response: Response) -> FlaggedWorkout:
    """A coach's decision on a flagged workout: cleared (not fraud) or confirmed (fraud, with a note). The
    workout stays accepted; the decision teaches the next retraining. Sending the same decision again
    answers 200 with the stored one."""
    workout = await service.get_workout(pool, str(workout_id))
    if workout is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found in your tenant")
    member = await target_user(principal, users, Action.WORKOUT_REVIEW, uuid.UUID(workout["user_id"]))
    if member == principal.user_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a coach does not review their own workout")
    try:
        decided = await reviews.decide(pool, workout_id=str(workout_id), reviewer=principal.name,
                                       decision=body.decision, note=body.note, now=settings.now())
    except (reviews.NotFlagged, reviews.AlreadyDecided) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if not decided.changed:
        response.headers["Idempotent-Replayed"] = "true"
    return FlaggedWorkout(**decided.item)
