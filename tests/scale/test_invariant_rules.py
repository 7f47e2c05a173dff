"""The rules the scale-out run and the chaos suite judge a run by, on hand-made inputs (no stack): an API error
is acceptable only as a 503/504 saying why; the load's latency figures are what the samples say. (The Kafka,
notification and balance invariants read a live system: tests/scale/test_scale_out.py runs them.)"""

from tests.support.invariants import api_errors
from tests.support.journeyload import Stats, histogram, percentile


def summary(*answers: tuple[str, int, str]) -> dict:
    stats = Stats()
    for endpoint, status, body in answers:
        stats.answered(endpoint, status, 0.01, body)
    return stats.summary(1.0)


def test_a_503_or_504_with_a_reason_is_an_acceptable_error():
    outcome = api_errors(summary(("POST /fitness/workouts", 201, "{}"),
                                 ("POST /fitness/workouts", 503, '{"detail": "the database is not reachable"}'),
                                 ("GET /relay/{id}", 504, '{"detail":"the chain did not answer in time"}')))
    assert outcome.ok, outcome.details
    assert outcome.details["errors_5xx"] == 2


def test_a_500_fails_in_whichever_phase_it_came():
    calm = summary(("GET /notifications", 200, "[]"))
    stormy = summary(("GET /notifications", 500, "Internal Server Error"))
    outcome = api_errors(calm, stormy)
    assert not outcome.ok
    assert outcome.details["not_503_or_504"] == {"GET /notifications": {"500": 1}}


def test_a_503_that_does_not_say_why_fails():
    outcome = api_errors(summary(("POST /relay/purchases", 503, "Service Unavailable")))
    assert not outcome.ok
    assert outcome.details["without_a_reason"][0]["endpoint"] == "POST /relay/purchases"


def test_client_errors_are_counted_and_kept_but_are_not_api_failures():
    measured = summary(("POST /fitness/workouts", 422, '{"detail": "ended_at is in the future"}'))
    assert measured["endpoints"]["POST /fitness/workouts"]["statuses"] == {"422": 1}
    assert measured["errors_4xx"][0]["body"] == '{"detail": "ended_at is in the future"}'
    assert api_errors(measured).ok


def test_percentiles_and_the_histogram_follow_the_samples():
    samples = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms
    assert percentile(samples, 0.5) == 0.051 and percentile(samples, 0.99) == 0.1
    assert percentile([], 0.5) is None
    counts = histogram(samples + [20.0])
    assert counts["<=10"] == 10 and counts["<=25"] == 15 and counts["<=100"] == 50 and counts[">10000"] == 1
    assert sum(counts.values()) == 101
