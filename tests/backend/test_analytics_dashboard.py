"""The Analytics screen of the reference dApp in a real headless Chromium, over a store filled by the
synthetic platform (analytics.synthetic: three tenants, 120 days ending on a fixed day) and served by an
API process of the test's own (uvicorn, its own backend database, this checkout's dApp build): a tenant's
admin signs in, sees the headline numbers and charts the API answers for the last 30 days, hovers a chart
for its tooltip, narrows the period to 7 days and to weeks and sees them change; a platform admin picks
another tenant and the whole platform. Screenshots go to reports/analytics/."""

import asyncio
from datetime import date
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from analytics import rebuild, synthetic
from analytics import store as analytics_store
from backend.app.core.db import migrate
from tests.support.analyticsstore import analytics_settings, create_store
from tests.support.api import api_settings, db
from tests.support.browser import PHONE, chromium, set_viewport, unnamed_controls, wait_for
from tests.support.dappwallet import injected_wallet
from tests.support.databases import create_database, drop_database
from tests.support.paths import ROOT
from tests.support.processes import start_api
from tests.support.signin import me, sign_in

PLAN = synthetic.Plan(events=40_000, days=120, tenants=3, seed=17, last_day=date(2026, 11, 30))
LAST = PLAN.last_day.isoformat()
TENANTS = (("fitmint", "Fitmint Platform"), ("alpha", "Alpha Club"), ("beta", "Beta Gym"))  # the platform's first
DIST = ROOT / "clients" / "dapp" / "dist"
SHOTS = ROOT / "reports" / "analytics"
TILES = ("active_members", "new_members", "workouts", "rejected", "distance_km", "rewards_issued_fit",
         "claim_rate", "orders", "volume_fit", "minted_fit")


@pytest.fixture(scope="module")
def synthetic_store(stack):
    """A store with the plan's events and projections; its name and tenant ids (ordered as the slugs)."""
    name = create_store(stack)

    async def fill():
        pool = await analytics_store.connect(analytics_settings(), name, min_size=1, max_size=2)
        try:
            await synthetic.load(pool, PLAN)
            await rebuild.from_store(pool, progress=lambda _: None)
            return [str(row[0]) for row in await pool.fetch(
                "SELECT tenant_id FROM member_milestones GROUP BY tenant_id ORDER BY min(joined_at), tenant_id")]
        finally:
            await pool.close()

    tenant_ids = asyncio.run(fill())
    assert len(tenant_ids) == len(TENANTS)
    yield name, tenant_ids
    drop_database(stack, name)


@pytest.fixture(scope="module")
def site(stack, synthetic_store, tmp_path_factory):
    """The API (with this checkout's dApp) on a backend database whose tenants are the store's; its URL."""
    assert (DIST / "index.html").is_file(), \
        "build the dApp first: npm run build -w clients/ts && npm run build -w clients/dapp"
    store_name, tenant_ids = synthetic_store
    backend = create_database(stack)
    state = tmp_path_factory.mktemp("dashboard")
    settings = api_settings(stack, state, backend, analytics_database=store_name, dapp_dir=DIST,
                            manifest=Path(stack["FITMINT_STATE_DIR"]) / "deployments" / f"{stack['CHAIN_ID']}.json")
    migrate(settings)
    for (slug, title), tenant_id in zip(TENANTS, tenant_ids, strict=True):
        db(settings, "INSERT INTO tenants (id, slug, name) VALUES ($1::uuid, $2, $3)", tenant_id, slug, title)
    api, base = start_api(settings, state)
    try:
        yield {"url": base, "settings": settings, "rpc": stack["FITMINT_RPC_URL"], "chain_id": int(stack["CHAIN_ID"]),
               "tenants": dict(zip([slug for slug, _ in TENANTS], tenant_ids, strict=True))}
    finally:
        api.stop()
        drop_database(stack, backend)


def admin_of(site, slug: str):
    """A wallet that is an admin of the tenant (made so as an operator does), and its API headers."""
    wallet = Account.create()
    with httpx.Client(base_url=site["url"], timeout=30) as http:
        member = me(http, sign_in(http, site["settings"], wallet, slug))
        db(site["settings"], "UPDATE users SET role = 'admin' WHERE id = $1::uuid", member["user_id"])
        return wallet, sign_in(http, site["settings"], wallet, slug)


