"""The indexer's settings: the kernel's (state, PostgreSQL, Kafka, chain, manifest) and its own tuning."""

from fitmint.chain.heads import websocket_url
from fitmint.settings import KernelSettings


class Settings(KernelSettings):
    rpc_timeout_seconds: float = 10.0  # a node that does not answer in time counts as down (retried)
    reorg_depth: int = 64
    poll_interval: float = 0.05  # between looks at the head while no newHeads subscription is open
    # Following the head: eth_subscribe("newHeads") over WebSocket wakes the indexer as each block is added
    # (fitmint.chain.heads); false: poll only. The URL defaults to the RPC URL's ws:// twin (the same host
    # and port: Anvil serves both there); a node without WebSocket is polled.
    head_subscription: bool = True
    head_websocket_url: str | None = None
    head_check_interval: float = 1.0  # while subscribed, a look at the head anyway (a rollback announces nothing)
    # eth_getLogs ranges: at most max_range blocks, aimed at target_logs_per_range logs, and an answer over
    # max_response_bytes is not read (the range is cut and asked again): what bounds the memory of a range
    # after a quiet stretch, when the sizer cannot know how busy the next blocks are (~630 bytes a log).
    initial_range: int = 100
    max_range: int = 10_000
    target_logs_per_range: int = 20_000
    max_response_bytes: int = 16_000_000
    relay_batch: int = 5_000
    # A head batch of at most this many logs gets a root span per transaction (indexer/tracing.py): the
    # head's ranges hold a few blocks' logs (tens), a catch-up or backfill range up to target_logs_per_range.
    trace_max_logs: int = 500
    indexer_metrics_port: int = 0  # Prometheus endpoint; 0: none
    indexer_metrics_host: str = "127.0.0.1"

    @property
    def head_url(self) -> str:
        return self.head_websocket_url or websocket_url(self.fitmint_rpc_url)
