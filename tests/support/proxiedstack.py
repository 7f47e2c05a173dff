"""The chaos suite's topology: a PrivateStack (its own Anvil with the contracts, PostgreSQL, Redis, Kafka,
mail sink and the APIs' OPA) whose PostgreSQL, Redis, Kafka and RPC our processes reach only through Toxiproxy.

    processes (indexer, API, worker, txqueue) --> toxiproxy :p1..p4 --> postgres, redis, kafka, anvil

`process_env()` is what our processes are started with: every dependency's address is its proxy's. Kafka needs
more than a proxied bootstrap address: a client asks the bootstrap server for the broker's advertised
address and then connects there, so the broker advertises the proxy's port (stack.sh's KAFKA_ADVERTISED_PORT)
and every client connection, ours and the checks', goes through the proxy. The invariant checks read
PostgreSQL and the chain directly (the stack's own ports), after the faults are healed."""

from pathlib import Path

from tests.support.privatestack import PrivateStack
from tests.support.processes import free_port
from tests.support.toxiproxy import Proxy, ToxiproxyServer

DEPENDENCIES = ("postgres", "redis", "kafka", "rpc")
UPSTREAM_PORT = {"postgres": "POSTGRES_PORT", "redis": "REDIS_PORT", "kafka": "KAFKA_PORT", "rpc": "ANVIL_PORT"}
# opa is not proxied: it is the API's sidecar on a unix socket (as in the chart), not a network dependency.
SERVICES = ("opa", "anvil", "postgres", "redis", "kafka", "mail")


class ProxiedStack:
    def __init__(self, log_dir: Path):
        self.stack = PrivateStack()
        self.toxiproxy = ToxiproxyServer(log_dir)
        self.proxies: dict[str, Proxy] = {}

    def __enter__(self) -> "ProxiedStack":
        self.toxiproxy.__enter__()
        try:
            # The proxies first: the broker advertises the Kafka proxy, and its own start-up (creating the
            # topics) already goes through it.
            for name in DEPENDENCIES:
                self.proxies[name] = self.toxiproxy.proxy(name, self.stack.port(UPSTREAM_PORT[name]),
                                                          listen_port=free_port())
            self.stack("up", *SERVICES, env={"KAFKA_ADVERTISED_PORT": str(self.proxies["kafka"].port)}, check=True)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.stack("purge")
        finally:
            self.toxiproxy.__exit__()

    def process_env(self) -> dict[str, str]:
        """The environment of a process under test: each dependency at its proxy."""
        return {"POSTGRES_PORT": str(self.proxies["postgres"].port), "REDIS_PORT": str(self.proxies["redis"].port),
                "KAFKA_PORT": str(self.proxies["kafka"].port),
                "KAFKA_BOOTSTRAP": self.proxies["kafka"].address,
                "FITMINT_RPC_URL": f"http://{self.proxies['rpc'].address}",
                "ANVIL_PORT": str(self.proxies["rpc"].port)}

    def heal(self) -> None:
        self.toxiproxy.heal()
