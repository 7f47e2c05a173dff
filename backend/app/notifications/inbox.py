"""A member's stored notifications: pages of the inbox, the unread backlog a (re)connecting WebSocket
gets, and marking read."""

from backend.app.core.pages import decode_cursor, page
from backend.app.notifications.store import wire

BACKLOG_LIMIT = 500


async def list_page(pool, user_id: str, *, unread_only: bool, limit: int, cursor: str | None):
    before, before_id = decode_cursor(cursor)
    rows = await pool.fetch(
        "SELECT * FROM notifications WHERE user_id = $1::uuid AND (created_at, id) < ($2, $3::uuid) "
        "AND (NOT $4 OR read_at IS NULL) ORDER BY created_at DESC, id DESC LIMIT $5",
        user_id, before, before_id, unread_only, limit + 1)
    return page(rows, limit, "created_at", "id", wire)


async def unread_backlog(pool, user_id: str) -> list[dict]:
    """The member's unread notifications, oldest first (the newest BACKLOG_LIMIT of them)."""
    rows = await pool.fetch(
        "SELECT * FROM (SELECT * FROM notifications WHERE user_id = $1::uuid AND read_at IS NULL "
        "ORDER BY created_at DESC, id DESC LIMIT $2) newest ORDER BY created_at, id", user_id, BACKLOG_LIMIT)
    return [wire(row) for row in rows]


async def unread_count(pool, user_id: str) -> int:
    return await pool.fetchval("SELECT count(*) FROM notifications WHERE user_id = $1::uuid AND read_at IS NULL",
                               user_id)


async def mark_read(pool, user_id: str, ids: list[str] | None) -> int:
    """Marks the member's notifications `ids` (None: all) read; returns how many changed. Ids that are
    not the member's are ignored, never revealed."""
    if ids is None:
        result = await pool.execute(
            "UPDATE notifications SET read_at = now() WHERE user_id = $1::uuid AND read_at IS NULL", user_id)
    else:
        result = await pool.execute(
            "UPDATE notifications SET read_at = now() WHERE user_id = $1::uuid AND id = ANY($2::uuid[]) "
            "AND read_at IS NULL", user_id, ids)
    return int(result.split()[-1])
