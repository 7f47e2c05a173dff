"""The event catalogue's JSON Schemas (schemas/events/, for consumers in other languages) are the ones it
generates, and every payload type, built as its producer builds it, matches its schema and reads back
through the catalogue; an old FitnessRewardIssued (v1, snake_case) still reads, and a payload that
breaks its schema is refused."""

import shutil
import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from fitmint import events as ev
from fitmint.events import schemas
from tests.support.eventschemas import assert_matches_schema

ADDRESS, OTHER = "0x" + "ab" * 20, "0x" + "cd" * 20
HASH = "0x" + "12" * 32
CHAIN = dict(block_number=7, block_hash=HASH, tx_hash="0x" + "34" * 32, log_index=2)
MINTED = ev.TokenMinted(account=ADDRESS, amount=str(5 * 10**18), **CHAIN)
SAMPLES = [
    (ev.TOKEN_MINTED, MINTED),
    (ev.FITNESS_REWARD, ev.RewardClaimed(kind="voucher", claim_id=HASH, account=ADDRESS, amount="1", epoch=3,
                                         attestor=OTHER, **CHAIN)),
    (ev.FITNESS_REWARD, ev.RewardClaimed(kind="epoch", claim_id="epoch:3:9", account=ADDRESS, amount="1", epoch=3,
                                         index=9, **CHAIN)),
    (ev.ORDER_CREATED, ev.OrderCreated(order_id=4, listing_id=3, buyer=ADDRESS, seller=OTHER, item_id="77",
                                       quantity="2", unit_price="10", fee="1", burned="0", **CHAIN)),
    (ev.TOKEN_MINTED.reverted, ev.Reverted(reverts=str(uuid.uuid4()), original=MINTED)),
    (ev.REWARD_ISSUED, ev.RewardIssued(claim_id=HASH, account=ADDRESS, amount="5", day=20000, deadline=1_700_000_000,
                                       workout_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()),
                                       tenant_id=str(uuid.uuid4()), contract=OTHER, chain_id=31337)),
    (ev.NOTIFICATION_QUEUED, ev.NotificationQueued(
        notification_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()), tenant_id=str(uuid.uuid4()),
        kind="token.minted", source_event=str(uuid.uuid4()), corrects=None, channels=["email", "websocket"])),
    (ev.EMAIL_BATCH_READY, ev.EmailBatchReady(batch_id=str(uuid.uuid4()), count=3, source="retry")),
    (ev.TRANSACTION_SENT, ev.TransactionSent(request_id=12, idempotency_key="claim-1", requester="rewards",
                                             target=OTHER, reason="", signer=ADDRESS, nonce=3, tx_hash=HASH,
                                             max_fee_per_gas=str(3 * 10**9), max_priority_fee_per_gas="1000000000")),
    (ev.TRANSACTION_MINED, ev.TransactionMined(request_id=12, idempotency_key="claim-1", requester="rewards",
                                               target=OTHER, reason="mined in block 9", signer=ADDRESS, nonce=3,
                                               tx_hash=HASH, block_number=9)),
    (ev.TRANSACTION_FAILED, ev.TransactionFailed(request_id=13, idempotency_key="claim-2", requester="rewards",
                                                 target=OTHER, reason="Refused(code=7)")),
    (ev.TRANSACTION_FAILED, ev.TransactionFailed(request_id=13, idempotency_key="claim-2", requester="rewards",
                                                 target=OTHER, reason="reverted on chain in block 9", signer=ADDRESS,
                                                 nonce=4, tx_hash=HASH, block_number=9)),
    (ev.TRANSACTION_REPLACED, ev.TransactionReplaced(request_id=14, idempotency_key="claim-3", requester="rewards",
                                                     target=OTHER, reason="nonce 5 was taken", signer=ADDRESS,
                                                     nonce=5)),
]


def test_the_committed_schemas_are_the_ones_the_catalogue_generates():
    assert schemas.stale() == [], "run: python -m fitmint.events.schemas --write"
    assert {f"{ce}.json" for ce in [*ev.CURRENT, *ev.LEGACY]} == {p.name for p in schemas.FOLDER.glob("*.json")}


