"""The analytics service's settings: the kernel's (PostgreSQL, Kafka, the analytics database) and its own."""

from fitmint.settings import KernelSettings, default


class Settings(KernelSettings):
    analytics_consumer_group: str = "fitmint-analytics"
    analytics_batch_size: int = 2_000  # records per poll, applied in one transaction
    analytics_metrics_port: int = int(default("ANALYTICS_METRICS_PORT"))  # 0: no Prometheus endpoint
    analytics_metrics_host: str = "127.0.0.1"
