"""What a client needs to know about the chain to talk to the platform (GET /chain): the chain, the
token, each contract's address, deploy block and ABI, the EIP-712 domains and types it signs, and what
a sign-in message must name. Built from the deployment manifest (whose ABIs are the compiled artifacts)
and the token's own answers, once per deployment."""

import hashlib
from dataclasses import dataclass

import orjson

from fitmint.chain.eip712 import DOMAIN_FIELDS
from fitmint.chain.gateway import ChainGateway
from fitmint.chain.permits import PERMIT_FIELDS
from fitmint.rewards import vouchers

API_VERSION = "0.3.0"
SIWE_STATEMENT = "Sign in to fitmint"


@dataclass(frozen=True)
class Published:
    """A JSON document as served: its bytes and their ETag (a hash of them)."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, document) -> "Published":
        body = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _domain(name: str, version: str, chain_id: int, contract: str) -> dict:
    return {"name": name, "version": version, "chainId": chain_id, "verifyingContract": contract}


async def build(gateway: ChainGateway, settings) -> dict:
    manifest = gateway.manifest
    token = gateway.address("FitToken")
    name, symbol, decimals = (await gateway.call("FitToken", "name"), await gateway.call("FitToken", "symbol"),
                              await gateway.call("FitToken", "decimals"))
    return {
        "api_version": API_VERSION,
        "chain_id": manifest.chain_id,
        "rpc_url": settings.public_rpc_url or settings.fitmint_rpc_url,
        "deploy_block": manifest.deploy_block,
        "siwe": {"domain": settings.siwe_domain, "uri": settings.siwe_uri, "statement": SIWE_STATEMENT},
        "token": {"address": token, "name": name, "symbol": symbol, "decimals": decimals},
        "contracts": {contract_name: {"address": contract.checksum_address, "deploy_block": contract.block,
                                      "abi_url": f"/chain/abis/{contract_name}"}
                      for contract_name, contract in sorted(manifest.contracts.items())},
        "eip712": {
            "reward_voucher": {
                "domain": _domain(vouchers.DOMAIN_NAME, vouchers.DOMAIN_VERSION, manifest.chain_id,
                                  gateway.address("ActivityRewards")),
                "primaryType": "RewardVoucher",
                "types": {"EIP712Domain": DOMAIN_FIELDS, "RewardVoucher": vouchers.VOUCHER_FIELDS}},
            "permit": {  # OpenZeppelin ERC20Permit: the token's name, version "1"
                "domain": _domain(name, "1", manifest.chain_id, token),
                "primaryType": "Permit",
                "types": {"EIP712Domain": DOMAIN_FIELDS, "Permit": PERMIT_FIELDS}},
        },
    }
