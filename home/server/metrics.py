"""Prometheus metrics: every metric the service records, the helpers that record them, and
`GET /metrics`, which serves them in the Prometheus text format.

The metrics are prometheus_client's, defined here once for the process. The production command
(`serve.py`) gives its workers one fresh directory in `PROMETHEUS_MULTIPROC_DIR` before they
start (prometheus_client's multiprocess mode), so each worker writes its counts there and
`/metrics`, whichever worker answers it, adds up all of them. A single process (tests,
`uvicorn app:create_app --factory`) counts in memory. No gauge here is "live" (per running
process), so a worker that exits keeps its counts and needs no clean-up.

Requests are observed by the access log (`home/web/access_log.py`), which already times every
request. We do not use Litestar's PrometheusMiddleware: it adds a layer that builds a `Request`
and looks up four labelled series per request (about +25 µs on a cached /fetch/ of 78 µs,
against +2 µs here) and it misses requests no route matched.
"""

from __future__ import annotations

from litestar.plugins.prometheus import PrometheusController
from prometheus_client import Counter, Histogram

from home.api.auth import require_metrics_token

# The route of a request no route matched (404, 405, or refused by a wrapper before routing).
UNMATCHED = "unmatched"
# Cached /fetch/ answers take well under a millisecond; renders of large rosters take seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter(
    "roster_http_requests_total",
    "HTTP requests answered, by method, route template (e.g. /fetch, /admin, unmatched) and status",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "roster_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
FETCH_CACHE = Counter(
    "roster_fetch_cache_total",
    "GET /fetch/ bodies found in the cache of the current data version (hit) or not (miss: "
    "rendered for the request, or awaited from a render in flight); 304s are not counted",
    ["result"],
)
FETCH_CACHE_HIT = FETCH_CACHE.labels("hit")
FETCH_CACHE_MISS = FETCH_CACHE.labels("miss")
FETCH_RENDERS = Counter(
    "roster_fetch_renders_total", "/fetch/ bodies rendered from the database (whole or streamed)"
)
DATA_VERSION_CHANGES = Counter(
    "roster_data_version_changes_total",
    "New data versions (a committed change to members or periods) noticed by /fetch/; each "
    "worker counts the changes it notices",
)
DATABASE_UNAVAILABLE = Counter(
    "roster_database_unavailable_total",
    "503 answers because the database could not answer, by error (the exception's type)",
    ["error"],
)
ADMIN_LOGIN_FAILURES = Counter(
    "roster_admin_login_failures_total",
    "Admin logins refused: wrong credentials or not an active admin (refused), or asked to "
    "wait by the login throttle (rate_limited)",
    ["reason"],
)
ADMIN_LOGIN_REFUSED = ADMIN_LOGIN_FAILURES.labels("refused")
ADMIN_LOGIN_RATE_LIMITED = ADMIN_LOGIN_FAILURES.labels("rate_limited")

WEBHOOK_ATTEMPTS = Counter(
    "roster_webhook_attempts_total",
    "Webhook delivery attempts, by outcome: delivered, redelivered, failed (retried later), "
    "gone (410: endpoint disabled), gave up (retries used up: endpoint disabled), redelivery "
    "failed",
    ["outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "roster_webhook_attempt_duration_seconds",
    "Time an endpoint took to answer a delivery (or to fail)",
    buckets=LATENCY_BUCKETS,
)

# Each (method, route, status) seen so far, with its series: `labels()` takes a lock and
# builds a key on every call, which the hot path does without.
_request_series: dict[tuple[str, str, int], tuple] = {}


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """Count one answered HTTP request and its duration (`route`: the matched path template)."""
    key = (method, route or UNMATCHED, status)
    series = _request_series.get(key)
    if series is None:
        series = _request_series[key] = (
            REQUESTS.labels(key[0], key[1], str(status)),
            REQUEST_SECONDS.labels(key[0], key[1]),
        )
    series[0].inc()
    series[1].observe(seconds)


def database_unavailable(error: str) -> None:
    """Count one 503 answered because the database could not answer (`error`: its type)."""
    DATABASE_UNAVAILABLE.labels(error).inc()


class MetricsController(PrometheusController):
    """`GET /metrics`: every metric in the Prometheus text format, summed over the workers
    (Litestar's controller reads PROMETHEUS_MULTIPROC_DIR when it is set)."""

    path = "/metrics"
    guards = [require_metrics_token]
    include_in_schema = False
