"""The API's answer when something it depends on fails mid-request: 503 when the dependency is unavailable
(refused, reset, down), 504 when it did not answer in time, a JSON reason naming it, and Retry-After, never
a 500. The handlers are installed once, centrally (`install`); routes that catch a failure themselves keep
their more specific reason.

Which dependency failed is read from the exception: its type where the client library has its own
(asyncpg, redis, aiokafka, our chain/IPFS/agent clients), the URL it was sent to for httpx, and for the
errors any library raises (TimeoutError, OSError: a pool's acquire or connect timing out, a refused
connection) the library whose code raised it, found in the traceback."""

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import httpx
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.controller.acapy import AgentUnavailable
from backend.app.catalog.ipfs import IpfsUnavailable
from backend.app.core.opa import PolicyUnavailable
from fitmint.chain.errors import ChainUnavailable
from fitmint.resilience import POSTGRES_ERRORS, describe
from fitmint.signers import SignerRefused

log = logging.getLogger("api.outages")

RETRY_AFTER_SECONDS = 5

# The library whose frames an exception passed through names the dependency (outermost package name).
LIBRARY_DEPENDENCY = {"asyncpg": "postgres", "redis": "redis", "aiokafka": "kafka"}

# Our own clients' "the service does not answer" errors; their __cause__ says whether it timed out.
# A remote signer that refuses (or answers with the wrong key) is the API's attestor signer failing: 503.
# No decision from OPA fails closed: the request is refused with 503 (504 when OPA did not answer in time).
CLIENT_ERRORS: tuple[tuple[type[BaseException], str], ...] = (
    (ChainUnavailable, "rpc"), (IpfsUnavailable, "ipfs"), (AgentUnavailable, "acapy"),
    (SignerRefused, "attestor-signer"), (PolicyUnavailable, "opa"))


@dataclass(frozen=True)
class Outage:
    dependency: str  # postgres, redis, kafka, rpc, ipfs, acapy, recommend, attestor-signer, opa, or "a dependency"
    timed_out: bool

    @property
    def status(self) -> int:
        return 504 if self.timed_out else 503

    def reason(self, exc: BaseException) -> str:
        what = "did not answer in time" if self.timed_out else "is unavailable"
        return f"{self.dependency} {what} ({describe(exc)}); retry shortly"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what caused it (explicitly or while handling), innermost last."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _timed_out(exc: BaseException) -> bool:
    return any(isinstance(link, (TimeoutError, asyncio.TimeoutError, httpx.TimeoutException, RedisTimeoutError,
                                 asyncpg.QueryCanceledError))
               for link in _chain(exc))


def _library_of(exc: BaseException) -> str | None:
    """The dependency whose client library raised `exc` (or one of its causes): the innermost frame from one."""
    for link in _chain(exc):
        traceback, found = link.__traceback__, None
        while traceback is not None:
            package = traceback.tb_frame.f_globals.get("__name__", "").split(".")[0]
            found = LIBRARY_DEPENDENCY.get(package, found)
            traceback = traceback.tb_next
        if found:
            return found
    return None


class OutageClassifier:
    """Maps an exception to the Outage it means, or None (a bug: left to be a 500). `urls`: dependency name
    -> base URL, to name the service an httpx request went to."""

    def __init__(self, urls: dict[str, str]):
        self.urls = {name: url.rstrip("/") for name, url in urls.items() if url}

    def _http_dependency(self, exc: httpx.HTTPError) -> str:
        try:
            url = str(exc.request.url)
        except RuntimeError:  # an httpx error raised without a request
            return "an upstream service"
        return next((name for name, base in self.urls.items() if url.startswith(base)), "an upstream service")

    def __call__(self, exc: BaseException) -> Outage | None:
        timed_out = _timed_out(exc)
        for error_type, dependency in CLIENT_ERRORS:
            if isinstance(exc, error_type):
                return Outage(dependency, timed_out)
        if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
            return Outage("redis", timed_out)
        if isinstance(exc, asyncpg.QueryCanceledError):  # statement_timeout (or a cancel by an operator)
            return Outage("postgres", True)
        if isinstance(exc, POSTGRES_ERRORS) and not isinstance(exc, OSError):
            return Outage("postgres", timed_out)
        if isinstance(exc, httpx.TransportError):
            return Outage(self._http_dependency(exc), timed_out)
        if isinstance(exc, KafkaError):
            return Outage("kafka", timed_out)
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError, OSError)):
            library = _library_of(exc)
            if library:
                return Outage(library, timed_out)
            if timed_out:  # a wait with a deadline that passed, from no library we know: still not a bug
                return Outage("a dependency", True)
        return None


def answer(outage: Outage, exc: BaseException) -> JSONResponse:
    return JSONResponse(status_code=outage.status, headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                        content={"detail": outage.reason(exc), "dependency": outage.dependency})


# What the handlers are registered for: every type the classifier can map (Starlette picks a handler by the
# exception's class hierarchy). A plain OSError or TimeoutError from no known library is re-raised: a 500.
HANDLED = (*(error_type for error_type, _ in CLIENT_ERRORS), RedisConnectionError, RedisTimeoutError,
           *POSTGRES_ERRORS, asyncpg.QueryCanceledError, httpx.TransportError, KafkaError, TimeoutError)


def install(app: FastAPI, classify: OutageClassifier) -> None:
    """Registers the outage handlers on `app`."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        outage = classify(exc)
        if outage is None:
            raise exc
        log.warning("%s %s: %s %s (%s): %d", request.method, request.url.path, outage.dependency,
                    "timed out" if outage.timed_out else "unavailable", describe(exc), outage.status)
        return answer(outage, exc)

    async def retry_after(request: Request, exc: StarletteHTTPException) -> Response:
        """A route's own 503/504 (e.g. "the backend database is not reachable") says when to retry too."""
        if exc.status_code in (503, 504) and "Retry-After" not in (exc.headers or {}):
            exc.headers = {**(exc.headers or {}), "Retry-After": str(RETRY_AFTER_SECONDS)}
        return await http_exception_handler(request, exc)

    for error_type in dict.fromkeys(HANDLED):
        app.add_exception_handler(error_type, handle)
    app.add_exception_handler(StarletteHTTPException, retry_after)
