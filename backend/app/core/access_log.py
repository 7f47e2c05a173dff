"""The API's access log: one structured line per request worth reading later (backend/app/core/observe.py
logs it in the request's span, so the line carries its trace id and the log store finds it by that id).

Which requests: `writes` (the default) logs every request that is not a plain read (sign-ins, workouts,
vouchers, purchases...), every answer >= 400, and every request slower than `slow_seconds`; fast
successful reads are counted and timed by the metrics and sampled by the tracing, not logged (at
hundreds a second a line each costs more than it tells). `all` logs everything, `off` nothing."""

import logging

log = logging.getLogger("api.access")
READS = frozenset(("GET", "HEAD", "OPTIONS"))
MODES = ("off", "writes", "all")


class AccessLog:
    def __init__(self, mode: str = "writes", slow_seconds: float = 0.5):
        if mode not in MODES:
            raise ValueError(f"access log mode {mode!r}: expected one of {', '.join(MODES)}")
        self.mode = mode
        self.slow_seconds = slow_seconds

    def wants(self, method: str, status: int, seconds: float) -> bool:
        if self.mode == "off":
            return False
        return self.mode == "all" or method not in READS or status >= 400 or seconds >= self.slow_seconds

    def line(self, scope, route: str | None, status: int, seconds: float) -> None:
        """The line of a request `wants` chose (the caller asks first: it logs in the request's span)."""
        level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
        log.log(level, "%s %s %d %.1f ms", scope["method"], scope["path"], status, seconds * 1000,
                extra={"http_method": scope["method"], "http_path": scope["path"], "http_status": status,
                       "http_route": route, "duration_ms": round(seconds * 1000, 2),
                       "client": (scope.get("client") or ("", 0))[0]})
