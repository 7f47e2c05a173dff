"""The attestor's fast voucher path (fitmint.chain.eip712.StaticStruct, fitmint.rewards.vouchers.voucher_digest,
KeySigner.sign_message) gives exactly what eth-account gives for the full typed data: the same digest and the
same signature bytes on random vouchers, domains and keys; the signature recovers to the attestor, with v 27/28
and the low s the contract's ECDSA insists on; values eth-account would refuse are refused."""

import asyncio

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from fitmint.chain.eip712 import DOMAIN_FIELDS, StaticStruct, encode_type
from fitmint.rewards.vouchers import RewardVoucher, VoucherMessage, recover_signer, typed_data, voucher_digest
from fitmint.signers import KeySigner

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
UINT256 = st.integers(min_value=0, max_value=2**256 - 1)
ADDRESSES = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())
# Lower-case and checksummed spellings both occur (the API keeps addresses in lower case).
SPELLED = st.one_of(ADDRESSES, ADDRESSES.map(to_checksum_address))
VOUCHERS = st.builds(RewardVoucher, account=SPELLED, amount=UINT256, claim_id=st.binary(min_size=32, max_size=32),
                     day=UINT256, deadline=UINT256)
KEYS = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda n: n.to_bytes(32, "big"))


def eth_account_digest(message: dict) -> bytes:
    signable = encode_typed_data(full_message=message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


@settings(max_examples=300, deadline=None)
@given(voucher=VOUCHERS, chain_id=UINT256, contract=SPELLED, key=KEYS)
def test_the_fast_path_signs_what_eth_account_signs(voucher, chain_id, contract, key):
    full = typed_data(voucher, chain_id=chain_id, verifying_contract=contract)
    assert voucher_digest(voucher, chain_id=chain_id, verifying_contract=contract) == eth_account_digest(full)

    attestor = KeySigner("0x" + key.hex())
    signature = asyncio.run(attestor.sign_message(VoucherMessage(voucher, chain_id, contract)))
    assert signature == bytes(Account.sign_message(encode_typed_data(full_message=full), key).signature)
    assert recover_signer(voucher, signature, chain_id=chain_id,
                          verifying_contract=contract).lower() == attestor.address
    assert signature[64] in (27, 28)
    assert int.from_bytes(signature[32:64], "big") <= SECP256K1_N // 2


def test_the_type_string_is_the_contracts():
    assert encode_type("RewardVoucher", typed_data(RewardVoucher("0x" + "00" * 20, 0, bytes(32), 0, 0), chain_id=1,
                                                   verifying_contract="0x" + "00" * 20)["types"]["RewardVoucher"]) \
        == "RewardVoucher(address account,uint256 amount,bytes32 claimId,uint256 day,uint256 deadline)"
    assert encode_type("EIP712Domain", DOMAIN_FIELDS) == \
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"


@pytest.mark.parametrize("voucher", [
    RewardVoucher("0x" + "11" * 20, -1, bytes(32), 1, 1),
    RewardVoucher("0x" + "11" * 20, 2**256, bytes(32), 1, 1),
    RewardVoucher("0x" + "11" * 19, 1, bytes(32), 1, 1),
    RewardVoucher("0x" + "11" * 20, 1, bytes(32), -5, 1),
], ids=["negative amount", "amount past uint256", "19-byte account", "negative day"])
def test_values_eth_account_refuses_are_refused(voucher):
    with pytest.raises(Exception):  # noqa: B017 - eth-account raises several types; both paths must refuse
        encode_typed_data(full_message=typed_data(voucher, chain_id=1, verifying_contract="0x" + "22" * 20))
    with pytest.raises((ValueError, OverflowError)):
        voucher_digest(voucher, chain_id=1, verifying_contract="0x" + "22" * 20)


def test_types_that_are_not_one_word_go_through_eth_account():
    with pytest.raises(ValueError, match="not one word each"):
        StaticStruct.of("Order", [{"name": "items", "type": "uint256[]"}, {"name": "memo", "type": "bytes"}])
