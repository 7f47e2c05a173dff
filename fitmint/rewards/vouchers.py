"""EIP-712 reward vouchers, exactly as ActivityRewards verifies them.

The domain is ("FitmintActivityRewards", "1", chain id, the ActivityRewards address); the struct is
`RewardVoucher(address account,uint256 amount,bytes32 claimId,uint256 day,uint256 deadline)`. `day` is
the UTC day (unix time // 86400) whose daily cap the voucher is charged to: the contract redeems it on
that day or the next one only.
"""

from dataclasses import dataclass

from eth_utils import to_checksum_address

from fitmint.chain.eip712 import recover_typed, sign_typed, typed_message

DOMAIN_NAME = "FitmintActivityRewards"
DOMAIN_VERSION = "1"
VOUCHER_FIELDS = [
    {"name": "account", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "claimId", "type": "bytes32"},
    {"name": "day", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


@dataclass(frozen=True)
class RewardVoucher:
    account: str
    amount: int
    claim_id: bytes
    day: int
    deadline: int

    def __post_init__(self):
        if len(self.claim_id) != 32:
            raise ValueError(f"claim_id must be 32 bytes, got {len(self.claim_id)}")

    def as_tuple(self) -> tuple:
        """The voucher as the contract's calldata struct."""
        return (to_checksum_address(self.account), self.amount, self.claim_id, self.day, self.deadline)


def typed_data(voucher: RewardVoucher, *, chain_id: int, verifying_contract: str) -> dict:
    return typed_message(
        domain_name=DOMAIN_NAME, domain_version=DOMAIN_VERSION, chain_id=chain_id,
        verifying_contract=verifying_contract, primary_type="RewardVoucher", fields=VOUCHER_FIELDS,
        message={
            "account": to_checksum_address(voucher.account),
            "amount": voucher.amount,
            "claimId": voucher.claim_id,
            "day": voucher.day,
            "deadline": voucher.deadline,
        },
    )


def sign_voucher(voucher: RewardVoucher, private_key, *, chain_id: int, verifying_contract: str) -> bytes:
    """The 65-byte signature (r || s || v) the attestor gives the user's wallet with the voucher."""
    return bytes(sign_typed(typed_data(voucher, chain_id=chain_id, verifying_contract=verifying_contract),
                            private_key).signature)


def recover_signer(voucher: RewardVoucher, signature: bytes, *, chain_id: int, verifying_contract: str) -> str:
    return recover_typed(typed_data(voucher, chain_id=chain_id, verifying_contract=verifying_contract), signature)
