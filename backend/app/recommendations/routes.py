"""The signed-in member's recommendations: products of their tenant on sale now that they do not own, ranked
by the product model, and workouts or challenges from their own history and goals, each with a reason."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from backend.app.deps import BackendPool, CurrentMember, indexer_pool
from backend.app.recommendations import service
from backend.app.recommendations.client import RecommendClient, Unavailable
from backend.app.recommendations.models import (
    Goals,
    ProductRecommendation,
    ProductRecommendations,
    WorkoutSuggestion,
    WorkoutSuggestions,
)

router = APIRouter(prefix="/recommendations", tags=["recommendations"])
UNAVAILABLE = {503: {"description": "The recommendation service or the indexer is unreachable (the reason says which)"}}


def _client(request: Request) -> RecommendClient:
    return request.app.state.recommend


def _unavailable(exc: Unavailable) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"})


@router.get("/products", response_model=ProductRecommendations, responses=UNAVAILABLE)
async def recommend_products(request: Request, member: CurrentMember, pool: BackendPool,
                             limit: Annotated[int, Query(ge=1, le=50)] = 10) -> ProductRecommendations:
    """Up to `limit` products of the member's tenant with an open listing that none of the member's wallets
    holds, best first, each with a reason. A new member gets what fits their activities or is popular."""
    indexer = indexer_pool(request)
    on_sale = await request.app.state.recommend_catalogs.on_sale(pool, indexer, member.tenant_id)
    owned = await service.owned_items(pool, indexer, member.user_id)
    candidates = [item for item in on_sale if item not in owned]
    if not candidates:
        return ProductRecommendations(data=[], model_version=None)
    try:
        ranked = await _client(request).products(member_id=member.user_id, tenant_id=member.tenant_id, limit=limit,
                                                 exclude=sorted(owned), candidates=candidates)
    except Unavailable as exc:
        raise _unavailable(exc) from exc
    data = []
    for scored in ranked["items"]:
        sale = on_sale.get(scored["item_id"])
        if sale is None or sale.item_id in owned:  # the service ranks only what it was given: never happens
            continue
        data.append(ProductRecommendation(product_id=sale.product_id, item_id=sale.item_id, name=sale.name,
                                          price_fit=sale.price_fit, listing_id=sale.listing_id,
                                          score=scored["score"], reason=scored["reason"]))
    return ProductRecommendations(data=data[:limit], model_version=ranked.get("model_version"))


@router.get("/workouts", response_model=WorkoutSuggestions, responses=UNAVAILABLE)
async def recommend_workouts(request: Request, member: CurrentMember, pool: BackendPool,
                             limit: Annotated[int, Query(ge=1, le=10)] = 3) -> WorkoutSuggestions:
    """Workouts, challenges or a rest day for the member, from their own recent workouts (progression, variety,
    rest) and goals (PUT /recommendations/goals), each with a short reason."""
    goals = await service.goals(pool, member.user_id)
    try:
        suggested = await _client(request).workouts(member_id=member.user_id, limit=limit, **goals)
    except Unavailable as exc:
        raise _unavailable(exc) from exc
    return WorkoutSuggestions(data=[WorkoutSuggestion(**s) for s in suggested["items"]], goals=Goals(**goals))


@router.get("/goals", response_model=Goals)
async def read_goals(member: CurrentMember, pool: BackendPool) -> Goals:
    """The member's training goals (nulls: none set)."""
    return Goals(**await service.goals(pool, member.user_id))


@router.put("/goals", response_model=Goals,
            responses={422: {"description": "A goal out of range or an unknown activity"}})
async def write_goals(body: Goals, member: CurrentMember, pool: BackendPool) -> Goals:
    """Set the member's training goals (both fields; null clears one). The workout suggestions aim at them."""
    await service.set_goals(pool, member.user_id, body.weekly_workouts,
                            None if body.focus is None else body.focus.value)
    return body
