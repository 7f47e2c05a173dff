"""A JSON-RPC proxy in front of a node that injects faults on request: answers 502 Bad Gateway, hangs
connections (no answer until the fault is lifted), adds latency to every call, or refuses eth_getLogs over
more than `max_log_blocks` blocks as hosted providers do ("query returned more than 10000 results"). It runs in a thread
of the test process (uvicorn + Starlette), on 127.0.0.1.

    with FaultProxy(chain.url) as proxy:
        proxy.latency = 0.02
        proxy.fault = "502"     # or "hang", or None
"""

import asyncio
import json
import threading

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.processes import free_port
from tests.support.waiting import wait_until


class FaultProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.fault: str | None = None  # None | "502" | "hang"
        self.latency = 0.0
        self.max_log_blocks: int | None = None
        self.faulted = 0  # requests answered with a fault (502, or hung until the fault was lifted)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    async def _forward(self, request: Request) -> Response:
        body = await request.body()
        if self.fault == "502":
            self.faulted += 1
            return Response(b"<html><body><h1>502 Bad Gateway</h1></body></html>", status_code=502,
                            media_type="text/html")
        if self.fault == "hang":
            self.faulted += 1
            while self.fault == "hang":
                await asyncio.sleep(0.05)
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.max_log_blocks is not None and (refusal := self._refusal(body)) is not None:
            return Response(refusal, media_type="application/json")
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.post(self.upstream, content=body, headers={"content-type": "application/json"})
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")

    def _refusal(self, body: bytes) -> bytes | None:
        call = json.loads(body)
        if not isinstance(call, dict) or call.get("method") != "eth_getLogs":
            return None
        query = call["params"][0]
        if int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1 <= self.max_log_blocks:
            return None
        return json.dumps({"jsonrpc": "2.0", "id": call["id"], "error": {
            "code": -32005, "message": "query returned more than 10000 results"}}).encode()

    def __enter__(self) -> "FaultProxy":
        app = Starlette(routes=[Route("/", self._forward, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fault-proxy", daemon=True)
        self._thread.start()
        wait_until(lambda: self._server.started, timeout=10, interval=0.02, what="the fault proxy started")
        return self

    def __exit__(self, *exc_info) -> None:
        self.fault = None
        self._server.should_exit = True
        self._thread.join(10)
