"""The chain gateway: JSON-RPC, the deployment manifest, EIP-712 signing."""
