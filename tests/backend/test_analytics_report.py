"""The weekly analytics report to tenant admins, from a private analytics store's projections through the
notification pipeline (the job, the deliveries group, an EmailBatchReady, the email group) to a real SMTP
server: each tenant's admins get their tenant's week with the week before beside it, once per week, by
email with the week's chart as an inline PNG (multipart/related, cid:) or in the inbox; members who are not
admins get nothing. The chart one admin received is kept as reports/analytics/weekly-email-chart.png."""

import asyncio
import io
import uuid
from datetime import UTC, date, datetime

import orjson
from PIL import Image
from redis.asyncio import Redis

from backend.app.analytics.weekly_report import weekly_analytics_reports
from backend.app.core.db import create_pool, migrate
from backend.app.notifications import templates
from tests.support.analyticsstore import days, insert_rows
from tests.support.mailsink import serving_mailbox
from tests.support.outboxfeed import Flow
from tests.support.paths import ROOT
from tests.support.units import FIT

WEEK, BEFORE = days(date(2026, 3, 2), 7), days(date(2026, 2, 23), 7)  # 2026-W10 and 2026-W09
MONDAY = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)


async def tenant_with_members(pool, slug: str, members: dict[str, tuple[str, dict]]) -> tuple[str, dict]:
    """A tenant and its members {name: (role, preferences)}; returns its id and theirs."""
    tenant = str(await pool.fetchval("INSERT INTO tenants (slug, name) VALUES ($1, $2) RETURNING id", slug,
                                     slug.title() + " Club"))
    ids = {}
    for name, (role, preferences) in members.items():
        ids[name] = str(await pool.fetchval(
            "INSERT INTO users (tenant_id, role, preferences) VALUES ($1::uuid, $2, $3::jsonb) RETURNING id",
            tenant, role, orjson.dumps(preferences).decode()))
    return tenant, ids


def week_rows(tenant: str, scale: int) -> dict[str, list[dict]]:
    """A week of activity and workouts (and the week before, half as busy) for one tenant."""
    tenant_id = uuid.UUID(tenant)
    rows = {"activity_days": [], "workout_days": [], "member_days": [], "order_days": []}
    members = [uuid.uuid4() for _ in range(10 * scale)]
    for week, busy in ((BEFORE, 1), (WEEK, 2)):
        for i, day in enumerate(week):
            active = members[: (i + 2) * scale * busy // 2]
            rows["activity_days"].append({"tenant_id": tenant_id, "day": day, "dau": len(active), "wau": len(members),
                                          "mau": len(members)})
            rows["member_days"] += [{"tenant_id": tenant_id, "user_id": m, "day": day, "sign_ins": 1, "workouts": 1}
                                    for m in active]
            rows["workout_days"].append({"tenant_id": tenant_id, "day": day, "activity": "run",
                                         "accepted": (i + 3) * scale * busy, "rejected": i % 3, "flagged": 0,
                                         "distance_m": 5000.0 * (i + 3) * scale * busy, "duration_s": 1800.0})
        rows["order_days"].append({"tenant_id": tenant_id, "day": week[2], "orders": 3 * busy, "buyers": 2,
                                   "quantity": 3, "volume": 3 * busy * FIT, "fees": 0, "burned": 0})
    return rows


def test_each_tenants_admins_get_their_week_with_its_chart(settings, stack, analytics_database):
    store = analytics_database
    settings = settings.model_copy(update={"analytics_database": store})
    migrate(settings)

    async def scenario(mailbox):
        pool = await create_pool(settings, settings.backend_database, min_size=1, max_size=4)
        redis = Redis(host=settings.redis_host, port=settings.redis_port)
        try:
            alpha, alpha_ids = await tenant_with_members(pool, "alpha", {
                "admin": ("admin", {"notification_channels": ["email", "sms"], "email": "admin@alpha.example",
                                    "phone": "+4917012345"}),
                "inbox": ("admin", {"notification_channels": ["websocket"]}),
                "sms": ("admin", {"notification_channels": ["sms"], "phone": "+4917012345"}),
                "member": ("user", {"notification_channels": ["email"], "email": "member@alpha.example"})})
            beta, beta_ids = await tenant_with_members(pool, "beta", {
                "admin": ("admin", {"notification_channels": ["email"], "email": "admin@beta.example"})})
            await insert_rows(stack, store, week_rows(alpha, 1))
            await insert_rows(stack, store, week_rows(beta, 3))
            first = await weekly_analytics_reports(pool, settings, MONDAY)
            again = await weekly_analytics_reports(pool, settings, MONDAY.replace(hour=15))
            sent = await Flow(pool, redis, settings.model_copy(update={"smtp_port": mailbox.port})).deliver()
            stored = await pool.fetch("SELECT user_id::text AS user_id, title, data::text AS data FROM notifications "
                                      "WHERE kind = $1", templates.ANALYTICS_REPORT)
            return alpha_ids, beta_ids, first, again, sent, stored
        finally:
            await redis.aclose()
            await pool.close()

    with serving_mailbox() as mailbox:
        alpha_ids, beta_ids, first, again, sent, stored = asyncio.run(scenario(mailbox))
    assert first == {"week": "2026-W10", "tenants": 2, "notifications": 3, "emails": 2}
    assert again is None  # once per week
    assert sent == 2
    by_user = {row["user_id"]: (row["title"], orjson.loads(row["data"])) for row in stored}
    assert set(by_user) == {alpha_ids["admin"], alpha_ids["inbox"], beta_ids["admin"]}  # not SMS-only, not members
    assert sorted(str(m["To"]) for _, _, _, m in mailbox.messages) == ["admin@alpha.example", "admin@beta.example"]

    for address, scale in (("admin@alpha.example", 1), ("admin@beta.example", 3)):
        [message] = mailbox.to(address)
        club = "Alpha Club" if scale == 1 else "Beta Club"
        assert message["Subject"] == f"Weekly analytics 2026-W10: {club}"
        text = message.get_body(preferencelist=("plain",)).get_content()
        workouts = sum((i + 3) * scale * 2 for i in range(7))
        before = sum((i + 3) * scale for i in range(7))
        assert f"Accepted workouts:  {workouts:,}  (+{(workouts - before) / before:.0%} vs the week before)" in text
        assert f"Active members:     {8 * scale:,}" in text  # Sunday's were everyone active that week
        assert f"Marketplace volume: {6} FIT  (+100% vs the week before)" in text
        sunday = f"2026-03-08  {(6 + 2) * scale * 2 // 2:<14}  {(6 + 3) * scale * 2:<8}  0"
        assert sunday in text, text

        related = message.get_body(preferencelist=("related",))
        assert related is not None and related.get_content_type() == "multipart/related"
        html, image = list(related.iter_parts())
        assert html.get_content_type() == "text/html" and image.get_content_type() == "image/png"
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html.get_content()
        png = image.get_content()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        picture = Image.open(io.BytesIO(png))
        picture.verify()
        assert picture.size == (1024, 512)
        if scale == 3:
            (ROOT / "reports" / "analytics" / "weekly-email-chart.png").write_bytes(png)
