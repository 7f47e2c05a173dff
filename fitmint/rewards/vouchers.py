"""EIP-712 reward vouchers, exactly as ActivityRewards verifies them.

The domain is ("FitmintActivityRewards", "1", chain id, the ActivityRewards address); the struct is
`RewardVoucher(address account,uint256 amount,bytes32 claimId,uint256 day,uint256 deadline)`. `day` is
the UTC day (unix time // 86400) whose daily cap the voucher is charged to: the contract redeems it on
that day or the next one only.

Two views of a signed voucher, from the one field list below: the full typed data (eth-account, remote
signers, wallets) and its digest hashed directly (`voucher_digest`: what the attestor's local key signs).
"""

from dataclasses import dataclass

from eth_utils import to_checksum_address

from fitmint.chain.eip712 import StaticStruct, domain_separator, recover_typed, sign_typed, typed_digest, typed_message

DOMAIN_NAME = "FitmintActivityRewards"
DOMAIN_VERSION = "1"
VOUCHER_FIELDS = [
    {"name": "account", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "claimId", "type": "bytes32"},
    {"name": "day", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
VOUCHER_STRUCT = StaticStruct.of("RewardVoucher", VOUCHER_FIELDS)


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

    def message(self) -> dict:
        """The EIP-712 message: VOUCHER_FIELDS' names, the account as given."""
        return {"account": self.account, "amount": self.amount, "claimId": self.claim_id, "day": self.day,
                "deadline": self.deadline}


def typed_data(voucher: RewardVoucher, *, chain_id: int, verifying_contract: str) -> dict:
    return typed_message(
        domain_name=DOMAIN_NAME, domain_version=DOMAIN_VERSION, chain_id=chain_id,
        verifying_contract=verifying_contract, primary_type=VOUCHER_STRUCT.primary_type, fields=VOUCHER_FIELDS,
        message={**voucher.message(), "account": to_checksum_address(voucher.account)},
    )


def voucher_digest(voucher: RewardVoucher, *, chain_id: int, verifying_contract: str) -> bytes:
    """The EIP-712 digest of `voucher` (what ActivityRewards.hashVoucher returns), without eth-account."""
    separator = domain_separator(DOMAIN_NAME, DOMAIN_VERSION, chain_id, verifying_contract)
    return typed_digest(separator, VOUCHER_STRUCT.hash(voucher.message()))


@dataclass(frozen=True)
class VoucherMessage:
    """A voucher bound to its domain, as a signer takes it (fitmint.signers.Signer.sign_message): a local key
    signs its digest, a remote signer gets its full typed data."""
    voucher: RewardVoucher
    chain_id: int
    verifying_contract: str

    def full_message(self) -> dict:
        return typed_data(self.voucher, chain_id=self.chain_id, verifying_contract=self.verifying_contract)

    def digest(self) -> bytes:
        return voucher_digest(self.voucher, chain_id=self.chain_id, verifying_contract=self.verifying_contract)


def sign_voucher(voucher: RewardVoucher, private_key, *, chain_id: int, verifying_contract: str) -> bytes:
    """The 65-byte signature (r || s || v) the attestor gives the user's wallet with the voucher."""
    return bytes(sign_typed(typed_data(voucher, chain_id=chain_id, verifying_contract=verifying_contract),
                            private_key).signature)


def recover_signer(voucher: RewardVoucher, signature: bytes, *, chain_id: int, verifying_contract: str) -> str:
    return recover_typed(typed_data(voucher, chain_id=chain_id, verifying_contract=verifying_contract), signature)
