"""The observability stack itself: Jaeger receiving and storing spans (job jaeger), VictoriaLogs ingesting
log lines (job victorialogs), Prometheus scraping every process and evaluating the rules (job prometheus).
A process whose traces or logs go missing shows here first."""

from ops.dashboards.kit import RATE, UP_DOWN, Query, Steps, board, graph, per_second, stat


def dashboard():
    return board("fitmint-telemetry", "fitmint / Telemetry pipeline", __doc__, None, [
        ("Up", [
            stat("Telemetry services", Query('up{job=~"jaeger|victorialogs|prometheus"}', "{{job}}"), mappings=UP_DOWN,
                 steps=Steps(alert=1, below=True), width=24),
        ]),
        ("Traces (Jaeger)", [
            graph("Spans received per second", Query(per_second("otelcol_receiver_accepted_spans_total", "transport"),
                                                     "accepted ({{transport}})"),
                  Query(per_second("otelcol_receiver_refused_spans_total"), "refused"),
                  Query(per_second("otelcol_receiver_failed_spans_total"), "failed"), unit="ops", width=8),
            graph("Spans stored per second", Query(per_second("otelcol_exporter_sent_spans_total"), "stored"),
                  Query(per_second("otelcol_exporter_send_failed_spans_total"), "failed"), unit="ops", width=8),
            graph("Jaeger memory (RSS)", Query("max(otelcol_process_memory_rss_bytes)", "rss"), unit="bytes", width=8),
        ]),
        ("Logs (VictoriaLogs)", [
            graph("Log lines ingested per second", Query(per_second("vl_rows_ingested_total", "type"), "{{type}}"),
                  Query(per_second("vl_rows_dropped_total", "reason"), "dropped: {{reason}}"), unit="ops", width=8),
            graph("Stored data", Query("sum by (type) (vl_data_size_bytes)", "{{type}}"), unit="bytes", width=8),
            graph("Free disk", Query("min(vl_free_disk_space_bytes)", "free"), unit="bytes", width=8),
        ]),
        ("Prometheus", [
            graph("Scrape duration by job", Query("max by (job) (scrape_duration_seconds)", "{{job}}"), unit="s",
                  width=8),
            graph("Samples per scrape by job", Query("sum by (job) (scrape_samples_scraped)", "{{job}}"), unit="none",
                  width=8),
            # Per rule group; 0 (no series) while no group failed and none is loaded yet.
            graph("Rule evaluation failures", Query(
                f"sum(increase(prometheus_rule_evaluation_failures_total[{RATE}])) or vector(0)", "failures"),
                  unit="none", width=8),
        ]),
    ])