def test_a_changed_missing_or_left_over_schema_file_is_stale(tmp_path):
    schemas.write(tmp_path)
    assert schemas.stale(tmp_path) == []
    (tmp_path / "dev.fitmint.token.minted.v1.json").write_text("{}\n")
    (tmp_path / "dev.fitmint.email.batch_ready.v1.json").unlink()
    shutil.copy(tmp_path / "dev.fitmint.order.created.v1.json", tmp_path / "dev.fitmint.order.created.v0.json")
    assert schemas.stale(tmp_path) == ["dev.fitmint.email.batch_ready.v1.json", "dev.fitmint.order.created.v0.json",
                                       "dev.fitmint.token.minted.v1.json"]
    assert schemas.main(["--check"]) == 0  # the repository's own files


def test_the_schemas_name_each_types_topic_and_key_as_the_json_spells_them():
    order = schemas.documents()["dev.fitmint.order.created.v1.json"]
    reverted = schemas.documents()["dev.fitmint.token.minted.reverted.v1.json"]
    assert '"x-key": "orderId"' in order and '"x-topic": "fitmint.orders"' in order
    assert '"x-key": "original.account"' in reverted


@pytest.mark.parametrize("event_type, payload", SAMPLES, ids=lambda value: getattr(value, "ce_type", ""))
def test_every_payload_matches_its_schema_and_reads_back(event_type, payload):
    encoded = msgspec.json.encode(payload)
    assert_matches_schema(event_type.ce_type, encoded)
    body = ev.envelope(id=uuid.uuid4(), ce_type=event_type.ce_type, chain_id=31337,
                       subject=event_type.subject(payload), time=datetime.now(UTC), data=payload)
    received = ev.read(ev.parse(body))
    assert (received.type, received.payload, received.subject) == (event_type, payload, event_type.subject(payload))
    assert [key for key in _keys(msgspec.json.decode(encoded)) if "_" in key] == [], "camelCase on the wire"


def _keys(document) -> list[str]:
    if not isinstance(document, dict):
        return []
    return [*document, *(key for value in document.values() for key in _keys(value))]


def test_a_reward_issued_v1_still_in_kafka_is_read_as_v2():
    v2 = dict(SAMPLES)[ev.REWARD_ISSUED]
    v1 = {name: getattr(v2, name) for name in v2.__struct_fields__}  # snake_case, as the API wrote it before
    assert_matches_schema("dev.fitmint.reward.issued.v1", v1)
    body = ev.envelope(id=uuid.uuid4(), ce_type="dev.fitmint.reward.issued.v1", chain_id=31337, subject=v2.account,
                       time=None, data=v1, producer="api")
    received = ev.read(ev.parse(body))
    assert (received.type, received.payload) == (ev.REWARD_ISSUED, v2)
    assert "dev.fitmint.reward.issued.v1" in ev.readable(ev.REWARD_ISSUED)


@pytest.mark.parametrize("change", [
    {"amount": 5},  # a number, not a decimal string
    {"amount": "5e18"},
    {"account": "alice"},
    {"blockNumber": None},
])
def test_a_payload_that_breaks_its_schema_is_malformed(change):
    data = msgspec.to_builtins(MINTED) | change
    body = ev.envelope(id=uuid.uuid4(), ce_type=ev.TOKEN_MINTED.ce_type, chain_id=1, subject=ADDRESS, time=None,
                       data=data)
    with pytest.raises(ev.MalformedEvent, match=r"dev\.fitmint\.token\.minted\.v1: "):
        ev.read(ev.parse(body))


def test_an_unknown_type_is_malformed():
    body = ev.envelope(id=uuid.uuid4(), ce_type="dev.fitmint.token.burned.v1", chain_id=1, subject=ADDRESS, time=None,
                       data={})
    with pytest.raises(ev.MalformedEvent, match="not a type of the event catalogue"):
        ev.read(ev.parse(body))
