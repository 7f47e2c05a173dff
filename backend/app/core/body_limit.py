"""Refuses request bodies over a size limit with 413 before any handler reads them (ASGI middleware:
checks Content-Length up front, counts the bytes of chunked bodies as they arrive, and stays out of
the way of everything else). `allowances` gives named paths a limit of their own (image uploads)."""

import orjson


class BodyLimitMiddleware:
    def __init__(self, app, max_bytes: int, allowances: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.allowances = allowances or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_bytes = self.allowances.get(scope["path"], self.max_bytes)
        length = chunked = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                length = value
                if value.isdigit() and int(value) > max_bytes:
                    return await self._refuse(send, max_bytes)
            elif name == b"transfer-encoding":
                chunked = value
        # The server delivers at most Content-Length bytes, and a GET without either header has no
        # body: only the rest (chunked or unannounced bodies) needs counting.
        if chunked is None and (length is not None or scope["method"] in ("GET", "HEAD", "OPTIONS")):
            return await self.app(scope, receive, send)
        received = 0
        refused = False

        async def counting_receive():
            # Past the limit: answer 413 here and tell the app the client left (FastAPI turns errors
            # raised while it reads a body into 400s, so raising would not get the 413 out).
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    refused = True
                    await self._refuse(send, max_bytes)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not refused:  # once the 413 is out, whatever the app answers is dropped
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, send, max_bytes: int):
        body = orjson.dumps({"detail": f"request body larger than {max_bytes} bytes"})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
