"""EIP-2612 permits: what a wallet signs so the marketplace can pull FIT without an approve transaction."""

from dataclasses import dataclass

from eth_utils import to_checksum_address

from fitmint.chain.eip712 import sign_typed, typed_message

PERMIT_FIELDS = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


@dataclass(frozen=True)
class PermitSignature:
    v: int
    r: bytes
    s: bytes


def permit_typed_data(*, token_name: str, token_address: str, chain_id: int, owner: str, spender: str,
                      value: int, nonce: int, deadline: int) -> dict:
    """The typed data of an OpenZeppelin ERC20Permit (domain version "1")."""
    return typed_message(
        domain_name=token_name, domain_version="1", chain_id=chain_id, verifying_contract=token_address,
        primary_type="Permit", fields=PERMIT_FIELDS,
        message={"owner": to_checksum_address(owner), "spender": to_checksum_address(spender), "value": value,
                 "nonce": nonce, "deadline": deadline},
    )


def sign_permit(private_key, **fields) -> PermitSignature:
    """Signs `permit_typed_data(**fields)`; returns (v, r, s) as the permit function takes them."""
    signed = sign_typed(permit_typed_data(**fields), private_key)
    return PermitSignature(signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"))
