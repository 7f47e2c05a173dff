"""Chain and API events -> notification drafts: what each event tells which member. Pure functions of
the event's typed payload (fitmint.events); the consumer decides who the members are and stores the
drafts. A draft's `data` is what the stored notification shows the member (the API, the templates)."""

from backend.app.notifications.store import Draft
from backend.app.notifications.templates import fit
from fitmint import events as ev


def token_minted(e: ev.TokenMinted) -> Draft:
    return Draft("token.minted", f"{fit(e.amount)} received",
                 f"{fit(e.amount)} were minted to {e.account} in block {e.block_number}.",
                 {"account": e.account, "amount": e.amount, "txHash": e.tx_hash, "blockNumber": e.block_number})


def reward_claimed(e: ev.RewardClaimed) -> Draft:
    return Draft("reward.claimed", f"Reward claimed: {fit(e.amount)}",
                 f"Your activity reward of {fit(e.amount)} was paid to {e.account} (block {e.block_number}).",
                 {"account": e.account, "amount": e.amount, "claimId": e.claim_id, "kind": e.kind,
                  "txHash": e.tx_hash, "blockNumber": e.block_number})


def reward_issued(e: ev.RewardIssued) -> Draft:
    return Draft("reward.issued", f"Reward ready: {fit(e.amount)}",
                 f"Your workout earned {fit(e.amount)}. Claim it from your wallet before the voucher expires.",
                 {"claimId": e.claim_id, "amount": e.amount, "account": e.account, "workoutId": e.workout_id,
                  "deadline": e.deadline})


def order_bought(e: ev.OrderCreated, receipt: dict) -> Draft:
    name = receipt.get("product_name") or f"item #{e.item_id}"
    return Draft("order.created", f"Order #{e.order_id} confirmed",
                 f"You bought {int(e.quantity)} x {name} for {fit(receipt['total'])} (order #{e.order_id}, "
                 f"tx {e.tx_hash}).", {"receipt": receipt})


def order_sold(e: ev.OrderCreated, receipt: dict) -> Draft:
    name = receipt.get("product_name") or f"item #{e.item_id}"
    proceeds = int(receipt["total"]) - int(e.fee) - int(e.burned)
    return Draft("order.sold", f"Sold: {int(e.quantity)} x {name}", f"Order #{e.order_id} paid you {fit(proceeds)}.",
                 {"orderId": e.order_id, "proceeds": str(proceeds), "txHash": e.tx_hash})


def correction(original: dict, original_event: str) -> Draft:
    """A reverted event's notice: the member was told something (`original`, a stored notification of
    `original_event`) that a chain reorganisation undid."""
    return Draft(original["kind"] + ".reverted", f"Reversed: {original['title']}",
                 f"A chain reorganisation reversed this: {original['body']} If the transaction is mined again "
                 f"you will be notified again.", {"reverts": original["id"], "original": original["data"]},
                 corrects=original_event)


# Events that notify the member who linked the payload's `account`, and the draft each gives.
SIMPLE = {ev.TOKEN_MINTED: token_minted, ev.FITNESS_REWARD: reward_claimed, ev.REWARD_ISSUED: reward_issued}
ORDER = ev.ORDER_CREATED
REVERTED = {t.reverted for t in ev.PUBLISHED}
# What the `fitmint-notifications` group reads (CloudEvents types, legacy versions included) and where.
TYPES = ev.readable(*SIMPLE, ORDER, *REVERTED)
TOPICS = (ev.TOKEN_MINTED.topic, ev.FITNESS_REWARD.topic, ev.ORDER_CREATED.topic)
