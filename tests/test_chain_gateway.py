"""The chain gateway against a real node: the contracts deployed by the deploy script's own function (the
session's deployment) and described by a manifest it writes, then called, transacted with and decoded
through fitmint.chain.gateway alone: typed results, logs from receipts, custom errors from the ABIs."""

import asyncio

import pytest
from eth_account import Account

from fitmint.chain.coalesce import CoalescedReads
from fitmint.chain.errors import ChainReverted, ChainUnavailable, DecodedError
from fitmint.chain.gateway import ChainGateway
from fitmint.chain.manifest import DeployedContract, Manifest, Roles
from tests.support.processes import free_port
from tests.support.units import CID, DAY, FIT


@pytest.fixture(scope="module")
def manifest_path(deploy_module, deployment, chain, admin, attestor, operator, treasury, tmp_path_factory):
    """The session's deployment written as `ape run deploy` writes it (deploy.write_manifest)."""
    deployment = {name: contract for name, contract in deployment.items() if name in deploy_module.CONTRACT_NAMES}
    blocks = {name: chain.get_receipt(contract.txn_hash).block_number for name, contract in deployment.items()}
    manifest = Manifest(
        chain_id=chain.chain_id, deployer=admin.address, deploy_block=blocks["FitToken"],
        deploy_block_hash=chain.blocks[blocks["FitToken"]].hash.to_0x_hex(),
        contracts={name: DeployedContract(name=name, address=contract.address, block=blocks[name],
                                          abi_file=deploy_module.abi_file(name))
                   for name, contract in deployment.items()},
        roles=Roles(admin=[admin.address], attestors=[attestor.address], operator=[operator.address],
                    treasury=[treasury.address]))
    path = tmp_path_factory.mktemp("deployments") / f"{chain.chain_id}.json"
    deploy_module.write_manifest(manifest, path)
    return path


def run(chain, manifest_path, scenario, url=None):
    async def with_gateway():
        gateway = ChainGateway(url or chain.provider.uri, manifest_path)
        try:
            return await scenario(gateway)
        finally:
            await gateway.close()

    return asyncio.run(with_gateway())


def key_of(account):
    return Account.from_key(account.private_key)


