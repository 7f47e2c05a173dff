"""Chain access: the deployment manifest (manifest.py), the one JSON-RPC client (rpc.py), the ABI codec
(abi.py) and the gateway on them (gateway.py) with its two failures (errors.py), EIP-712 and permits."""
