"""A member's notifications: the inbox over HTTP, live pushes over a WebSocket, and order receipts.

WebSocket protocol (`/notifications/ws`), JSON text frames:
- authenticate with the access token: an `Authorization: Bearer` header on the upgrade request, or,
  where a client cannot set headers (browsers), a first message `{"type": "auth", "token": "..."}`
  within a few seconds. Bad or missing token: close code 4401 with the reason; services: 4403.
- the server sends `{"type": "ready", "unread": n}`, then every unread notification (oldest first,
  `{"type": "notification", ...}`), then new ones as they are stored.
- the client may send `{"type": "read", "ids": [...]}` (answered `{"type": "read", "updated": n}`) and
  `{"type": "ping"}` (answered `{"type": "pong"}`).
- the connection is closed with 4401 when the access token expires, and with 4408 if the client reads
  too slowly to keep up (reconnect: the inbox has everything).
"""

import asyncio
import time
import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, WebSocket, WebSocketDisconnect
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, Field, model_validator

from backend.app.auth.tokens import TokenError
from backend.app.core.inputs import RequestModel
from backend.app.core.pages import TIME_CURSOR
from backend.app.core.policy import Action
from backend.app.deps import BackendPool, CurrentMember, check
from backend.app.notifications import inbox
from backend.app.notifications.receipts import receipts_of_order
from backend.app.notifications.store import TRACEPARENT_KEY
from fitmint.telemetry import continued

router = APIRouter(tags=["notifications"])


class Notification(BaseModel):
    id: str
    kind: str
    title: str
    body: str
    data: dict
    corrects: str | None
    created_at: str
    read: bool


class NotificationsPage(BaseModel):
    data: list[Notification]
    next_cursor: str | None
    unread: int


class ReadRequest(RequestModel):
    ids: list[uuid.UUID] | None = Field(default=None, max_length=500)
    all: bool = False

    @model_validator(mode="after")
    def _one(self):
        if (self.ids is None) == (not self.all):
            raise ValueError("give either `ids` or `all: true`")
        return self


@router.get("/notifications", response_model=NotificationsPage)
async def list_notifications(principal: CurrentMember, pool: BackendPool,
                             unread: bool = False, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                             cursor: Annotated[str | None, Query(pattern=TIME_CURSOR)] = None):
    """Your notifications, newest first (`unread=true`: only the unread)."""
    await check(principal, Action.NOTIFICATION_READ, tenant_id=principal.tenant_id, user_id=principal.user_id)
    items, next_cursor = await inbox.list_page(pool, principal.user_id, unread_only=unread, limit=limit, cursor=cursor)
    return {"data": items, "next_cursor": next_cursor, "unread": await inbox.unread_count(pool, principal.user_id)}


@router.post("/notifications/read")
async def mark_read(body: ReadRequest, principal: CurrentMember, pool: BackendPool) -> dict:
    """Marks your notifications read: the listed `ids`, or `all`."""
    await check(principal, Action.NOTIFICATION_READ, tenant_id=principal.tenant_id, user_id=principal.user_id)
    ids = None if body.all else [str(i) for i in body.ids]
    return {"updated": await inbox.mark_read(pool, principal.user_id, ids)}


@router.get("/orders/{order_id}/receipt")
async def order_receipt(order_id: Annotated[int, Path(ge=1, le=2**63 - 1)], principal: CurrentMember,
                        pool: BackendPool) -> dict:
    """The receipt of a marketplace order, for its buyer or seller (a member with that wallet linked).
    `status` is `reverted` if a chain reorganisation undid the order; `history` lists earlier receipts of
    the same order id (a reorged order mined again)."""
    await check(principal, Action.ORDER_RECEIPT_READ, tenant_id=principal.tenant_id, user_id=principal.user_id)
    wallets = {row["address"] for row in await pool.fetch(
        "SELECT address FROM wallet_links WHERE user_id = $1::uuid", principal.user_id)}
    async with pool.acquire() as connection:
        receipts = [r for r in await receipts_of_order(connection, order_id)
                    if r["buyer"] in wallets or r["seller"] in wallets]
    if not receipts:
        raise HTTPException(404, f"no receipt for order {order_id} for your wallets (yet: receipts appear once "
                                 f"the order is indexed)")
    return {**receipts[0], "history": receipts[1:]}


