"""The API's access log: one structured line per request worth reading later, logged inside the
request's span, so the line carries its trace id and the log store finds it by that id.

Which requests: `writes` (the default) logs every request that is not a plain read (sign-ins, workouts,
vouchers, purchases...), every answer >= 400, and every request slower than `slow_seconds`; fast
successful reads are counted and timed by the metrics and traced, not logged (at hundreds a second a
line each costs more than it tells). `all` logs everything, `off` nothing."""

import logging
import time

log = logging.getLogger("api.access")
READS = frozenset(("GET", "HEAD", "OPTIONS"))
MODES = ("off", "writes", "all")


class AccessLogMiddleware:
    def __init__(self, app, *, mode: str = "writes", slow_seconds: float = 0.5):
        if mode not in MODES:
            raise ValueError(f"access log mode {mode!r}: expected one of {', '.join(MODES)}")
        self.app = app
        self.mode = mode
        self.slow_seconds = slow_seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.mode == "off":
            return await self.app(scope, receive, send)
        began = time.perf_counter()
        status = 500  # what the client sees if the app raises before answering

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - began
            method = scope["method"]
            if self.mode == "all" or method not in READS or status >= 400 or seconds >= self.slow_seconds:
                route = scope.get("route")
                log.log(logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO,
                        "%s %s %d %.1f ms", method, scope["path"], status, seconds * 1000,
                        extra={"http_method": method, "http_path": scope["path"], "http_status": status,
                               "http_route": getattr(route, "path", None), "duration_ms": round(seconds * 1000, 2),
                               "client": (scope.get("client") or ("", 0))[0]})
