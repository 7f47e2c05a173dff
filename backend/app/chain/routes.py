"""GET /chain and the ABIs: everything a wallet app or a dApp needs to build a client, without reading the
server's disk. Both are revalidated with their ETag (If-None-Match -> 304)."""

import asyncio
import re

from fastapi import APIRouter, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field

from backend.app.chain import document
from backend.app.chain.document import Published
from backend.app.deps import PublicReads
from fitmint.chain.errors import ChainReverted, ChainUnavailable
from fitmint.chain.gateway import ChainGateway

router = APIRouter(prefix="/chain", tags=["chain"], dependencies=PublicReads)
REVALIDATE = "no-cache"  # a client may keep it, but asks (cheaply, with its ETag) whether it is still current


class TokenInfo(BaseModel):
    address: str
    name: str
    symbol: str
    decimals: int


class ContractInfo(BaseModel):
    address: str = Field(description="EIP-55")
    deploy_block: int
    abi_url: str


class SiweInfo(BaseModel):
    domain: str = Field(description="The `domain` a sign-in message must name")
    uri: str = Field(description="The `uri` a sign-in message must name")
    statement: str


class TypedDataSpec(BaseModel):
    domain: dict
    primaryType: str
    types: dict[str, list[dict[str, str]]]


class Eip712Info(BaseModel):
    reward_voucher: TypedDataSpec = Field(description="What the attestor signs (vouchers carry the signature)")
    permit: TypedDataSpec = Field(description="EIP-2612: what a wallet signs so the marketplace can pull FIT")


class ChainInfo(BaseModel):
    api_version: str
    chain_id: int
    rpc_url: str = Field(description="A JSON-RPC endpoint of the chain (a hint: wallets may use their own)")
    deploy_block: int
    siwe: SiweInfo
    token: TokenInfo
    contracts: dict[str, ContractInfo]
    eip712: Eip712Info


class ChainDocuments:
    """GET /chain and each ABI, built once per API process from the manifest it was started with, and the
    gateway they were read through (the marketplace's quotes read the chain through it too)."""

    def __init__(self, settings):
        self.settings = settings
        self.gateway = ChainGateway.from_settings(settings, timeout=5)
        self._document: dict | None = None
        self._chain: Published | None = None
        self._abis: dict[str, Published] = {}
        self._lock = asyncio.Lock()

    async def document(self) -> dict:
        async with self._lock:
            if self._document is None:
                self._document = await document.build(self.gateway, self.settings)
                self._chain = Published.of(self._document)
            return self._document

    async def chain(self) -> Published:
        await self.document()
        return self._chain

    def abi(self, name: str) -> Published:
        if name not in self._abis:
            contracts = self.gateway.manifest.contracts
            if name not in contracts:
                raise KeyError(name)
            self._abis[name] = Published.of(contracts[name].abi)
        return self._abis[name]

    async def close(self) -> None:
        await self.gateway.close()


def chain_documents(request: Request) -> ChainDocuments:
    return request.app.state.chain_documents


def _answer(request: Request, published: Published) -> Response:
    headers = {"ETag": published.etag, "Cache-Control": REVALIDATE}
    if published.etag in re.split(r"\s*,\s*", request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(published.body, media_type="application/json", headers=headers)


@router.get("", response_model=ChainInfo, responses={304: {"description": "Not modified (If-None-Match)"},
                                                     503: {"description": "No deployment, or the node is down"}})
async def chain_info(request: Request) -> Response:
    """The chain, the token, the contracts (address, deploy block, ABI URL), the EIP-712 domains and types
    the platform uses, and what a Sign-In with Ethereum message must name. The SDKs are generated
    against this document's schema."""
    try:
        return _answer(request, await chain_documents(request).chain())
    except (ChainUnavailable, ChainReverted) as exc:
        raise HTTPException(503, f"the chain document cannot be built: {exc}") from exc


@router.get("/abis/{name}", responses={200: {"description": "The contract's ABI, as compiled"},
                                       304: {"description": "Not modified (If-None-Match)"}})
async def contract_abi(request: Request,
                       name: str = Path(pattern=r"^[A-Za-z][A-Za-z0-9]{0,63}$", description="e.g. Marketplace")
                       ) -> Response:
    """A deployed contract's ABI (JSON array), from the compiled artifacts the deployment manifest holds."""
    documents = chain_documents(request)
    try:
        published = documents.abi(name)
    except KeyError:
        known = ", ".join(sorted(documents.gateway.manifest.contracts))
        raise HTTPException(404, f"no deployed contract is named {name!r}; deployed: {known}") from None
    except ChainUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    return _answer(request, published)
