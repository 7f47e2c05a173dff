"""EIP-712 pieces every typed message of ours shares."""

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
