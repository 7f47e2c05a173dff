"""Chain and API events -> notification drafts: what each event tells which member. Pure functions of
the event's CloudEvents data; the consumer decides who the members are and stores the drafts."""

from backend.app.notifications.store import Draft
from backend.app.notifications.templates import fit
from fitmint import events as ev


def token_minted(data: dict) -> Draft:
    return Draft("token.minted", f"{fit(data['amount'])} received",
                 f"{fit(data['amount'])} were minted to {data['account']} in block {data['blockNumber']}.",
                 {"account": data["account"], "amount": data["amount"], "txHash": data["txHash"],
                  "blockNumber": data["blockNumber"]})


def reward_claimed(data: dict) -> Draft:
    return Draft("reward.claimed", f"Reward claimed: {fit(data['amount'])}",
                 f"Your activity reward of {fit(data['amount'])} was paid to {data['account']} "
                 f"(block {data['blockNumber']}).",
                 {"account": data["account"], "amount": data["amount"], "claimId": data["claimId"],
                  "kind": data["kind"], "txHash": data["txHash"], "blockNumber": data["blockNumber"]})


def reward_issued(data: dict) -> Draft:
    return Draft("reward.issued", f"Reward ready: {fit(data['amount'])}",
                 f"Your workout earned {fit(data['amount'])}. Claim it from your wallet before the voucher "
                 f"expires.", {"claimId": data["claim_id"], "amount": data["amount"], "account": data["account"],
                               "workoutId": data["workout_id"], "deadline": data["deadline"]})


def order_bought(data: dict, receipt: dict) -> Draft:
    quantity = int(data["quantity"])
    name = receipt.get("product_name") or f"item #{data['itemId']}"
    return Draft("order.created", f"Order #{data['orderId']} confirmed",
                 f"You bought {quantity} x {name} for {fit(receipt['total'])} (order #{data['orderId']}, "
                 f"tx {data['txHash']}).", {"receipt": receipt})


def order_sold(data: dict, receipt: dict) -> Draft:
    name = receipt.get("product_name") or f"item #{data['itemId']}"
    proceeds = int(receipt["total"]) - int(data["fee"]) - int(data["burned"])
    return Draft("order.sold", f"Sold: {int(data['quantity'])} x {name}",
                 f"Order #{data['orderId']} paid you {fit(proceeds)}.",
                 {"orderId": data["orderId"], "proceeds": str(proceeds), "txHash": data["txHash"]})


def correction(original: dict, original_event: str) -> Draft:
    """A reverted event's notice: the member was told something (`original`, a stored notification of
    `original_event`) that a chain reorganisation undid."""
    return Draft(original["kind"] + ".reverted", f"Reversed: {original['title']}",
                 f"A chain reorganisation reversed this: {original['body']} If the transaction is mined again "
                 f"you will be notified again.", {"reverts": original["id"], "original": original["data"]},
                 corrects=original_event)


# CloudEvents type -> (draft maker, the data field naming the member's address).
SIMPLE = {
    ev.TOKEN_MINTED.ce_type: (token_minted, "account"),
    ev.FITNESS_REWARD.ce_type: (reward_claimed, "account"),
    ev.REWARD_ISSUED.ce_type: (reward_issued, "account"),
}
ORDER = ev.ORDER_CREATED.ce_type
REVERTED = {t.reverted.ce_type for t in ev.PUBLISHED}
TOPICS = (ev.TOKEN_MINTED.topic, ev.FITNESS_REWARD.topic, ev.ORDER_CREATED.topic)
