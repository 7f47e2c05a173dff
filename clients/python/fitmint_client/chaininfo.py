"""GET /chain and the contracts' ABIs (GET /chain/abis/{name}), kept and revalidated with their ETags:
If-None-Match on each fetch, a 304 keeps what is held. The ABIs are the server's compiled artifacts, the
one source of truth: the client never carries an ABI of its own."""

from dataclasses import dataclass

from fitmint_client.abi import ContractAbi
from fitmint_client.errors import FitmintInputError
from fitmint_client.http import Session
from fitmint_client.models import ChainInfo, ContractInfo


@dataclass
class _Held:
    etag: str | None
    value: object


class ChainDocuments:
    def __init__(self, session: Session):
        self.session = session
        self._held: dict[str, _Held] = {}
        self.revalidations = 0  # answers that were 304 Not Modified (what was held was still current)

    def chain(self, *, revalidate: bool = True) -> ChainInfo:
        """The chain document: asks the API whether the held copy is current (a cheap 304 when it is),
        or, with `revalidate=False`, uses the held copy without asking when there is one."""
        held = self._held.get("/chain")
        chain = self._fetch("/chain", ChainInfo.model_validate, revalidate)
        if held is not None and chain is not held.value:  # a new deployment: its ABIs are fetched again
            self._held = {"/chain": self._held["/chain"]}
        return chain

    def abi(self, name: str) -> ContractAbi:
        """A deployed contract's ABI, fetched once and kept (a deployment's ABIs do not change)."""
        return self._fetch(self._contract(name).abi_url, lambda entries: ContractAbi(name, entries),
                           revalidate=False)

    def abis(self) -> list[ContractAbi]:
        return [self.abi(name) for name in self.chain(revalidate=False).contracts]

    def address(self, name: str) -> str:
        return self._contract(name).address

    def _contract(self, name: str) -> ContractInfo:
        contracts = self.chain(revalidate=False).contracts
        if name not in contracts:
            raise FitmintInputError(f"the platform has no contract named {name!r}; it has {', '.join(contracts)}")
        return contracts[name]

    def _fetch(self, path: str, parse, revalidate: bool):
        held = self._held.get(path)
        if held is not None and not revalidate:
            return held.value
        headers = {"If-None-Match": held.etag} if held is not None and held.etag else None
        response = self.session.request("GET", path, headers=headers, ok=(304,))
        if response.status_code == 304 and held is not None:
            self.revalidations += 1
            return held.value
        value = parse(response.json())
        self._held[path] = _Held(response.headers.get("etag"), value)
        return value
