"""Rate limits that cannot be dodged, against real uvicorn processes (tests/support/processes.start_api, run
as the stack runs it: --no-proxy-headers): a client's own X-Forwarded-For is ignored unless its peer is a
trusted proxy (TRUSTED_PROXIES), and then the client is the nearest address in the header that is not a
proxy; reads without sign-in are limited per IP; the per-account limit holds whatever the IP."""

import secrets
import time
import uuid

import httpx
import pytest
from redis import Redis

from backend.app.core.ratelimit import FLUSH_SECONDS
from backend.app.deps import get_claims, limit_auth, limit_oauth, limit_public_reads, limit_quotes
from backend.app.main import app
from tests.support.processes import start_api
from tests.support.requestmodels import request_routes
from tests.support.signin import new_wallet, sign_in
from tests.support.waiting import wait_until


def window() -> int:
    """A window over an hour long (a test never straddles two) and of a length no other test uses: the
    limiter's keys name the rule, the caller and the window's number, and every process of the suite calls
    from 127.0.0.1 into the same Redis."""
    return 3600 + secrets.randbelow(1_000_000)


def nonces(base: str, forwarded: list[str | None]) -> list[int]:
    """POST /auth/nonce (the per-IP sign-in limit) once per entry, with that X-Forwarded-For (None: none)."""
    with httpx.Client(base_url=base, timeout=10) as http:
        return [http.post("/auth/nonce", headers={"X-Forwarded-For": f} if f else {}).status_code
                for f in forwarded]


@pytest.fixture
def limited(settings):
    """Three sign-in requests per IP and window."""
    return settings.model_copy(update={"rate_limit_auth": 3, "rate_limit_auth_window_seconds": window()})


def spoof(count: int) -> list[str]:
    return [f"203.0.113.{index + 1}" for index in range(count)]


def test_a_client_cannot_pick_its_address_without_a_trusted_proxy(limited, tmp_path):
    api, base = start_api(limited, tmp_path)
    try:
        # Every request from 127.0.0.1, each naming another "client": all count against 127.0.0.1.
        assert nonces(base, [None, *spoof(2)]) == [200, 200, 200]
        assert nonces(base, [*spoof(5), None]) == [429] * 6
    finally:
        api.stop()


def test_behind_a_trusted_proxy_the_client_is_the_nearest_untrusted_hop(limited, tmp_path):
    proxied = limited.model_copy(update={"trusted_proxies": ("127.0.0.1/32", "10.0.0.0/8")})
    api, base = start_api(proxied, tmp_path)
    client = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    try:
        # The proxy (127.0.0.1) appends the address it saw; a hop inside 10/8 is trusted too.
        assert nonces(base, [client, f"{client}, 10.1.2.3", client]) == [200, 200, 200]
        # The client's budget is spent; what it writes in front of the proxy's entry changes nothing...
        assert nonces(base, [f"192.0.2.1, {client}", f"192.0.2.77, {client}, 10.9.9.9"]) == [429, 429]
        # ...while another client behind the same proxy has its own budget.
        assert nonces(base, ["192.0.2.200"]) == [200]
    finally:
        api.stop()


def test_reads_without_sign_in_are_limited_per_ip_across_replicas(settings, tmp_path):
    public = settings.model_copy(update={"rate_limit_public": 4, "rate_limit_public_window_seconds": window(),
                                         "trusted_proxies": ("127.0.0.1/32",)})
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first, first_base = start_api(public, tmp_path / "first")
    second, second_base = start_api(public, tmp_path / "second")
    reader, other = (f"192.0.2.{uuid.uuid4().int % 250 + 1}", f"198.18.0.{uuid.uuid4().int % 250 + 1}")
    paths = ["/chain", "/wallets/0x" + "ab" * 20 + "/balance", "/catalog/products", "/rewards/epochs",
             "/marketplace/listings"]
    rule_window = public.rate_limit_public_window_seconds
    counts = Redis(port=public.redis_port)

    def counted(total: int) -> None:
        """Until Redis holds `total` reads of the reader (each process adds its counts every FLUSH_SECONDS)."""
        key = f"ratelimit:public:{reader}:{int(time.time()) // rule_window}"
        wait_until(lambda: int(counts.get(key) or 0) == total, timeout=10, what=f"{total} reads counted")
        time.sleep(FLUSH_SECONDS)  # and the process that added them has heard the total back

    def read(base: str, path: str, caller: str = reader) -> httpx.Response:
        return httpx.get(base + path, headers={"X-Forwarded-For": caller}, timeout=10)

    try:
        # One budget for every public read, shared by the replicas through Redis.
        assert [read(first_base, path).status_code != 429 for path in paths[:3]] == [True] * 3
        counted(3)
        assert read(second_base, paths[3]).status_code != 429
        counted(4)
        refused = read(second_base, paths[4])  # the second knows the first's three
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert "rate limit 'public'" in refused.json()["detail"]
        # The first last heard a total of 3 (its own): it lets one more through, and hears 5 back. (Across
        # replicas a caller passes the limit by what it sends to each in one flush interval, at most.)
        assert read(first_base, paths[0]).status_code != 429
        counted(5)
        assert [read(base, path).status_code for base in (first_base, second_base) for path in paths] == [429] * 10
        assert read(first_base, "/chain", other).status_code != 429  # another client
        assert httpx.get(first_base + "/health").status_code == 200  # probes are not limited
    finally:
        counts.close()
        first.stop()
        second.stop()


def test_the_per_account_limit_holds_whatever_the_address(settings, tmp_path):
    accounts = settings.model_copy(update={"rate_limit_account": 3, "rate_limit_account_window_seconds": window(),
                                           "trusted_proxies": ("127.0.0.1/32",)})
    api, base = start_api(accounts, tmp_path)
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            alice, bob = sign_in(http, accounts, new_wallet()), sign_in(http, accounts, new_wallet())
            codes = [http.get("/auth/me", headers=alice | {"X-Forwarded-For": address}).status_code
                     for address in spoof(5)]  # a new "address" each time: the account is what counts
            assert codes == [200, 200, 200, 429, 429], codes
            assert "rate limit 'account'" in http.get("/auth/me", headers=alice).json()["detail"]
            assert http.get("/auth/me", headers=bob).status_code == 200  # another account, the same IP
    finally:
        api.stop()


# Routes without a sign-in that need no per-IP limit, and why.
UNLIMITED = {
    "/health": "the probes' (Redis and OPA reachable); one PING and one OPA health check",
    "/metrics": "Prometheus scrapes it",
    "/app/{path:path}": "the dApp's static build",
    "/agent/webhooks/topic/{topic}/": "ACA-Py's, with its admin key",
}


def test_every_route_without_a_sign_in_has_a_per_ip_limit():
    def calls(dependant):
        yield dependant.call
        for dependency in dependant.dependencies:
            yield from calls(dependency)

    per_ip = {limit_auth, limit_oauth, limit_quotes, limit_public_reads}  # limit_oauth: per IP until authenticated
    anonymous = {route.path: set(calls(route.dependant)) for route in request_routes(app)}
    anonymous = {path: found for path, found in anonymous.items() if get_claims not in found}
    assert len(anonymous) > 15  # the walk found them
    unlimited = sorted(path for path, found in anonymous.items() if not found & per_ip and path not in UNLIMITED)
    assert not unlimited, unlimited
