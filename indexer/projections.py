"""Events -> rows. `project(batch)` turns a block range's decoded events into the rows and deltas the
store writes in one transaction; `fold_listing` is the one definition of a listing's state, used both
forwards and when a reorg makes listings be recomputed from their remaining events."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

import orjson

from fitmint import events as ev
from indexer.decode import DecodeError, Event

ZERO = "0x" + "0" * 40


@dataclass
class Projection:
    events: list[tuple] = field(default_factory=list)
    token_transfers: list[tuple] = field(default_factory=list)
    balance_deltas: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    claims: list[tuple] = field(default_factory=list)
    epoch_roots: list[tuple] = field(default_factory=list)
    item_metadata: list[tuple] = field(default_factory=list)
    item_transfers: list[tuple] = field(default_factory=list)
    item_deltas: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    listing_events: list[Event] = field(default_factory=list)
    orders: list[tuple] = field(default_factory=list)
    outbox: list[tuple] = field(default_factory=list)

    @property
    def listing_ids(self) -> set[int]:
        return {event.args["listingId"] for event in self.listing_events}

    @property
    def listing_index(self) -> list[tuple]:
        """(listing id, block, log index) rows of the listing_events table."""
        return [(e.args["listingId"], e.block_number, e.log_index) for e in self.listing_events]


def _time(event: Event) -> datetime:
    return datetime.fromtimestamp(event.block_timestamp, tz=timezone.utc)


def _ignore(projection, event, args):
    """Events kept only as raw events (roles, pauses, approvals, fee changes)."""


class Projector:
    def __init__(self, chain_id: int):
        self.chain_id = chain_id
        self._handlers = {}

    def _publish(self, projection: Projection, event: Event, event_type: ev.EventType, subject: str, data: dict):
        event_id = ev.event_id(self.chain_id, event.block_hash, event.log_index, event_type)
        payload = {**data, "blockNumber": event.block_number, "blockHash": event.block_hash,
                   "txHash": event.tx_hash, "logIndex": event.log_index}
        projection.outbox.append((event_id, event_type.topic, subject, event_type.ce_type,
                                  orjson.dumps(payload).decode(),
                                  _time(event), event.block_number, None))

    def project(self, decoded: list[Event]) -> Projection:
        projection = Projection()
        for event in decoded:
            self.add(projection, event)
        return projection

    def add(self, p: Projection, event: Event) -> None:
        p.events.append((event.block_number, event.log_index, event.block_hash, event.tx_hash, event.address,
                         event.contract, event.name, "{" + ",".join(event.topics) + "}", event.data))
        handler = self._handlers.get((event.contract, event.name))
        if handler is None:
            handler = self._handlers[(event.contract, event.name)] = getattr(
                self, f"_{event.contract}_{event.name}", _ignore)
        handler(p, event, event.args)

    def add_token_transfer(self, p: Projection, log: dict) -> Event | None:
        """The hot path of a backfill (most events are FIT Transfers): straight from the raw log to the
        rows, without building an Event, except for mints, which are published. Same rows as
        `add(decoded Transfer)`; returns the Event of a mint, else None."""
        topics, data = log["topics"], log["data"]
        if len(topics) != 3 or len(data) != 66:
            raise DecodeError(f"FitToken.Transfer: {len(topics) - 1} topics and {(len(data) - 2) // 2} data bytes")
        number, index, tx_hash = int(log["blockNumber"], 16), int(log["logIndex"], 16), log["transactionHash"]
        sender, receiver, value = "0x" + topics[1][26:], "0x" + topics[2][26:], int(data, 16)
        p.events.append((number, index, log["blockHash"], tx_hash, log["address"].lower(), "FitToken", "Transfer",
                         "{" + ",".join(topics) + "}", data))
        p.token_transfers.append((number, index, tx_hash, sender, receiver, value))
        if receiver != ZERO:
            p.balance_deltas[receiver] += value
        if sender != ZERO:
            p.balance_deltas[sender] -= value
            return None
        mint = Event(number, log["blockHash"], int(log.get("blockTimestamp") or "0x0", 16), tx_hash, index,
                     "FitToken", "Transfer", {"from": sender, "to": receiver, "value": value})
        self._publish(p, mint, ev.TOKEN_MINTED, receiver, {"account": receiver, "amount": str(value)})
        return mint

    # --- FitToken ---------------------------------------------------------------------------------
    def _FitToken_Transfer(self, p, e, a):
        p.token_transfers.append((e.block_number, e.log_index, e.tx_hash, a["from"], a["to"], a["value"]))
        if a["from"] != ZERO:
            p.balance_deltas[a["from"]] -= a["value"]
        if a["to"] != ZERO:
            p.balance_deltas[a["to"]] += a["value"]
        if a["from"] == ZERO:
            self._publish(p, e, ev.TOKEN_MINTED, a["to"], {"account": a["to"], "amount": str(a["value"])})

    # --- ActivityRewards --------------------------------------------------------------------------
    def _ActivityRewards_RewardClaimed(self, p, e, a):
        p.claims.append((a["claimId"], "voucher", a["account"], a["amount"], a["epoch"], a["attestor"],
                         e.block_number, e.log_index, e.tx_hash))
        self._publish(p, e, ev.FITNESS_REWARD, a["account"], {
            "kind": "voucher", "claimId": a["claimId"], "account": a["account"], "amount": str(a["amount"]),
            "epoch": a["epoch"], "attestor": a["attestor"]})

    def _ActivityRewards_EpochRewardClaimed(self, p, e, a):
        claim_id = f"epoch:{a['epoch']}:{a['index']}"
        p.claims.append((claim_id, "epoch", a["account"], a["amount"], a["epoch"], None,
                         e.block_number, e.log_index, e.tx_hash))
        self._publish(p, e, ev.FITNESS_REWARD, a["account"], {
            "kind": "epoch", "claimId": claim_id, "account": a["account"], "amount": str(a["amount"]),
            "epoch": a["epoch"], "index": a["index"]})

    def _ActivityRewards_EpochRootPosted(self, p, e, a):
        p.epoch_roots.append((a["epoch"], a["root"], a["total"], a["operator"], e.block_number))

    # --- FitItems ---------------------------------------------------------------------------------
    def _item_move(self, p, e, position, item_id, sender, receiver, value):
        p.item_transfers.append((e.block_number, e.log_index, position, item_id, sender, receiver, value))
        if sender != ZERO:
            p.item_deltas[(item_id, sender)] -= value
        if receiver != ZERO:
            p.item_deltas[(item_id, receiver)] += value

    def _FitItems_TransferSingle(self, p, e, a):
        self._item_move(p, e, 0, a["id"], a["from"], a["to"], a["value"])

    def _FitItems_TransferBatch(self, p, e, a):
        for position, (item_id, value) in enumerate(zip(a["ids"], a["values"])):
            self._item_move(p, e, position, item_id, a["from"], a["to"], value)

    def _FitItems_URI(self, p, e, a):
        p.item_metadata.append((e.block_number, e.log_index, a["id"], a["value"]))  # stored, not published

    # --- Marketplace ------------------------------------------------------------------------------
    def _Marketplace_ListingCreated(self, p, e, a):
        p.listing_events.append(e)

    _Marketplace_ListingUpdated = _Marketplace_ListingCreated
    _Marketplace_ListingCancelled = _Marketplace_ListingCreated

    def _Marketplace_OrderCreated(self, p, e, a):
        p.listing_events.append(e)
        p.orders.append((a["orderId"], a["listingId"], a["buyer"], a["seller"], a["itemId"], a["quantity"],
                         a["unitPrice"], a["fee"], a["burned"], e.block_number, e.log_index, e.tx_hash))
        self._publish(p, e, ev.ORDER_CREATED, str(a["orderId"]), {
            "orderId": a["orderId"], "listingId": a["listingId"], "buyer": a["buyer"], "seller": a["seller"],
            "itemId": str(a["itemId"]), "quantity": str(a["quantity"]), "unitPrice": str(a["unitPrice"]),
            "fee": str(a["fee"]), "burned": str(a["burned"])})


def fold_listing(state: dict | None, name: str, args: dict, block_number: int) -> dict | None:
    """A listing's state after one of its events (None: not created yet)."""
    if name == "ListingCreated":
        return {"listing_id": args["listingId"], "item_id": args["itemId"], "seller": args["seller"],
                "unit_price": args["unitPrice"], "remaining": args["quantity"], "is_primary": args["primary"],
                "cid": args["cid"], "status": "open", "created_block": block_number, "updated_block": block_number}
    if state is None:
        return None
    state = dict(state, updated_block=block_number)
    if name == "ListingUpdated":
        state.update(unit_price=args["unitPrice"], remaining=args["remaining"], status="open")
    elif name == "ListingCancelled":
        state.update(remaining=0, status="cancelled")
    elif name == "OrderCreated":
        state["remaining"] = state["remaining"] - args["quantity"]
        if state["remaining"] == 0:
            state["status"] = "sold_out"
    return state