def test_calls_come_back_typed_from_the_abi(chain, manifest_path, params, treasury, alice, market):
    async def scenario(gateway):
        return (await gateway.call("ActivityRewards", "dailyCap"),
                await gateway.call("ActivityRewards", "dailyRemaining", alice.address, chain.pending_timestamp // DAY),
                await gateway.call("Marketplace", "fees"),
                await gateway.call("Marketplace", "listingCount"))

    cap, remaining, fees, listings = run(chain, manifest_path, scenario)
    assert cap == remaining == params.daily_cap
    assert fees == (treasury.address, params.fee_bps, params.burn_bps)  # addresses EIP-55, as web3 gives them
    assert listings == market.listingCount() == 0

    async def batched(gateway):  # the same reads in one JSON-RPC batch: the same values, in the order asked
        return await gateway.calls(("Marketplace", "listingCount"), ("ActivityRewards", "dailyCap"),
                                   ("Marketplace", "fees"))

    assert run(chain, manifest_path, batched) == [listings, cap, fees]


def test_a_transaction_is_signed_sent_and_its_log_decoded(chain, manifest_path, operator, treasury, market):
    async def scenario(gateway):
        receipt = await gateway.transact(key_of(operator), "Marketplace", "createListing",
                                         7, 3 * FIT, 20, CID, gateway.manifest.treasury)
        return receipt, gateway.logs(receipt, "Marketplace", "ListingCreated"), gateway.logs(receipt, "FitItems")

    receipt, (created,), (uri,) = run(chain, manifest_path, scenario)
    assert (created.contract, created.event, created.tx_hash) == ("Marketplace", "ListingCreated",
                                                                  receipt["transactionHash"])
    assert created.args == {"listingId": 1, "itemId": 7, "seller": treasury.address, "unitPrice": 3 * FIT,
                            "quantity": 20, "primary": True, "cid": CID}
    assert market.getListing(1).remaining == 20  # Ape reads back what the gateway sent
    # FitItems' own log in the same receipt, by its ABI (a string: not indexed, so the value itself)
    assert (uri.contract, uri.event, uri.args) == ("FitItems", "URI", {"value": f"ipfs://{CID}", "id": 7})


def test_reverts_come_back_as_the_custom_error_of_whichever_contract_raised_it(chain, manifest_path, operator,
                                                                              alice, market):
    async def refusal(gateway, call):
        with pytest.raises(ChainReverted) as refused:
            await call(gateway)
        return refused.value

    async def scenario(gateway):
        unknown = await refusal(gateway, lambda g: g.call("Marketplace", "getListing", 99))
        in_a_batch = await refusal(gateway, lambda g: g.calls(("Marketplace", "listingCount"),
                                                              ("Marketplace", "getListing", 99)))
        assert (in_a_batch.action, in_a_batch.error) == ("Marketplace.getListing", unknown.error)
        not_lister = await refusal(gateway, lambda g: g.sign(key_of(alice), "Marketplace", "createListing",
                                                             8, FIT, 1, CID, alice.address))
        await gateway.transact(key_of(operator), "Marketplace", "createListing", 9, FIT, 5, CID, alice.address)
        # Marketplace calls FitToken, whose error only FitToken's ABI declares.
        unpaid = await refusal(gateway, lambda g: g.sign(key_of(alice), "Marketplace", "purchase", 1, 2, FIT))
        return unknown, not_lister, unpaid

    unknown, not_lister, unpaid = run(chain, manifest_path, scenario)
    assert unknown.error == DecodedError("MarketUnknownListing", {"listingId": 99})
    assert str(unknown) == "the chain refused Marketplace.getListing: MarketUnknownListing(listingId=99)"
    assert not_lister.action == "Marketplace.createListing" and not_lister.name == "AccessControlUnauthorizedAccount"
    assert not_lister.error.args["account"] == alice.address
    assert unpaid.name == "ERC20InsufficientAllowance"
    assert (unpaid.error.args["spender"], unpaid.error.args["allowance"]) == (market.address, 0)


def test_coalesced_reads_share_one_batch_fail_alone_and_are_read_after_they_are_asked(chain, manifest_path, operator,
                                                                                    alice, treasury, market):
    """The voucher endpoint's guard reads (backend/app/rewards/chain.py): concurrent callers' reads go out in one
    JSON-RPC batch, a read asked twice once; a revert is its own caller's; and nothing is answered from before
    it was asked: a read after a transaction sees it."""
    async def scenario(gateway):
        reads = CoalescedReads(gateway)
        batches = []
        send = gateway.settled_calls

        async def counted(*calls, **options):
            batches.append(len(calls))
            return await send(*calls, **options)

        gateway.settled_calls = counted
        day = chain.pending_timestamp // DAY
        accounts = [alice.address, treasury.address, operator.address]
        asked = [reads.call("ActivityRewards", "dailyRemaining", account, day) for account in accounts]
        asked += [reads.call("ActivityRewards", "dailyCap"), reads.call("ActivityRewards", "dailyCap"),
                  reads.call("Marketplace", "listingCount"), reads.call("Marketplace", "getListing", 99)]
        *answers, unknown = await asyncio.gather(*asked, return_exceptions=True)
        one_by_one = [await gateway.call("ActivityRewards", "dailyRemaining", account, day) for account in accounts]
        before = await reads.call("Marketplace", "listingCount")
        await gateway.transact(key_of(operator), "Marketplace", "createListing", 11, FIT, 5, CID, alice.address)
        after = await reads.call("Marketplace", "listingCount")
        return batches, answers, one_by_one, unknown, before, after

    batches, answers, one_by_one, unknown, before, after = run(chain, manifest_path, scenario)
    assert batches[0] == 6  # 7 reads, the cap asked twice
    cap = answers[3]
    assert answers[:3] == one_by_one and answers[4] == cap and answers[5] == before
    assert isinstance(unknown, ChainReverted) and unknown.error == DecodedError("MarketUnknownListing",
                                                                                {"listingId": 99})
    assert after == before + 1 == market.listingCount()


def test_a_transaction_the_node_refuses_is_chain_reverted_with_its_reason(chain, manifest_path, admin):
    async def scenario(gateway):
        account = key_of(admin)  # it deployed the contracts: its nonce 0 is long used
        stale = await gateway.sign(account, "FitToken", "approve", account.address, FIT, nonce=0)
        await gateway.send(stale)

    with pytest.raises(ChainReverted) as refused:
        run(chain, manifest_path, scenario)
    assert refused.value.error is None and "the node refused the transaction" in refused.value.reason


def test_no_manifest_no_node_and_no_receipt_in_time_are_chain_unavailable(chain, manifest_path, tmp_path):
    async def no_receipt(gateway):
        await gateway.wait("0x" + "ab" * 32, timeout=0.3)

    with pytest.raises(ChainUnavailable, match="no deployment manifest at"):
        run(chain, tmp_path / "none.json", lambda gateway: gateway.call("ActivityRewards", "dailyCap"))
    with pytest.raises(ChainUnavailable, match="does not answer eth_call"):
        run(chain, manifest_path, lambda gateway: gateway.call("ActivityRewards", "dailyCap"),
            url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ChainUnavailable, match="not mined within 0.3 s"):
        run(chain, manifest_path, no_receipt)
