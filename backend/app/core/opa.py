"""The API's client of its Open Policy Agent (the decision point of backend/app/core/policy.py; the Rego and
the base policy are in policy/). OPA runs beside each API process, reached over a unix socket
(`unix:///path/opa.sock`, the default: no port, only the socket's owner can reach it) or loopback HTTP
(`http://127.0.0.1:8181`), on one kept-alive connection pool (aiohttp: p50 0.2-0.3 ms a decision where
httpx took 0.7 ms, measured when choosing; reports/opa.md has the client's numbers).

Anything short of a decision is `PolicyUnavailable`: OPA refusing, not answering within the timeout, an
answer that is not a decision. The caller fails closed: the request answers 503 (504 when it timed out)
naming `opa` (backend/app/core/outages.py)."""

import asyncio
from typing import Any

import aiohttp
import orjson


class PolicyUnavailable(Exception):
    """OPA gave no decision; `__cause__` says why (a TimeoutError when it did not answer in time)."""


class Opa:
    def __init__(self, url: str, timeout_seconds: float):
        if url.startswith("unix://"):
            self._connector = lambda: aiohttp.UnixConnector(path=url.removeprefix("unix://"))
            self.base = "http://opa"
        elif url.startswith(("http://", "https://")):
            self._connector = lambda: aiohttp.TCPConnector()
            self.base = url.rstrip("/")
        else:
            raise ValueError(f"OPA_URL must be unix:///path/to/opa.sock or http(s)://host:port, not {url!r}")
        self.url, self.timeout = url, timeout_seconds
        self._session: aiohttp.ClientSession | None = None
        self.data_missing = asyncio.Event()  # set when OPA answered "policies not loaded": sync now

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:  # made inside the running loop, on first use
            self._session = aiohttp.ClientSession(connector=self._connector())
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _send(self, method: str, path: str, body: Any = None, *, headers: dict | None = None,
                    content_type: str = "application/json") -> tuple[int, bytes]:
        data = None if body is None else orjson.dumps(body)
        try:
            async with asyncio.timeout(self.timeout):
                async with self._client().request(method, f"{self.base}{path}", data=data,
                                                   headers={"content-type": content_type, **(headers or {})}) as reply:
                    return reply.status, await reply.read()
        except TimeoutError as exc:
            raise PolicyUnavailable(f"OPA ({self.url}) did not answer within {self.timeout} s") from exc
        except aiohttp.ClientError as exc:
            raise PolicyUnavailable(f"OPA ({self.url}) is unreachable: {exc}") from exc

    async def healthy(self) -> bool:
        """Whether OPA answers its health check (server up, policies loaded)."""
        try:
            status, _ = await self._send("GET", "/health")
        except PolicyUnavailable:
            return False
        return status == 200

    async def decide(self, rule: str, decision_input: dict) -> dict:
        """The result of data.fitmint.authz.<rule> for `decision_input`, with OPA's `decision_id` (the key of
        its decision log line)."""
        status, body = await self._send("POST", f"/v1/data/fitmint/authz/{rule}", {"input": decision_input})
        if status != 200:
            raise PolicyUnavailable(f"OPA answered {status} to a decision: {body[:200]!r}")
        answer = orjson.loads(body)
        result = answer.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("status"), int):
            raise PolicyUnavailable(f"OPA has no fitmint.authz.{rule} (policy not loaded?): {body[:200]!r}")
        return {**result, "decision_id": answer.get("decision_id")}

    async def read(self, path: str) -> Any:
        """The data document at `path` (e.g. "tenant_policy/loaded"), None when there is none."""
        status, body = await self._send("GET", f"/v1/data/{path}")
        if status != 200:
            raise PolicyUnavailable(f"OPA answered {status} reading data/{path}")
        return orjson.loads(body).get("result")

    async def write(self, path: str, value: Any, *, only_if_absent: bool = False) -> None:
        headers = {"If-None-Match": "*"} if only_if_absent else None
        status, body = await self._send("PUT", f"/v1/data/{path}", value, headers=headers)
        if status not in (204, 304):
            raise PolicyUnavailable(f"OPA answered {status} writing data/{path}: {body[:200]!r}")

    async def patch(self, path: str, operations: list[dict]) -> None:
        """A JSON Patch (RFC 6902) on the data document at `path`, applied atomically."""
        status, body = await self._send("PATCH", f"/v1/data/{path}", operations,
                                        content_type="application/json-patch+json")
        if status != 204:
            raise PolicyUnavailable(f"OPA answered {status} patching data/{path}: {body[:200]!r}")
