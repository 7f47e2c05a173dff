"""Where every process sends its traces and logs, read the same way everywhere. OpenTelemetry's standard
environment variables win, so an operator's usual settings work unchanged; without them, the endpoints
are `make up`'s Jaeger and VictoriaLogs (their ports from fitmint/defaults.env or the environment)."""

from pydantic_settings import BaseSettings, SettingsConfigDict

from fitmint.settings import default


class TelemetrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    otel_sdk_disabled: bool = False  # true: no traces and no shipped logs (the JSON lines stay)
    jaeger_otlp_port: int = int(default("JAEGER_OTLP_PORT"))
    victorialogs_port: int = int(default("VICTORIALOGS_PORT"))
    otel_exporter_otlp_traces_endpoint: str | None = None  # default: make up's Jaeger
    otel_exporter_otlp_logs_endpoint: str | None = None  # default: make up's VictoriaLogs (its OTLP receiver)
    otel_logs_exporter: str = "otlp"  # "none": keep the JSON lines on stderr only
    # Of the traces that start here (a request without a sampled traceparent, a chain event at the head),
    # the share recorded; a caller's sampled traceparent is always followed.
    fitmint_trace_sample_ratio: float = 1.0
    fitmint_log_level: str = "INFO"
    fitmint_log_format: str = "json"  # "text": the human-readable line of a terminal session

    @property
    def traces_endpoint(self) -> str:
        return self.otel_exporter_otlp_traces_endpoint or f"http://127.0.0.1:{self.jaeger_otlp_port}/v1/traces"

    @property
    def logs_endpoint(self) -> str:
        return (self.otel_exporter_otlp_logs_endpoint
                or f"http://127.0.0.1:{self.victorialogs_port}/insert/opentelemetry/v1/logs")
