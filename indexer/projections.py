"""Events -> rows. `project(batch)` turns a block range's decoded events into the rows and deltas the
store writes in one transaction; `fold_listing` is the one definition of a listing's state, used both
forwards and when a reorg makes listings be recomputed from their remaining events.

Every event of the indexed contracts' ABIs is either handled (`HANDLERS`, filled by `@handles`) or
deliberately kept only as a raw event (`IGNORED`): tests/indexer/test_handlers.py fails on an event that
is neither, or on an entry naming an event the ABI does not have (a renamed event, say)."""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fitmint import events as ev
from fitmint.chain.rpc import Log
from fitmint.outbox.append import Outgoing
from indexer.decode import DecodeError, Event

ZERO = "0x" + "0" * 40
LISTING_COLUMNS = ("listing_id", "item_id", "seller", "unit_price", "remaining", "is_primary", "cid", "status",
                   "created_block", "updated_block")


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
    outbox: list[Outgoing] = field(default_factory=list)

    @property
    def listing_ids(self) -> set[int]:
        return {event.args["listingId"] for event in self.listing_events}


# --- What each projection writes per batch (COPY) and undoes above a reorg's ancestor -----------------
@dataclass(frozen=True)
class Rows:
    """Insert-only rows of one table, each with its block_number: written by COPY, undone by deleting
    the rows above the ancestor."""
    table: str
    attribute: str  # the Projection field that holds the batch's rows
    columns: tuple[str, ...]
    plain: bool = False  # only ints and hex or name strings (never None, a tab or a backslash): no escaping


@dataclass(frozen=True)
class Balances:
    """A balance table built from a transfers table by deltas (`attribute`: the batch's deltas). Undone
    by the opposite deltas of the transfer rows above the ancestor (`Rows` deletes them)."""
    table: str
    attribute: str
    keys: tuple[str, ...]
    transfers: str
    key_column: str | None = None  # a transfers column keying the balance besides the account (item_id)


@dataclass(frozen=True)
class ListingStates:
    """listings, folded from their events (`fold_listing`), and `history`, each listing's state after each
    of its events; undone by restoring each listing touched above the ancestor to its last state in the
    history at or below it (none: the listing goes)."""
    table: str = "listings"
    history: str = "listing_states"


@dataclass(frozen=True)
class ProjectionTables:
    name: str
    writes: tuple


PROJECTIONS = (
    ProjectionTables("raw events", (
        Rows("events", "events", ("block_number", "log_index", "block_hash", "tx_hash", "address", "contract", "name",
                                  "topics", "data"), plain=True),)),
    ProjectionTables("FIT transfers and balances", (
        Rows("token_transfers", "token_transfers",
             ("block_number", "log_index", "tx_hash", "from_address", "to_address", "value"), plain=True),
        Balances("token_balances", "balance_deltas", ("account",), "token_transfers"))),
    ProjectionTables("reward claims and epochs", (
        Rows("claims", "claims", ("claim_id", "kind", "account", "amount", "epoch", "attestor", "block_number",
                                  "log_index", "tx_hash")),
        Rows("epoch_roots", "epoch_roots", ("epoch", "root", "total", "operator", "block_number")))),
    ProjectionTables("items: metadata, transfers and balances", (
        Rows("item_metadata", "item_metadata", ("block_number", "log_index", "item_id", "uri")),
        Rows("item_transfers", "item_transfers",
             ("block_number", "log_index", "position", "item_id", "from_address", "to_address", "value"), plain=True),
        Balances("item_balances", "item_deltas", ("item_id", "account"), "item_transfers", key_column="item_id"))),
    ProjectionTables("marketplace: listings and orders", (
        Rows("orders", "orders", ("order_id", "listing_id", "buyer", "seller", "item_id", "quantity", "unit_price",
                                  "fee", "burned", "block_number", "log_index", "tx_hash")),
        ListingStates())),
)


def _time(event: Event) -> datetime:
    return datetime.fromtimestamp(event.block_timestamp, tz=UTC)


def _where(event: Event) -> dict:
    """The chain position every published payload carries (fitmint.events.payloads.ChainPayload)."""
    return {"block_number": event.block_number, "block_hash": event.block_hash, "tx_hash": event.tx_hash,
            "log_index": event.log_index}


Handler = Callable[["Projector", Projection, Event, dict], None]
HANDLERS: dict[tuple[str, str], Handler] = {}  # (contract, event name) -> its handler

