"""The payload (CloudEvents `data`) of every event on the bus: one msgspec Struct per event type and
version, fields in camelCase on the wire (`claim_id` in Python is `claimId` in JSON), as the chain
side and the JS clients spell them.

msgspec rather than pydantic: the indexer builds ~20k payloads a second, and a Struct is built without
validation and encoded in one call (a TokenMinted built and encoded: 1.4 us, where the dict and orjson
it replaced took 1.8 us). Producers build them; consumers validate on read (`fitmint.events.read`).
uint256 values travel as decimal strings (JSON numbers lose precision past 2^53 in most languages);
unknown fields are ignored on read, so a producer may add a field without breaking a consumer.
"""

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

import msgspec

Address = Annotated[str, msgspec.Meta(pattern="^0x[0-9a-fA-F]{40}$", description="an account or contract address")]
Hash = Annotated[str, msgspec.Meta(pattern="^0x[0-9a-fA-F]{64}$", description="a 32-byte hash, 0x-prefixed hex")]
Uint = Annotated[str, msgspec.Meta(pattern="^[0-9]+$", description="a uint256 as a decimal string")]


class Payload(msgspec.Struct, rename="camel", kw_only=True, frozen=True):
    """Base of every payload."""


class ChainPayload(Payload):
    """An event the indexer read from a chain log: where it was."""
    block_number: int
    block_hash: Hash
    tx_hash: Hash
    log_index: int


class TokenMinted(ChainPayload):
    account: Address
    amount: Uint


class RewardClaimed(ChainPayload, omit_defaults=True):
    """A reward paid on chain: a voucher's (`attestor` set) or a Merkle epoch's (`index` set; the claim
    id is `epoch:<epoch>:<index>`)."""
    kind: Literal["voucher", "epoch"]
    claim_id: str
    account: Address
    amount: Uint
    epoch: int
    attestor: Address | None = None
    index: int | None = None


class OrderCreated(ChainPayload):
    order_id: int
    listing_id: int
    buyer: Address
    seller: Address
    item_id: Uint
    quantity: Uint
    unit_price: Uint
    fee: Uint
    burned: Uint


Original = TypeVar("Original", bound=Payload)


class Reverted(Payload, Generic[Original]):
    """A chain reorganisation undid the event `reverts`, whose payload was `original`."""
    reverts: str
    original: Original


class RewardIssued(Payload):
    """The API signed a voucher for an accepted workout (`day`: the UTC day number it is charged to;
    `deadline`: unix seconds)."""
    claim_id: Hash
    account: Address
    amount: Uint
    day: int
    deadline: int
    workout_id: str
    user_id: str
    tenant_id: str
    contract: Address
    chain_id: int


class RewardIssuedV1(msgspec.Struct, kw_only=True, frozen=True):
    """RewardIssued as the API wrote it before the catalogue (snake_case): still read, upcast to v2."""
    claim_id: str
    account: str
    amount: str
    day: int
    deadline: int
    workout_id: str
    user_id: str
    tenant_id: str
    contract: str
    chain_id: int

    def upcast(self) -> RewardIssued:
        return RewardIssued(**msgspec.structs.asdict(self))


class MemberSignedIn(Payload):
    """A wallet signed in to a tenant with SIWE (`joined`: this sign-in made it a member)."""
    user_id: str
    tenant_id: str
    address: Address
    joined: bool


class WorkoutRecorded(Payload, omit_defaults=True):
    """A member's workout was stored: accepted, or rejected by the anti-cheat rules (`rejections`: their
    codes). `flagged`: the anti-cheat model sent an accepted workout to coach review (`fraudScore`: its
    score, when a model scored it)."""
    workout_id: str
    user_id: str
    tenant_id: str
    activity: str
    started_at: datetime
    ended_at: datetime
    status: Literal["accepted", "rejected"]
    rejections: list[str] = []
    distance_m: float | None = None
    steps: int | None = None
    avg_heart_rate: int | None = None
    flagged: bool = False
    fraud_score: float | None = None


class ProductListed(Payload):
    """A tenant's catalog product was listed on the marketplace (its createListing was mined): orders of
    `listingId` buy it. `tags`: what the product is for, from its catalog traits (the recommender matches
    them with members' activities); absent in events from before they were added."""
    product_id: str
    tenant_id: str
    listing_id: int
    item_id: Uint
    name: str
    unit_price: Uint
    tags: list[str] = []


class NotificationQueued(Payload):
    """A notification was stored for a member; `channels`: where it goes out (their preferences);
    `corrects`: the notification a correction corrects."""
    notification_id: str
    user_id: str
    tenant_id: str
    kind: str
    source_event: str
    corrects: str | None
    channels: list[str]


class EmailBatchReady(Payload):
    """`count` email deliveries tagged `batch_id` are ready to send; `source`: who made the batch (a
    poll of the deliveries group, or the senders' retry loop)."""
    batch_id: str
    count: int
    source: Literal["deliveries", "retry"]


class TransactionOutcome(Payload, omit_defaults=True):
    """A state a request of the transaction queue (fitmint/txqueue/) reached, with why (`reason`): who
    asked (`requester`) under which `idempotencyKey`, what it calls; `signer` and `nonce` once a key took
    it. `requestId` is the id `POST /transactions` answered (the message key: a request's outcomes stay in
    order)."""
    request_id: int
    idempotency_key: str
    requester: str
    target: Address
    reason: str
    signer: Address | None = None
    nonce: int | None = None


class TransactionSent(TransactionOutcome, kw_only=True):
    """The node took a transaction for the request (or, after the chain went back, took it again)."""
    tx_hash: Hash
    max_fee_per_gas: Uint
    max_priority_fee_per_gas: Uint


class TransactionMined(TransactionOutcome, kw_only=True):
    """One of the request's transactions was mined with status 1."""
    tx_hash: Hash
    block_number: int


class TransactionFailed(TransactionOutcome, kw_only=True):
    """The simulation reverted (`reason`: the decoded error; no nonce spent, nothing sent: no `txHash`), or
    the transaction reverted on chain (`txHash`, `blockNumber` set)."""
    tx_hash: Hash | None = None
    block_number: int | None = None


class TransactionReplaced(TransactionOutcome):
    """The request's nonce was taken by a transaction the queue did not sign: none of its own can be mined."""
