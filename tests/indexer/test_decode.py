"""Decoding without web3: typed values from the ABI, and malformed or unknown logs skipped with their
location instead of stopping the indexer. Logs are built by hand here: no chain emits broken ones."""

import asyncio
import json

import orjson
import pytest
from eth_abi import encode
from eth_utils import keccak

from fitmint import events as ev
from fitmint.chain.manifest import Manifest
from fitmint.chain.rpc import Log
from indexer.decode import DecodeError, LogDecoder
from indexer.sync import ChainSync

TOKEN = "0x" + "aa" * 20
MARKET = "0x" + "bb" * 20
ALICE = "0x" + "11" * 20


def topic(value: int | str) -> str:
    if isinstance(value, str):
        return "0x" + value[2:].rjust(64, "0")
    return "0x" + hex(value)[2:].rjust(64, "0")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    from tests.support.paths import ROOT

    build = json.loads((ROOT / ".build" / "__local__.json").read_text())["contractTypes"]
    folder = tmp_path_factory.mktemp("manifest")
    contracts = {}
    for name, address in (("FitToken", TOKEN), ("Marketplace", MARKET)):
        (folder / f"{name}.json").write_text(json.dumps(build[name]["abi"]))
        contracts[name] = {"address": address, "block": 1, "abi": f"{name}.json"}
    path = folder / "31337.json"
    path.write_text(json.dumps({"chain_id": 31337, "deploy_block": 1, "deploy_block_hash": "0x00",
                                "contracts": contracts}))
    return Manifest.load(path)


def raw_log(address, topics, data, block=5, index=0):
    return Log(address=address, topics=topics, data=data, blockNumber=hex(block), blockHash="0x" + "cd" * 32,
               blockTimestamp=hex(1_800_000_000), transactionHash="0x" + "ef" * 32, logIndex=hex(index))


def transfer(value=10**30, index=0):
    return raw_log(TOKEN, ["0x" + keccak(text="Transfer(address,address,uint256)").hex(), topic(ALICE), topic(TOKEN)],
                   "0x" + encode(["uint256"], [value]).hex(), index=index)


def test_static_event(manifest):
    event = LogDecoder(manifest).decode(transfer())
    assert (event.contract, event.name, event.block_number, event.log_index) == ("FitToken", "Transfer", 5, 0)
    assert event.args == {"from": ALICE, "to": TOKEN, "value": 10**30}


def test_dynamic_event(manifest):
    signature = "ListingCreated(uint256,uint256,address,uint256,uint256,bool,string)"
    data = encode(["uint256", "uint256", "bool", "string"], [7 * 10**18, 100, True, "bafy-cid"])
    log = raw_log(MARKET, ["0x" + keccak(text=signature).hex(), topic(3), topic(42), topic(ALICE)], "0x" + data.hex())
    args = LogDecoder(manifest).decode(log).args
    assert args == {"listingId": 3, "itemId": 42, "seller": ALICE, "unitPrice": 7 * 10**18, "quantity": 100,
                    "primary": True, "cid": "bafy-cid"}


@pytest.mark.parametrize("breakage", ["short data", "missing topic", "unknown topic", "other contract"])
def test_malformed_logs_raise_decode_errors(manifest, breakage):
    log = transfer()
    if breakage == "short data":
        log.data = log.data[:-2]
    elif breakage == "missing topic":
        log.topics = log.topics[:2]
    elif breakage == "unknown topic":
        log.topics[0] = "0x" + keccak(text="Nope()").hex()
    else:
        log.address = "0x" + "cc" * 20
    with pytest.raises(DecodeError):
        LogDecoder(manifest).decode(log)


class StubRpc:
    """Serves a fixed set of logs and headers: the sync's own code around the node is under test."""

    def __init__(self, logs):
        self.logs = logs

    async def get_logs(self, addresses, from_block, to_block, max_bytes=None):
        return self.logs

    async def header(self, number):
        return {"number": number, "hash": "0x" + "cd" * 32, "parent_hash": "0x" + "00" * 32, "timestamp": 1}


def test_sync_skips_malformed_logs_and_keeps_the_rest(manifest):
    from indexer.cursor import Cursor
    from indexer.settings import Settings

    broken = transfer(index=1)
    broken.data = "0x1234"
    sync = ChainSync(settings=Settings(reorg_depth=0), rpc=StubRpc([transfer(index=0), broken, transfer(index=2)]),
                     pool=None, manifest=manifest)
    batch = asyncio.run(sync._prepare(Cursor(4, "0x" + "00" * 32), 5, 100))
    assert [row[1] for row in batch.projection.events] == [0, 2]
    [(block, index, address, reason)] = batch.skipped
    assert (block, index, address) == (5, 1, TOKEN) and "2 data bytes" in reason


def test_cloudevents_envelope_and_deterministic_ids():
    first = ev.event_id(31337, "0x" + "AB" * 32, 4, ev.TOKEN_MINTED)
    assert first == ev.event_id(31337, "0x" + "ab" * 32, 4, ev.TOKEN_MINTED)
    assert first != ev.event_id(31337, "0x" + "ab" * 32, 4, ev.FITNESS_REWARD)
    assert first != ev.event_id(1, "0x" + "ab" * 32, 4, ev.TOKEN_MINTED)
    envelope = orjson.loads(ev.envelope(id=first, ce_type=ev.TOKEN_MINTED.ce_type, chain_id=31337, subject=ALICE,
                                        time=None, data={"amount": "1"}))
    assert {"specversion", "id", "source", "type", "subject", "data"} <= set(envelope)
    assert envelope["specversion"] == "1.0" and envelope["source"] == "/fitmint/indexer/chain/31337"
    assert ev.TOKEN_MINTED.reverted.ce_type == "dev.fitmint.token.minted.reverted.v1"


@pytest.mark.parametrize("mint", [False, True], ids=["transfer", "mint"])
def test_transfer_fast_path_writes_what_the_generic_path_writes(manifest, mint):
    from indexer.projections import Projection, Projector

    log = transfer(value=12345)
    if mint:
        log.topics[1] = topic("0x" + "00" * 20)
    projector = Projector(31337)
    fast, generic = Projection(), Projection()
    projector.add_token_transfer(fast, log)
    projector.add(generic, LogDecoder(manifest).decode(log))
    for name in ("events", "token_transfers", "balance_deltas", "outbox"):
        assert getattr(fast, name) == getattr(generic, name), name
    assert len(fast.outbox) == (1 if mint else 0)