@router.websocket("/notifications/ws")
async def notifications_socket(websocket: WebSocket):
    state = websocket.app.state
    await websocket.accept()
    claims = await _authenticate(websocket, state)
    if claims is None:
        return
    user_id = claims["uid"]
    if state.backend_pool is None:
        await websocket.close(1013, "the backend database is not reachable")
        return
    queue = state.hub.register(user_id)  # before reading the backlog: nothing stored meanwhile is missed
    try:
        backlog = await inbox.unread_backlog(state.backend_pool, user_id)
        await _send(websocket, {"type": "ready", "unread": len(backlog)})
        for notification in backlog:
            await _send(websocket, {"type": "notification", **notification})
        already_sent = {n["id"] for n in backlog}
        expires_in = max(0.0, claims["exp"] - time.time())
        writer = asyncio.create_task(_forward(websocket, queue, already_sent))
        reader = asyncio.create_task(_serve_client(websocket, state.backend_pool, user_id))
        done, pending = await asyncio.wait({writer, reader}, timeout=expires_in,
                                           return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        outcomes = {task: (task.exception() or task.result()) for task in done}
        if not done:
            await _close(websocket, 4401, "access token expired: reconnect with a fresh one")
        elif outcomes.get(writer) == "overflow":
            await _close(websocket, 4408, "too slow to keep up: reconnect and read the inbox")
    except WebSocketDisconnect:
        pass
    finally:
        state.hub.unregister(user_id, queue)


async def _authenticate(websocket: WebSocket, state) -> dict | None:
    header = websocket.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    if token is None:
        try:
            first = orjson.loads(await asyncio.wait_for(websocket.receive_text(),
                                                        state.settings.ws_auth_timeout_seconds))
            token = first.get("token") if isinstance(first, dict) and first.get("type") == "auth" else None
        except (TimeoutError, orjson.JSONDecodeError, KeyError):
            token = None
        except WebSocketDisconnect:
            return None
        if not isinstance(token, str):
            await _close(websocket, 4401, "authenticate first: {\"type\": \"auth\", \"token\": \"<access token>\"}")
            return None
    try:
        claims = state.tokens.decode_access(token)
    except TokenError as exc:
        await _close(websocket, 4401, str(exc))
        return None
    if await state.tokens.is_revoked(claims):
        await _close(websocket, 4401, "session revoked")
        return None
    if not claims.get("uid"):
        await _close(websocket, 4403, "notifications are for signed-in members, not services")
        return None
    return claims


async def _forward(websocket: WebSocket, queue: asyncio.Queue, already_sent: set[str]) -> str:
    while True:
        payload = await queue.get()
        if payload is None:
            return "overflow"
        for notification in orjson.loads(payload):
            if already_sent and notification["id"] in already_sent:
                already_sent.discard(notification["id"])
                continue
            notification.pop("user_id", None)
            with continued("websocket send", notification.pop(TRACEPARENT_KEY, None), kind=SpanKind.PRODUCER,
                           attributes={"fitmint.notification.id": notification["id"],
                                       "fitmint.notification.kind": notification["kind"]}):
                await _send(websocket, {"type": "notification", **notification})


async def _serve_client(websocket: WebSocket, pool, user_id: str) -> None:
    while True:
        try:
            message = orjson.loads(await websocket.receive_text())
        except orjson.JSONDecodeError:
            await _send(websocket, {"type": "error", "detail": "messages are JSON objects"})
            continue
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            await _send(websocket, {"type": "pong"})
        elif kind == "read" and isinstance(message.get("ids"), list) and len(message["ids"]) <= 500:
            try:
                ids = [str(uuid.UUID(str(i))) for i in message["ids"]]
            except ValueError:
                await _send(websocket, {"type": "error", "detail": "ids are notification uuids"})
                continue
            updated = await inbox.mark_read(pool, user_id, ids)
            await _send(websocket, {"type": "read", "updated": updated})
        else:
            await _send(websocket, (
                {"type": "error", "detail": "unknown message: send {\"type\": \"read\", \"ids\": [...]} or ping"}))


async def _send(websocket: WebSocket, message: dict) -> None:
    await websocket.send_text(orjson.dumps(message).decode())


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    try:
        await websocket.close(code, reason[:120])
    except RuntimeError:  # already closed by the client
        pass