# Kept only as raw events (the events table): roles, pauses, approvals, fee, cap and treasury changes,
# EIP-712 domain changes (never emitted: the domains are fixed) and cancelled purchase intents.
_ACCESS_CONTROL = ("RoleAdminChanged", "RoleGranted", "RoleRevoked")
_PAUSABLE = ("Paused", "Unpaused")
IGNORED: frozenset[tuple[str, str]] = frozenset(
    [("FitToken", name) for name in ("Approval", "EIP712DomainChanged", *_ACCESS_CONTROL, *_PAUSABLE)]
    + [("ActivityRewards", name) for name in ("DailyCapUpdated", "EIP712DomainChanged", *_ACCESS_CONTROL,
                                              *_PAUSABLE)]
    + [("FitItems", name) for name in ("ApprovalForAll", *_ACCESS_CONTROL)]
    + [("Marketplace", name) for name in ("FeesUpdated", "TreasuryUpdated", "EIP712DomainChanged",
                                          "PurchaseIntentCancelled", *_ACCESS_CONTROL, *_PAUSABLE)])


def handles(contract: str, *names: str):
    """Registers the decorated Projector method as the handler of `contract`'s events `names`."""
    def register(handler: Handler) -> Handler:
        for name in names:
            if (contract, name) in HANDLERS:
                raise ValueError(f"{contract}.{name} has two handlers")
            if (contract, name) in IGNORED:
                raise ValueError(f"{contract}.{name} is both handled and ignored")
            HANDLERS[(contract, name)] = handler
        return handler
    return register


def unregistered(abis: dict[str, list[dict]]) -> tuple[list[str], list[str]]:
    """Against the contracts' ABIs (name -> ABI): the events with neither a handler nor an IGNORED entry,
    and the registrations (handled or ignored) naming an event that the ABIs do not have."""
    declared = {(contract, entry["name"]) for contract, abi in abis.items() for entry in abi
                if entry.get("type") == "event" and not entry.get("anonymous")}
    registered = set(HANDLERS) | IGNORED
    return ([f"{c}.{n}" for c, n in sorted(declared - registered)],
            [f"{c}.{n}" for c, n in sorted(registered - declared)])


