"""A member's whole wallet journey through the Python client only (fitmint_client), against `make up`'s stack:
sign in, an accepted run, its voucher claimed by the member's wallet, balance and claims as indexed (checked
against the chain itself over JSON-RPC), the marketplace browsed, an item bought with a permit, the order
and the item in the wallet, the notifications, and the identity status."""

import time

import httpx
from eth_abi import decode, encode
from eth_utils import keccak

from fitmint_client import FIT, Fitmint
from tests.support.api import a_run


def eth_call_balance(rpc_url: str, token: str, account: str, block: int) -> int:
    """FitToken.balanceOf(account) at `block`, straight from the node (not through the client or the indexer)."""
    data = "0x" + (keccak(text="balanceOf(address)")[:4] + encode(["address"], [account])).hex()
    answer = httpx.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                                       "params": [{"to": token, "data": data}, hex(block)]}, timeout=30).json()
    return decode(["uint256"], bytes.fromhex(answer["result"][2:]))[0]


def rewards_claimed_on_chain(rpc_url: str, rewards: str, account: str, from_block: int, block: int) -> list:
    """(claim id, amount, tx hash) of each RewardClaimed paid to `account` up to `block`, from the node's logs."""
    topic = "0x" + keccak(text="RewardClaimed(bytes32,address,address,uint256,uint256)").hex()
    logs = httpx.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{
        "address": rewards, "fromBlock": hex(from_block), "toBlock": hex(block),
        "topics": [topic, None, "0x" + encode(["address"], [account]).hex()]}]}, timeout=30).json()["result"]
    return [(log["topics"][1], decode(["uint256", "uint256"], bytes.fromhex(log["data"][2:]))[0],
             log["transactionHash"]) for log in logs]


def test_a_members_wallet_journey_through_the_python_client(api_url, rpc_url, listed_item, wallet):
    with Fitmint(api_url) as fm:
        # Sign in with the wallet's own key, run, and claim the reward from the wallet.
        signed = fm.sign_in(wallet)
        assert signed.address.lower() == wallet.address.lower()
        workout = fm.record_workout(a_run(hours_ago=2))
        assert workout.status == "accepted" and workout.rejections == []
        voucher = fm.request_voucher(workout.id)
        assert (voucher.account.lower(), voucher.amount, voucher.status) == (wallet.address.lower(), 50 * FIT, "issued")
        claimed = fm.claim_voucher(wallet, voucher)

        # Balance and claim history as indexed equal the chain's at the block the answer names.
        fm.wait_for_indexed(claimed.block_number)
        chain = fm.chain()
        balance = fm.balance(wallet.address)
        assert balance.block >= claimed.block_number and balance.balance == 50 * FIT
        assert eth_call_balance(rpc_url, chain.token.address, wallet.address, balance.block) == balance.balance
        claims = fm.claims(wallet.address)
        assert [(c.claim_id, c.amount, c.tx_hash) for c in claims.data] == rewards_claimed_on_chain(
            rpc_url, chain.contracts["ActivityRewards"].address, wallet.address, chain.deploy_block, claims.block) == [
            (voucher.claim_id, 50 * FIT, claimed.tx_hash)]
        assert fm.rewards.voucher(voucher.claim_id).status == "claimed"

        # Browse the open listings: the new item is there, described, with its image and metadata.
        listing = next(entry for entry in fm.iter_listings(page_size=20)
                       if entry.listing_id == listed_item["listing_id"])
        assert (listing.kind, listing.status, listing.unit_price, listing.remaining) == ("primary", "open",
                                                                                         15 * FIT // 10, 5)
        assert listing.item.name == listed_item["product"]["name"] and listing.item.image == listed_item["image_cid"]
        image = fm.item_image(listing)
        assert image.content_type == "image/png" and image.data.startswith(b"\x89PNG")
        metadata = fm.item_metadata(listing)
        assert metadata["name"] == listing.item.name and metadata["image"] == f"ipfs://{listed_item['image_cid']}"

        # Quote, then buy with a permit signed by the wallet (no approve transaction).
        quote = fm.quote(listing.listing_id, buyer=wallet.address, quantity=1)
        assert (quote.total, quote.buyer_balance, quote.sufficient_balance) == (15 * FIT // 10, 50 * FIT, True)
        purchase = fm.buy_with_permit(wallet, quote=quote)

        # The order and the item, as indexed, in the wallet; the balance still the chain's.
        fm.wait_for_indexed(purchase.block_number)
        (order,) = fm.orders(wallet.address).data
        assert (order.order_id, order.listing_id, order.item_id, order.quantity, order.unit_price, order.tx_hash) == (
            purchase.order_id, listing.listing_id, listing.item_id, 1, 15 * FIT // 10, purchase.tx_hash)
        assert [(held.item_id, held.quantity) for held in fm.items(wallet.address).data] == [(listing.item_id, 1)]
        balance = fm.balance(wallet.address)
        assert balance.balance == 50 * FIT - 15 * FIT // 10
        assert eth_call_balance(rpc_url, chain.token.address, wallet.address, balance.block) == balance.balance

        # The member hears of the reward and of the order (the notifications worker is a few hops away).
        deadline, kinds = time.monotonic() + 30, set()
        while not {"reward.claimed", "order.created"} <= kinds:
            assert time.monotonic() < deadline, f"notifications so far: {sorted(kinds)}"
            time.sleep(0.25)
            kinds = {note.kind for note in fm.notifications.iterate()}
        order_note = next(note for note in fm.notifications.iterate() if note.kind == "order.created")
        assert order_note.data["receipt"]["order_id"] == purchase.order_id

        # No DIDComm connection or credential yet: a valid answer.
        identity = fm.identity()
        assert (identity.connections, identity.credentials) == ([], [])
        fm.sign_out()
