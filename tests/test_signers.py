"""The signer interface (fitmint/signers.py): the file-backed signer signs what eth_account signs; a remote
signer (a process of its own holding the key, tests/support/signer_server.py, speaking the Ethereum JSON-RPC
signing methods) gives the same signatures, plugged in by configuration; a signer that answers with another
key, or for an account it does not hold, is refused."""

import asyncio
import os

import httpx
import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from fitmint import secrets
from fitmint.keys import KeySettings
from fitmint.rewards.vouchers import RewardVoucher, VoucherMessage, recover_signer, sign_voucher, typed_data
from fitmint.signers import KeySigner, RemoteSigner, SignerRefused
from fitmint.txqueue.fees import Fees
from fitmint.txqueue.settings import TxQueueSettings
from fitmint.txqueue.signing import Transaction
from tests.support.signer_server import running_signer

CHAIN_ID, CONTRACT = 31337, "0x" + "c0" * 20
PAYEE = "0x00000000000000000000000000000000000b0b0b"


def vouchers(count: int) -> list[RewardVoucher]:
    # Amounts past 2^64 and 2^53: the JSON the remote signer gets must keep every digit.
    return [RewardVoucher(account="0x" + os.urandom(20).hex(), amount=10**21 + n, claim_id=os.urandom(32),
                          day=20_000 + n, deadline=1_800_000_000 + n) for n in range(count)]


def transactions(count: int) -> list[Transaction]:
    return [Transaction(CHAIN_ID, n, 21_000 + n, PAYEE, bytes([n]) * n, n * 10**17, Fees(10**10 + n, 10**9 + n))
            for n in range(count)]


def key_file(tmp_path, name: str) -> tuple:
    account = Account.create()
    secrets.write(tmp_path / name, account.key.hex())
    return tmp_path / name, account


def test_the_file_signer_signs_what_eth_account_signs():
    account = Account.create()
    signer = KeySigner(account.key.to_0x_hex())
    assert signer.address == account.address.lower()
    for voucher in vouchers(5):
        message = typed_data(voucher, chain_id=CHAIN_ID, verifying_contract=CONTRACT)
        signature = asyncio.run(signer.sign_typed_data(message))
        assert signature == sign_voucher(voucher, account.key, chain_id=CHAIN_ID, verifying_contract=CONTRACT)
    signed_all = asyncio.run(signer.sign_transactions(transactions(5)))
    for transaction, signed in zip(transactions(5), signed_all, strict=True):
        expected = account.sign_transaction({
            "type": 2, "chainId": CHAIN_ID, "nonce": transaction.nonce, "to": to_checksum_address(PAYEE),
            "data": transaction.data,
            "value": transaction.value, "gas": transaction.gas_limit, "maxFeePerGas": transaction.fees.max_fee_per_gas,
            "maxPriorityFeePerGas": transaction.fees.max_priority_fee_per_gas})
        assert (signed.raw, signed.tx_hash) == (expected.raw_transaction.to_0x_hex(), expected.hash.to_0x_hex())


@pytest.mark.parametrize("flags", [(), ("--no-v4",)], ids=["eth_signTypedData_v4", "web3signer-naming"])
def test_a_remote_signer_process_gives_the_file_signers_signatures(tmp_path, flags):
    path, account = key_file(tmp_path, "attestor.key")
    local = KeySigner(account.key.to_0x_hex())

    async def scenario(url: str):
        remote = RemoteSigner(url, account.address)
        try:
            assert await remote.accounts() == [account.address.lower()]
            for voucher in vouchers(3):  # RFC 6979: the same key signs the same message into the same bytes
                message = typed_data(voucher, chain_id=CHAIN_ID, verifying_contract=CONTRACT)
                signature = await remote.sign_typed_data(message)
                assert signature == await local.sign_typed_data(message)
                # A voucher's quick path: the remote signer still gets the full typed data (it has no digest method).
                bound = VoucherMessage(voucher, CHAIN_ID, CONTRACT)
                assert await remote.sign_message(bound) == signature == await local.sign_message(bound)
                assert recover_signer(voucher, signature, chain_id=CHAIN_ID,
                                      verifying_contract=CONTRACT) == account.address
            assert await remote.sign_transactions(transactions(10)) == await local.sign_transactions(transactions(10))
        finally:
            await remote.close()

    with running_signer([path], *flags) as url:
        asyncio.run(scenario(url))


def test_a_signer_answering_with_another_key_or_not_holding_the_account_is_refused(tmp_path):
    path, account = key_file(tmp_path, "operator.key")
    stranger = Account.create().address

    async def refused(url: str, address: str, what) -> str:
        remote = RemoteSigner(url, address)
        try:
            with pytest.raises(SignerRefused) as refusal:
                await what(remote)
            return str(refusal.value)
        finally:
            await remote.close()

    message = typed_data(vouchers(1)[0], chain_id=CHAIN_ID, verifying_contract=CONTRACT)
    with running_signer([path], "--wrong-key") as liar:
        said = asyncio.run(refused(liar, account.address, lambda r: r.sign_typed_data(message)))
        assert "signed as 0x" in said and f"not {account.address.lower()}" in said
        said = asyncio.run(refused(liar, account.address, lambda r: r.sign_transactions(transactions(2))))
        assert "was signed by 0x" in said and f"not {account.address.lower()}" in said
    with running_signer([path]) as honest:
        said = asyncio.run(refused(honest, stranger, lambda r: r.sign_typed_data(message)))
        assert f"refused eth_signTypedData_v4 for {stranger.lower()}: unknown account" in said

    async def unreachable():
        remote = RemoteSigner(honest, account.address, timeout=2)
        try:
            await remote.sign_typed_data(message)
        finally:
            await remote.close()

    with pytest.raises(httpx.ConnectError):  # stopped: an outage the caller sees as such, not a refusal
        asyncio.run(unreachable())


def test_configuration_chooses_the_signer_and_a_remote_one_needs_no_key_file(tmp_path):
    file_backed = KeySettings(fitmint_state_dir=tmp_path)
    assert isinstance(file_backed.attestor_signer(), KeySigner)
    assert file_backed.attestor_key_file in file_backed.secret_files()
    remote = KeySettings(fitmint_state_dir=tmp_path / "other", fitmint_attestor_signer_url="http://127.0.0.1:9",
                         fitmint_attestor_address="0x" + "ab" * 20)
    signer = remote.attestor_signer()
    assert isinstance(signer, RemoteSigner) and signer.address == "0x" + "ab" * 20
    assert remote.secret_files() == [] and not (tmp_path / "other").exists()  # no key generated, none read
    with pytest.raises(ValueError, match="FITMINT_ATTESTOR_ADDRESS"):
        KeySettings(fitmint_attestor_signer_url="http://127.0.0.1:9").attestor_signer()
    pool = TxQueueSettings(txqueue_signer_url="http://127.0.0.1:9", txqueue_signer_addresses=["0x" + "01" * 20,
                                                                                             "0x" + "02" * 20])
    assert [s.address for s in pool.signers()] == ["0x" + "01" * 20, "0x" + "02" * 20]
    with pytest.raises(ValueError, match="not both"):
        TxQueueSettings(txqueue_signer_url="http://127.0.0.1:9", txqueue_key_files=[tmp_path / "k"]).signers()