class Projector:
    def __init__(self, chain_id: int):
        self.chain_id = chain_id

    def _publish(self, projection: Projection, event: Event, event_type: ev.EventType, payload: ev.Payload):
        event_id = ev.event_id(self.chain_id, event.block_hash, event.log_index, event_type)
        projection.outbox.append(Outgoing(event_id, event_type, payload, _time(event), event.block_number))

    def project(self, decoded: list[Event]) -> Projection:
        projection = Projection()
        for event in decoded:
            self.add(projection, event)
        return projection

    def add(self, p: Projection, event: Event) -> None:
        p.events.append((event.block_number, event.log_index, event.block_hash, event.tx_hash, event.address,
                         event.contract, event.name, "{" + ",".join(event.topics) + "}", event.data))
        handler = HANDLERS.get((event.contract, event.name))
        if handler is not None:
            handler(self, p, event, event.args)

    def add_token_transfer(self, p: Projection, log: Log) -> Event | None:
        """The hot path of a backfill (most events are FIT Transfers): straight from the raw log to the
        rows, without building an Event, except for mints, which are published. Same rows as
        `add(decoded Transfer)`; returns the Event of a mint, else None."""
        topics, data = log.topics, log.data
        if len(topics) != 3 or len(data) != 66:
            raise DecodeError(f"FitToken.Transfer: {len(topics) - 1} topics and {(len(data) - 2) // 2} data bytes")
        number, index, tx_hash = int(log.blockNumber, 16), int(log.logIndex, 16), log.transactionHash
        sender, receiver, value = "0x" + topics[1][26:], "0x" + topics[2][26:], int(data, 16)
        p.events.append((number, index, log.blockHash, tx_hash, log.address.lower(), "FitToken", "Transfer",
                         "{" + ",".join(topics) + "}", data))
        p.token_transfers.append((number, index, tx_hash, sender, receiver, value))
        if receiver != ZERO:
            p.balance_deltas[receiver] += value
        if sender != ZERO:
            p.balance_deltas[sender] -= value
            return None
        mint = Event(number, log.blockHash, int(log.blockTimestamp or "0x0", 16), tx_hash, index,
                     "FitToken", "Transfer", {"from": sender, "to": receiver, "value": value})
        self._publish(p, mint, ev.TOKEN_MINTED, ev.TokenMinted(account=receiver, amount=str(value), **_where(mint)))
        return mint

    # --- FitToken ---------------------------------------------------------------------------------
    @handles("FitToken", "Transfer")
    def _token_transfer(self, p, e, a):
        p.token_transfers.append((e.block_number, e.log_index, e.tx_hash, a["from"], a["to"], a["value"]))
        if a["from"] != ZERO:
            p.balance_deltas[a["from"]] -= a["value"]
        if a["to"] != ZERO:
            p.balance_deltas[a["to"]] += a["value"]
        if a["from"] == ZERO:
            self._publish(p, e, ev.TOKEN_MINTED, ev.TokenMinted(account=a["to"], amount=str(a["value"]), **_where(e)))

    # --- ActivityRewards --------------------------------------------------------------------------
    @handles("ActivityRewards", "RewardClaimed")
    def _reward_claimed(self, p, e, a):
        p.claims.append((a["claimId"], "voucher", a["account"], a["amount"], a["epoch"], a["attestor"],
                         e.block_number, e.log_index, e.tx_hash))
        self._publish(p, e, ev.FITNESS_REWARD, ev.RewardClaimed(
            kind="voucher", claim_id=a["claimId"], account=a["account"], amount=str(a["amount"]), epoch=a["epoch"],
            attestor=a["attestor"], **_where(e)))

    @handles("ActivityRewards", "EpochRewardClaimed")
    def _epoch_reward_claimed(self, p, e, a):
        claim_id = f"epoch:{a['epoch']}:{a['index']}"
        p.claims.append((claim_id, "epoch", a["account"], a["amount"], a["epoch"], None,
                         e.block_number, e.log_index, e.tx_hash))
        self._publish(p, e, ev.FITNESS_REWARD, ev.RewardClaimed(
            kind="epoch", claim_id=claim_id, account=a["account"], amount=str(a["amount"]), epoch=a["epoch"],
            index=a["index"], **_where(e)))

    @handles("ActivityRewards", "EpochRootPosted")
    def _epoch_root_posted(self, p, e, a):
        p.epoch_roots.append((a["epoch"], a["root"], a["total"], a["operator"], e.block_number))

    # --- FitItems ---------------------------------------------------------------------------------
    def _item_move(self, p, e, position, item_id, sender, receiver, value):
        p.item_transfers.append((e.block_number, e.log_index, position, item_id, sender, receiver, value))
        if sender != ZERO:
            p.item_deltas[(item_id, sender)] -= value
        if receiver != ZERO:
            p.item_deltas[(item_id, receiver)] += value

    @handles("FitItems", "TransferSingle")
    def _item_transfer_single(self, p, e, a):
        self._item_move(p, e, 0, a["id"], a["from"], a["to"], a["value"])

    @handles("FitItems", "TransferBatch")
    def _item_transfer_batch(self, p, e, a):
        # ERC1155 reverts on ids and values of unequal lengths: they pair up one to one.
        for position, (item_id, value) in enumerate(zip(a["ids"], a["values"], strict=True)):
            self._item_move(p, e, position, item_id, a["from"], a["to"], value)

    @handles("FitItems", "URI")
    def _item_uri(self, p, e, a):
        p.item_metadata.append((e.block_number, e.log_index, a["id"], a["value"]))  # stored, not published

    # --- Marketplace ------------------------------------------------------------------------------
    @handles("Marketplace", "ListingCreated", "ListingUpdated", "ListingCancelled")
    def _listing_changed(self, p, e, a):
        p.listing_events.append(e)

    @handles("Marketplace", "OrderCreated")
    def _order_created(self, p, e, a):
        p.listing_events.append(e)
        p.orders.append((a["orderId"], a["listingId"], a["buyer"], a["seller"], a["itemId"], a["quantity"],
                         a["unitPrice"], a["fee"], a["burned"], e.block_number, e.log_index, e.tx_hash))
        self._publish(p, e, ev.ORDER_CREATED, ev.OrderCreated(
            order_id=a["orderId"], listing_id=a["listingId"], buyer=a["buyer"], seller=a["seller"],
            item_id=str(a["itemId"]), quantity=str(a["quantity"]), unit_price=str(a["unitPrice"]), fee=str(a["fee"]),
            burned=str(a["burned"]), **_where(e)))


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
