"""A small async client for the Kubo RPC API (every call is a POST): add (CIDv1, raw leaves, pinned)
and cat, with the content checked against its CID locally both ways."""

import httpx
import orjson

from backend.app.catalog import cids


class IpfsError(Exception):
    """Base of the client's errors."""


class IpfsUnavailable(IpfsError):
    """The node does not answer (503)."""


class CidNotFound(IpfsError):
    """The node does not have this CID (offline node: it does not search the network) (404)."""


class ContentMismatch(IpfsError):
    """The node returned (or computed) something other than the CID says (502)."""


class Kubo:
    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=f"{self.url}/api/v0", timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def _post(self, path: str, **kwargs) -> httpx.Response:
        try:
            response = await self._client.post(path, **kwargs)
        except httpx.HTTPError as exc:
            raise IpfsUnavailable(f"the IPFS node at {self.url} does not answer: {exc!r}") from exc
        if response.status_code >= 500 and b"not found" in response.content:
            raise CidNotFound(_message(response))
        if response.status_code != 200:
            raise IpfsUnavailable(f"the IPFS node refused {path}: HTTP {response.status_code} {_message(response)}")
        return response

    async def add(self, data: bytes) -> str:
        """Adds and pins `data` as one raw block; returns its CID, checked against the local computation."""
        expected = cids.compute(data)
        response = await self._post("/add", params={"cid-version": "1", "raw-leaves": "true", "pin": "true",
                                                    "hash": "sha2-256", "quieter": "true"},
                                    files={"file": ("blob", data, "application/octet-stream")})
        added = orjson.loads(response.content.splitlines()[-1])["Hash"]
        if added != expected:
            raise ContentMismatch(f"the IPFS node stored the content as {added}, expected {expected} "
                                  "(is it configured for CIDv1 raw leaves and 1 MiB chunks?)")
        return added

    async def cat(self, cid: str, max_bytes: int) -> bytes:
        """The content of `cid`, verified against it (ContentMismatch when it differs)."""
        cids.digest(cid)  # InvalidCid before asking the node
        response = await self._post("/cat", params={"arg": cid, "length": str(max_bytes + 1)})
        data = response.content
        if not cids.matches(cid, data):
            raise ContentMismatch(f"the IPFS node returned {len(data)} bytes that do not hash to {cid}")
        return data

    async def ping(self) -> bool:
        try:
            await self._post("/id")
            return True
        except IpfsError:
            return False


def _message(response: httpx.Response) -> str:
    try:
        return str(orjson.loads(response.content).get("Message", ""))
    except (orjson.JSONDecodeError, AttributeError):
        return response.text[:200]
