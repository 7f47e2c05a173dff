"""The reference dApp in a real headless Chromium, served by the stack's API at /app/, clicked through a
member's whole journey: connect a wallet (switching it to the platform's chain), sign in with Ethereum,
record an accepted and a refused workout, claim the reward, see the balance and history, buy a listed item
with a permit, get the order's notification live, meet a stale-price purchase, and see the identity
status; at desktop width and at phone width. What the page shows is checked against Anvil and the API.

The wallet is a test-only EIP-1193 provider (clients/dapp/test/provider.ts, never in the app's bundle)
injected before the page's scripts: it signs with a fresh key funded for gas, and forwards reads to Anvil.
Screenshots of each screen go to reports/dapp/.
"""

import json
import time
import uuid
from decimal import Decimal

import httpx
import pytest
from eth_account import Account
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from web3 import Web3
from web3.logs import DISCARD

from bench.dapp_bench import BUDGET_GZIP_BYTES, DIST, initial_js
from tests.support.browser import (
    PHONE,
    chromium,
    overflow,
    screenshot,
    set_viewport,
    unnamed_controls,
    wait_for,
)
from tests.support.dappwallet import wallet_bundle
from tests.support.paths import ROOT
from tests.support.stackclient import fund_gas, list_product, send_from, sign_in_over_http, solid_png
from tests.support.units import FIT
from tests.support.waiting import wait_until

SHOTS = ROOT / "reports" / "dapp"
SCREENS = ("account", "workout", "balance", "market", "notifications", "identity")
OTHER_CHAIN = 1  # where the test wallet starts, so that the app has to switch it
IMAGE_SIZE = (64, 32)


@pytest.fixture(scope="module")
def dapp_url(api_url) -> str:
    url = f"{api_url}/app/"
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200, (
        f"the API does not serve the dApp at {url} ({answer.status_code} {answer.text[:200]}): `make up` builds it "
        f"(npm run build -w clients/ts && npm run build -w clients/dapp) before starting the API")
    return url


@pytest.fixture(scope="module")
def test_wallet_source() -> str:
    return wallet_bundle()


@pytest.fixture
def item_with_image(api, catalog_admin):
    """As conftest's listed_item (a fresh primary listing, 1.5 FIT each, 5 in supply, a real PNG of its own):
    the page shows its image from the verified IPFS catalog."""
    return list_product(api, catalog_admin, name=f"Trail Band {uuid.uuid4().hex[:6]}", price_fit="1.5", supply=5,
                        image=solid_png(*IMAGE_SIZE, uuid.uuid4().bytes[:3]))


@pytest.fixture(scope="module")
def chain(api) -> dict:
    return api.get("/chain").json()


@pytest.fixture(scope="module")
def contracts(api, chain, rpc_url) -> dict:
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    return {name: w3.eth.contract(address=info["address"], abi=api.get(info["abi_url"]).json())
            for name, info in chain["contracts"].items()} | {"w3": w3}