def api_get(site, headers, path: str, **params) -> dict:
    answer = httpx.get(f"{site['url']}/analytics/{path}", params=params, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def signed_in_page(browser, site, wallet_page: str) -> None:
    browser.get(f"{site['url']}/app/{wallet_page}")
    wait_for(browser, lambda b: b.execute_script("return document.body.dataset.ready") == "true",
             what="the app ready")
    browser.find_element(By.ID, "connect-wallet").click()
    wait_for(browser, lambda b: b.find_element(By.ID, "sign-in").is_enabled(), what="the wallet connected")
    browser.find_element(By.ID, "sign-in").click()
    wait_for(browser, lambda b: b.find_element(By.ID, "session-state").text.startswith("Yes"), what="signed in")
    browser.find_element(By.CSS_SELECTOR, ".site-nav a[href='#analytics']").click()


def shown(browser, tenant: str, start: str, end: str = LAST, granularity: str = "day") -> None:
    expected = f"{tenant}/{start}/{end}/{granularity}"
    wait_for(browser, lambda b: b.find_element(By.ID, "analytics-view").get_attribute("data-shown") == expected,
             what=f"the dashboard of {expected}", timeout=30)


def tiles(browser) -> dict[str, float]:
    """The headline tiles' values, read at once (a new answer re-renders them)."""
    return {metric: float(value) for metric, value in browser.execute_script(
        "return [...document.querySelectorAll('.tile')].map((t) => [t.dataset.metric, t.dataset.value])")}


def expected_tiles(overview: dict) -> dict[str, float]:
    current = overview["current"]
    return {metric: float(current[metric] or 0) for metric in TILES}


def chart_text(browser, chart_id: str) -> str:
    texts = browser.find_elements(By.CSS_SELECTOR, f"#{chart_id} svg text")
    return " ".join(t.get_attribute("textContent") for t in texts)


FITS = """
const width = document.documentElement.clientWidth;
const outside = (el) => el.getClientRects().length > 0 && el.getBoundingClientRect().right > width + 0.5;
const html = [...document.querySelectorAll('body *')].filter((el) => !el.closest('svg') && outside(el));
const charts = [...document.querySelectorAll('.chart svg')].filter(outside);  // drawn at the chart's size
return [...html, ...charts].map((el) => `${el.tagName} ${el.id || el.className} ${el.getBoundingClientRect().right}`)
  .concat(document.documentElement.scrollWidth > width ? ['the page scrolls sideways'] : []);
"""


def fits(browser) -> list[str]:
    """What reaches past the viewport's width (inside a chart, its SVG clips its own drawing)."""
    return browser.execute_script(FITS)


def set_period(browser, preset: str, ending: str = LAST) -> None:
    """The period `preset` ("7", "30", "90") ending on `ending`, then Show."""
    browser.execute_script("document.getElementById('analytics-to').value = arguments[0]", ending)
    Select(browser.find_element(By.ID, "analytics-period")).select_by_value(preset)
    browser.find_element(By.ID, "analytics-apply").click()


def shoot(browser, name: str) -> None:
    """The whole page as a PNG: the viewport made as tall as the page, captured, then back (capturing beyond
    the viewport instead has the SVG charts drawn squeezed into the captured layout)."""
    size = browser.execute_script("return [document.documentElement.clientWidth, window.innerHeight]")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    set_viewport(browser, (size[0], height))
    browser.execute_script("window.scrollTo(0, 0)")
    wait_for(browser, lambda b: b.execute_script("return window.innerHeight") == height, what="the tall viewport")
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))
    set_viewport(browser, tuple(size))


