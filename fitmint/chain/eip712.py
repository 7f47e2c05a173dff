"""EIP-712 pieces every typed message of ours shares."""

from eth_account import Account
from eth_account.datastructures import SignedMessage
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def typed_message(*, domain_name: str, domain_version: str, chain_id: int, verifying_contract: str,
                  primary_type: str, fields: list[dict], message: dict) -> dict:
    """A full EIP-712 message (the `full_message` eth-account signs) with a four-field domain."""
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, primary_type: fields},
        "primaryType": primary_type,
        "domain": {"name": domain_name, "version": domain_version, "chainId": chain_id,
                   "verifyingContract": to_checksum_address(verifying_contract)},
        "message": message,
    }


def sign_typed(full_message: dict, private_key) -> SignedMessage:
    """Signs a full EIP-712 message (`typed_message`); the result has the 65-byte signature and v, r, s."""
    return Account.sign_message(encode_typed_data(full_message=full_message), private_key)


def recover_typed(full_message: dict, signature: bytes) -> str:
    """The address that signed a full EIP-712 message."""
    return Account.recover_message(encode_typed_data(full_message=full_message), signature=signature)