def test_a_members_whole_journey_in_chromium(dapp_url, test_wallet_source, chain, contracts, api, api_url, rpc_url,
                                             item_with_image):
    listed_item = item_with_image
    started = time.monotonic()
    member = Account.create()
    fund_gas(rpc_url, member.address)
    wallet = {"privateKey": "0x" + bytes(member.key).hex(), "rpcUrl": rpc_url, "chainId": chain["chain_id"],
              "startChainId": OTHER_CHAIN}
    injected = f"window.__fitmintTestWallet = {json.dumps(wallet)};\n{test_wallet_source}"

    with chromium(init_scripts=[injected]) as page:
        page.get(dapp_url)
        wait_for(page, lambda p: p.execute_script("return document.body.dataset.ready") == "true",
                 what="the app marks its first screen usable")
        check_structure(page)
        check_keyboard_start(page)
        shot(page, "01-connect")

        # Connect with the keyboard: the wallet is on another chain, which the app switches (adding it first).
        press(page, "connect-wallet")
        wait_for(page, lambda p: text(p, "wallet-chain") == f"fitmint, chain {chain['chain_id']}",
                 what="the wallet connected and switched to the platform's chain")
        assert text(page, "wallet-address") == member.address
        requests = page.execute_script("return window.__fitmintTestWallet.requests")
        assert {"eth_requestAccounts", "wallet_switchEthereumChain", "wallet_addEthereumChain"} <= set(requests)

        click(page, "sign-in")
        wait_for(page, lambda p: text(p, "session-state").startswith("Yes"), what="signed in with Ethereum")
        shot(page, "02-signed-in")

        # A plausible 5 km run (the form's default times: 30 minutes ending an hour ago) is accepted.
        go(page, "workout")
        fill(page, {"workout-distance": "5", "workout-steps": "4545", "workout-heart-rate": "150"})
        click(page, "record-workout")
        wait_for(page, lambda p: "Workout accepted" in text(p, "workout-result"), what="the workout accepted")
        shot(page, "03-workout-accepted")
        click(page, "get-voucher")
        claim = wait_for(page, lambda p: p.find_element(By.ID, "claim-voucher"), what="a voucher to claim")
        reward = Decimal(claim.text.removeprefix("Claim ").removesuffix(" FIT"))
        assert reward > 0
        claim.click()
        wait_for(page, lambda p: "In block" in text(p, "claim-receipt"), what="the claim mined and indexed")

        # The same times again, ten times as far: refused, with the reasons in words.
        fill(page, {"workout-distance": "50"})
        click(page, "record-workout")
        wait_for(page, lambda p: "Workout refused" in text(p, "workout-result"), what="the workout refused")
        reasons = [li.text for li in page.find_elements(By.CSS_SELECTOR, "#refusal-reasons li")]
        assert any("km/h" in reason for reason in reasons), reasons  # the speed rule, with its numbers
        shot(page, "04-workout-refused")

        # The balance: on the page == the API's == balanceOf on Anvil at the page's indexed block.
        go(page, "balance")
        wait_for(page, lambda p: attribute(p, "fit-balance", "data-wei") == str(int(reward * FIT)),
                 what="the claimed reward in the balance")
        check_balance(page, api, contracts, member.address)
        wait_for(page, lambda p: p.find_elements(By.CSS_SELECTOR, "#history-claims tbody tr"), what="the claim listed")
        shot(page, "05-claimed-balance")

        # The marketplace: the listed item with its catalog image; a quote, then a permit purchase.
        go(page, "market")
        card_id = f"listing-{listed_item['listing_id']}"
        card = wait_for(page, lambda p: p.find_element(By.ID, card_id), what="the listed item in the marketplace")
        image = card.find_element(By.TAG_NAME, "img")
        assert image.get_attribute("src") == f"{api_url}/catalog/images/{listed_item['image_cid']}"
        wait_for(page, lambda p: p.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image)
                 == IMAGE_SIZE[0], what="the item's image decoded")
        assert "1.5 FIT each" in card.text and "5 left" in card.text
        shot(page, "06-marketplace")
        fill(page, {f"{card_id}-quantity": "2"})
        button(card, "Get quote").click()
        wait_for(page, lambda p: card.find_elements(By.CSS_SELECTOR, "[data-field=total]"), what="the quote")
        quote = api.post(f"/marketplace/listings/{listed_item['listing_id']}/quote",
                         json={"buyer": member.address, "quantity": 2}).json()
        shown = {field: card.find_element(By.CSS_SELECTOR, f"[data-field={field}]").text for field in
                 ("total", "fee", "burned")}
        assert shown == {field: fit(quote[field]) for field in ("total", "fee", "burned")}, (shown, quote)
        button(card, "Sign permit and buy").click()
        order = wait_for(page, lambda p: card.find_element(By.CSS_SELECTOR, "[data-order-id]"),
                         what="the purchase done").get_attribute("data-order-id")
        shot(page, "07-purchase-done")
        orders = api.get(f"/wallets/{member.address}/orders").json()["data"]
        assert [(o["order_id"], o["listing_id"], o["quantity"]) for o in orders] == [
            (int(order), listed_item["listing_id"], "2")]
        items = contracts["FitItems"]
        assert items.functions.balanceOf(member.address, int(listed_item["item_id"])).call() == 2

        # The order's notification arrives over the WebSocket (the inbox was read at sign-in, before it).
        go(page, "notifications")
        wait_for(page, lambda p: p.find_elements(By.CSS_SELECTOR, "#notification-list li[data-kind='order.created']"),
                 what="the order's notification, live", timeout=30)
        wait_for(page, lambda p: text(p, "live-state") == "live", what="the live feed connected")
        assert f"Order #{order} confirmed" in text(page, "notification-list")
        shot(page, "08-notifications")

        # A stale quote: the member resells one item, the page quotes it, the price goes up, the purchase
        # is refused by the contract, and the page says why.
        resale = list_for_resale(contracts, member, int(listed_item["item_id"]), FIT)
        wait_until(lambda: api.get(f"/marketplace/listings/{resale}").status_code == 200, what="the resale indexed")
        go(page, "market")  # which shows the open listings as the API has them now
        resale_card = wait_for(page, lambda p: p.find_element(By.ID, f"listing-{resale}"), what="the resale listed")
        button(resale_card, "Get quote").click()
        wait_for(page, lambda p: resale_card.find_elements(By.CSS_SELECTOR, "[data-field=total]"), what="its quote")
        send_from(contracts["w3"], member, contracts["Marketplace"].functions.updatePrice(resale, 2 * FIT))
        button(resale_card, "Sign permit and buy").click()
        refusal = wait_for(page, lambda p: resale_card.find_element(By.CSS_SELECTOR, ".error"),
                           what="the stale-price refusal").text
        assert refusal.startswith("The price went up since your quote"), refusal
        assert "2 FIT" in refusal and "1 FIT" in refusal
        shot(page, "09-stale-price")

        # Identity: what the API says of the member's connections and credentials.
        go(page, "identity")
        with httpx.Client(base_url=api_url, timeout=30, transport=WaitingOutRateLimits()) as patient:
            headers = sign_in_over_http(patient, member)
        connections = api.get("/identity/connections", headers=headers).json()["data"]
        credentials = api.get("/identity/credentials", headers=headers).json()["data"]
        wait_for(page, lambda p: text(p, "identity-credentials"), what="the identity status")
        assert len(page.find_elements(By.CSS_SELECTOR, "#identity-connections tbody tr")) == len(connections)
        assert len(page.find_elements(By.CSS_SELECTOR, "#identity-credentials tbody tr")) == len(credentials)
        if not connections:
            assert "No connections yet" in text(page, "identity-connections")
        shot(page, "10-identity")

        # Phone width: every screen fits 375 px (no horizontal scrolling) and keeps its controls named.
        set_viewport(page, PHONE)
        for screen in SCREENS:
            go(page, screen)
            wide = overflow(page)
            assert wide["scrollWidth"] <= wide["viewport"] and not wide["wide"], (screen, wide)
            assert unnamed_controls(page) == [], screen
        go(page, "balance")
        shot(page, "11-phone-width")

    assert time.monotonic() - started < 120, "the journey should take about a minute"