def test_a_tenant_admin_reads_the_dashboard_and_narrows_the_period(site):
    alpha = site["tenants"]["alpha"]
    wallet, headers = admin_of(site, "alpha")
    month = api_get(site, headers, "overview", **{"from": "2026-11-01", "to": LAST})
    week = api_get(site, headers, "overview", **{"from": "2026-11-24", "to": LAST})
    funnel = api_get(site, headers, "funnel", **{"from": "2026-11-01", "to": LAST})
    top = api_get(site, headers, "marketplace", **{"from": "2026-11-01", "to": LAST})["top_items"]
    activity = api_get(site, headers, "activity", **{"from": "2026-11-01", "to": LAST})["data"]
    assert month["current"]["active_members"] > week["current"]["active_members"] > 0  # the store has data

    with chromium(init_scripts=[injected_wallet(wallet, rpc_url=site["rpc"], chain_id=site["chain_id"])]) as browser:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
            {"name": "prefers-reduced-motion", "value": "reduce"}]})  # charts drawn at once: steady screenshots
        signed_in_page(browser, site, "?tenant=alpha")
        wait_for(browser, lambda b: b.find_element(By.ID, "analytics-view").get_attribute("data-shown"),
                 what="a first dashboard")
        assert not browser.find_element(By.ID, "analytics-tenant-field").is_displayed()  # not a platform admin
        set_period(browser, "30")
        shown(browser, alpha, "2026-11-01")
        assert tiles(browser) == pytest.approx(expected_tiles(month))
        active = browser.find_element(By.CSS_SELECTOR, ".tile[data-metric=active_members] .tile-value").text
        assert active == f"{month['current']['active_members']:,}"
        for chart in ("activity", "workouts", "rewards", "marketplace", "token", "refusals", "retention", "funnel"):
            assert browser.find_elements(By.CSS_SELECTOR, f"#chart-{chart} svg path"), f"the {chart} chart is empty"
        joined = next(step["members"] for step in funnel["steps"] if step["step"] == "joined")
        assert f"Joined: {joined:,}" in chart_text(browser, "chart-funnel")
        rows = browser.find_elements(By.CSS_SELECTOR, "#analytics-top-items tbody tr")
        assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == [item["name"] for item in top]
        assert unnamed_controls(browser) == []
        shoot(browser, "01-tenant-last-30-days")

        # A tooltip: hovering the activity chart names a day and its active members, as the API has them.
        chart = browser.find_element(By.ID, "chart-activity")
        ActionChains(browser).move_to_element(chart).perform()
        tip = wait_for(browser, lambda b: next((d.text for d in chart.find_elements(By.CSS_SELECTOR, ".chart-tooltip")
                                                if d.is_displayed() and d.text), None), what="a tooltip")
        day = next((p for p in activity if tip.split("\n")[0] == label(p["period"])), None)
        assert day is not None, tip
        assert f"DAU: {day['dau']:,.0f}" in tip and f"MAU: {day['mau']:,}" in tip, (tip, day)
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
        browser.save_screenshot(str(SHOTS / "02-tooltip.png"))

        # The last 7 days: other numbers, the API's.
        set_period(browser, "7")
        shown(browser, alpha, "2026-11-24")
        assert tiles(browser) == pytest.approx(expected_tiles(week))
        assert tiles(browser) != expected_tiles(month)

        # 90 days per week.
        set_period(browser, "90")
        Select(browser.find_element(By.ID, "analytics-granularity")).select_by_value("week")
        shown(browser, alpha, "2026-09-02", granularity="week")
        weeks = api_get(site, headers, "activity", granularity="week", **{"from": "2026-09-02", "to": LAST})["data"]
        assert len(weeks) == 14 and label(weeks[0]["period"], week=True) in chart_text(browser, "chart-activity")
        shoot(browser, "03-tenant-90-days-per-week")

        # At phone width the dashboard fits (no horizontal scrolling) and its charts redraw to fit.
        set_viewport(browser, PHONE)
        wait_for(browser, lambda b: fits(b) == [], what="the dashboard and each chart within 375 px")
        shoot(browser, "04-phone")


def test_a_platform_admin_reads_another_tenant_and_the_whole_platform(site):
    wallet, headers = admin_of(site, "fitmint")
    beta, everyone = (api_get(site, headers, "overview", tenant=tenant, **{"from": "2026-11-01", "to": LAST})
                      for tenant in (site["tenants"]["beta"], "all"))
    with chromium(init_scripts=[injected_wallet(wallet, rpc_url=site["rpc"], chain_id=site["chain_id"])]) as browser:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
            {"name": "prefers-reduced-motion", "value": "reduce"}]})
        signed_in_page(browser, site, "")
        wait_for(browser, lambda b: b.find_element(By.ID, "analytics-tenant-field").is_displayed(),
                 what="the tenant filter of a platform admin")
        choices = Select(browser.find_element(By.ID, "analytics-tenant"))
        assert [o.text for o in choices.options] == [title for _, title in TENANTS] + ["All tenants"]
        set_period(browser, "30")
        choices.select_by_visible_text("Beta Gym")
        shown(browser, site["tenants"]["beta"], "2026-11-01")
        assert tiles(browser) == pytest.approx(expected_tiles(beta))
        choices.select_by_visible_text("All tenants")
        shown(browser, "all", "2026-11-01")
        assert tiles(browser) == pytest.approx(expected_tiles(everyone))
        assert everyone["current"]["active_members"] > beta["current"]["active_members"]
        shoot(browser, "05-platform-all-tenants")


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def label(iso_day: str, week: bool = False) -> str:
    """As the page labels a day (charts.ts dayLabel): "Nov 5", "wk of Nov 3"."""
    day = date.fromisoformat(iso_day)
    return f"{'wk of ' if week else ''}{MONTHS[day.month - 1]} {day.day}"
