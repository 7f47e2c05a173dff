"""Rewards: what the attestor signs (EIP-712 vouchers) and how epoch distributions are committed (Merkle)."""