def test_the_initial_javascript_is_within_budget_and_free_of_test_code(dapp_url):
    size = initial_js(DIST)
    assert size["gzip_bytes"] < BUDGET_GZIP_BYTES, size
    for built in DIST.rglob("*.js"):
        assert "__fitmintTestWallet" not in built.read_text(), f"{built} contains the test wallet"


# --- page helpers ---------------------------------------------------------------------------------------

def text(page, element_id: str) -> str:
    return page.find_element(By.ID, element_id).text.strip()


def attribute(page, element_id: str, name: str) -> str | None:
    return page.find_element(By.ID, element_id).get_attribute(name)


def click(page, element_id: str) -> None:
    wait_for(page, lambda p: p.find_element(By.ID, element_id).is_enabled(), what=f"#{element_id} enabled")
    page.find_element(By.ID, element_id).click()


def press(page, element_id: str) -> None:
    """Activates a control from the keyboard: focus, then Enter."""
    element = page.find_element(By.ID, element_id)
    page.execute_script("arguments[0].focus()", element)
    element.send_keys(Keys.ENTER)


def button(container, label: str):
    return next(b for b in container.find_elements(By.TAG_NAME, "button") if b.text == label)


def fill(page, values: dict[str, str]) -> None:
    for element_id, value in values.items():
        field = page.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(value)


