"""Recommendations (job recommend, the internal service the API asks): answers per second and their
duration by kind, the freshness follower keeping the online store current, background failures, the
Feast online store's reads."""

from ops.dashboards.kit import RATE, Query, board, graph, per_second, process, quantile

SECONDS = "fitmint_recommend_seconds"
FEAST_READ = "feast_feature_server_online_store_read_duration_seconds"  # Feast's own, in the same process


def dashboard():
    return board("fitmint-recommend", "fitmint / Recommendations", __doc__, "recommend", [
        ("Serving", [
            graph("Answers per second by kind", Query(per_second(SECONDS + "_count", "kind"), "{{kind}}"),
                  unit="reqps", width=8),
            graph("p99 by kind", Query(quantile(0.99, SECONDS, "kind"), "{{kind}}"), unit="s", width=8),
            graph("Online store read p99", Query(quantile(0.99, FEAST_READ), "feast read"), unit="s", width=8),
        ]),
        ("Freshness and background work", [
            graph("Follower watermark", Query("max(fitmint_recommend_follower_seq)", "events.seq in the online store"),
                  unit="none", minimum=None, width=8,
                  description="The newest analytics event the online store has: flat while the bus is quiet"),
            graph("Follower refreshes", Query(f"sum(increase(fitmint_recommend_refreshes_total[{RATE}]))",
                                              "passes that rewrote rows"), unit="none", width=8),
            # The counter is labelled by the failing job; before the first failure it has no series: 0 is the answer.
            graph("Background failures", Query(
                f"sum by (exported_job) (increase(fitmint_recommend_background_failures_total[{RATE}])) or vector(0)",
                "{{exported_job}}"), unit="none", width=8,
                  description="Background work (model reload, follower, feature refresh) that failed"),
        ]),
        ("Process", process("recommend", dependencies=False)),
    ])
