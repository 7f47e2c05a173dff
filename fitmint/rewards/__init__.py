"""What the attestor and the operator sign: EIP-712 reward vouchers and Merkle epoch distributions."""
