"""The recommendation service's HTTP API (recommend/service.py), on loopback: one keep-alive aiohttp session per
API process (measured: a third of httpx's cost per call at the rate the recommendations are read). An
unreachable or slow service is `Unavailable` (the routes answer 503 with the reason)."""


import aiohttp
import orjson


class Unavailable(Exception):
    """The recommendation service did not answer in time, or answered with an error."""


class RecommendClient:
    def __init__(self, url: str, timeout: float):
        self.url, self.timeout = url.rstrip("/"), aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def _post(self, path: str, body: dict) -> dict:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout, connector=aiohttp.TCPConnector(limit=64),
                                                  json_serialize=lambda o: orjson.dumps(o).decode())
        try:
            async with self._session.post(self.url + path, json=body) as response:
                text = await response.read()
                if response.status != 200:
                    raise Unavailable(f"the recommendation service answered {response.status}: {text[:200]!r}")
                return orjson.loads(text)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Unavailable(f"the recommendation service is unreachable ({type(exc).__name__})") from exc

    async def products(self, *, member_id: str, tenant_id: str, limit: int, exclude: list[str],
                       candidates: list[str]) -> dict:
        return await self._post("/products", {"member_id": member_id, "tenant_id": tenant_id, "limit": limit,
                                              "exclude": exclude, "candidates": candidates})

    async def workouts(self, *, member_id: str, weekly_workouts: int | None, focus: str | None, limit: int) -> dict:
        return await self._post("/workouts", {"member_id": member_id, "weekly_workouts": weekly_workouts,
                                              "focus": focus, "limit": limit})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
