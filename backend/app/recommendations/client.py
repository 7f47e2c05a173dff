"""The recommendation service's HTTP API (recommend/service.py), on loopback: one keep-alive client per API
process. An unreachable or slow service is `Unavailable` (the routes answer 503 with the reason)."""

import httpx


class Unavailable(Exception):
    """The recommendation service did not answer in time, or answered with an error."""


class RecommendClient:
    def __init__(self, url: str, timeout: float):
        self.url, self.timeout = url, timeout
        self._client: httpx.AsyncClient | None = None

    async def _post(self, path: str, body: dict) -> dict:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.url, timeout=self.timeout,
                                             limits=httpx.Limits(max_keepalive_connections=32))
        try:
            response = await self._client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the recommendation service is unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise Unavailable(f"the recommendation service answered {response.status_code}: {response.text[:200]}")
        return response.json()

    async def products(self, *, member_id: str, tenant_id: str, limit: int, exclude: list[str],
                       candidates: list[str]) -> dict:
        return await self._post("/products", {"member_id": member_id, "tenant_id": tenant_id, "limit": limit,
                                              "exclude": exclude, "candidates": candidates})

    async def workouts(self, *, member_id: str, weekly_workouts: int | None, focus: str | None, limit: int) -> dict:
        return await self._post("/workouts", {"member_id": member_id, "weekly_workouts": weekly_workouts,
                                              "focus": focus, "limit": limit})

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