def go(page, screen: str) -> None:
    """Follows the navigation link to `screen`, then checks its controls have accessible names."""
    page.find_element(By.CSS_SELECTOR, f".site-nav a[href='#{screen}']").click()
    wait_for(page, lambda p: p.find_element(By.ID, screen).is_displayed(), what=f"the {screen} screen")
    assert page.switch_to.active_element.get_attribute("id") == f"{screen}-title", "focus moves to the screen's heading"
    assert unnamed_controls(page) == [], screen


def shot(page, name: str) -> None:
    screenshot(page, SHOTS / f"{name}.png")


def fit(wei: str) -> str:
    """As formatFit writes FIT amounts: no trailing zeros."""
    value = Decimal(int(wei)) / FIT
    return f"{value.normalize():f} FIT"


def check_structure(page) -> None:
    """Landmarks, headings and a live region that assistive technology relies on."""
    found = page.execute_script("""return {
      banner: !!document.querySelector('header'), nav: !!document.querySelector('nav[aria-label]'),
      main: !!document.querySelector('main'), footer: !!document.querySelector('footer'),
      h1: document.querySelectorAll('h1').length,
      sectionsTitled: [...document.querySelectorAll('main > section')].every((s) =>
        s.querySelector('h2') && s.getAttribute('aria-labelledby') === s.querySelector('h2').id),
      live: document.querySelector('#status').getAttribute('aria-live'),
      positiveTabindex: document.querySelectorAll('[tabindex]:not([tabindex="0"]):not([tabindex="-1"])').length};""")
    assert found == {"banner": True, "nav": True, "main": True, "footer": True, "h1": 1, "sectionsTitled": True,
                     "live": "polite", "positiveTabindex": 0}, found
    assert unnamed_controls(page) == []


def check_keyboard_start(page) -> None:
    """Tab from the top: the skip link, then the navigation in order, each with a visible focus outline."""
    body = page.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    order = []
    for _ in range(7):
        focused = page.switch_to.active_element
        order.append(focused.get_attribute("href").split("#")[-1])
        outline = page.execute_script(
            "const s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.outlineWidth]", focused)
        assert outline[0] != "none" and outline[1] != "0px", (order[-1], outline)
        focused.send_keys(Keys.TAB)
    assert order == ["main", *SCREENS], order
    assert page.switch_to.active_element.get_attribute("id") == "connect-wallet"


def check_balance(page, api, contracts, address: str) -> None:
    shown = page.execute_script("""const b = document.getElementById('fit-balance');
      return {wei: b.dataset.wei, block: b.dataset.block, text: b.textContent,
              asOf: document.getElementById('balance-block').textContent};""")
    wei, block = int(shown["wei"]), int(shown["block"])
    assert shown["text"] == fit(shown["wei"]) and shown["asOf"] == f"as of block {block}", shown
    answer = api.get(f"/wallets/{address}/balance").json()
    assert int(answer["balance"]) == wei and answer["block"] >= block, (answer, shown)
    on_chain = contracts["FitToken"].functions.balanceOf(address).call(block_identifier=block)
    assert on_chain == wei, (on_chain, shown)


class WaitingOutRateLimits(httpx.HTTPTransport):
    """Sign-in is rate-limited per IP, shared by every test: a 429 is retried after its Retry-After."""

    def handle_request(self, request):
        for _ in range(3):
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.close()
            time.sleep(min(float(response.headers.get("Retry-After", "1")), 30))
        return response


# --- the member's own transactions, sent from Python with the same key --------------------------------------

def list_for_resale(contracts, member, item_id: int, unit_price: int) -> int:
    market = contracts["Marketplace"]
    send_from(contracts["w3"], member, contracts["FitItems"].functions.setApprovalForAll(market.address, True))
    receipt = send_from(contracts["w3"], member, market.functions.listForResale(item_id, 1, unit_price))
    (created,) = market.events.ListingCreated().process_receipt(receipt, errors=DISCARD)  # FitItems' logs too
    return created.args.listingId
