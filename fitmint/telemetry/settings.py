"""Where every process sends its traces and logs, read the same way everywhere. The names are
OpenTelemetry's standard environment variables, so an operator's usual settings work unchanged; the
defaults are `make up`'s Jaeger and VictoriaLogs (ports from fitmint/defaults.env)."""

from pydantic_settings import BaseSettings, SettingsConfigDict

from fitmint.settings import default


class TelemetrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    otel_sdk_disabled: bool = False  # true: no traces and no shipped logs (the JSON lines stay)
    otel_exporter_otlp_traces_endpoint: str = f"http://127.0.0.1:{default('JAEGER_OTLP_PORT')}/v1/traces"
    # VictoriaLogs' OTLP receiver: every log line, with its trace and span ids, searchable by them.
    otel_exporter_otlp_logs_endpoint: str = (
        f"http://127.0.0.1:{default('VICTORIALOGS_PORT')}/insert/opentelemetry/v1/logs")
    otel_logs_exporter: str = "otlp"  # "none": keep the JSON lines on stderr only
    # Of the traces that start here (a request without a sampled traceparent, a chain event at the head),
    # the share recorded; a caller's sampled traceparent is always followed.
    fitmint_trace_sample_ratio: float = 1.0
    fitmint_log_level: str = "INFO"
    fitmint_log_format: str = "json"  # "text": the human-readable line of a terminal session
