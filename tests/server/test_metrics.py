"""GET /metrics: off by default, token-protected when configured, the Prometheus text format,
counters that move with what they count, and totals that add up over the production command's
workers."""

from __future__ import annotations

import asyncio
import dataclasses
import glob
import os
import tempfile

import pytest

from app import create_app
from home.tooling.servers import Server
from tests.conftest import TEST_SETTINGS, http_client
from tests.factories import make_member
from tests.support.admin import AdminSession, create_admin_user
from tests.support.metrics import scrape, value

TOKEN = "metrics-token-0123456789"
METRIC_NAMES = [
    "roster_http_requests_total",
    "roster_http_request_duration_seconds",
    "roster_fetch_cache_total",
    "roster_fetch_renders_total",
    "roster_data_version_changes_total",
    "roster_database_unavailable_total",
    "roster_admin_login_failures_total",
]


@pytest.fixture
async def metrics_app(db):
    """The app with METRICS=on, on SQLite and on PostgreSQL."""
    app = create_app(dataclasses.replace(TEST_SETTINGS, metrics=True))
    yield app
    await app.state.storage.close()


@pytest.fixture
async def http(metrics_app):
    """An HTTP client for the app with METRICS=on."""
    async with http_client(metrics_app) as client:
        yield client


async def test_metrics_are_off_by_default(client):
    assert (await client.get("/metrics")).status_code == 404


async def test_metrics_serve_the_prometheus_text_format(http):
    before = await scrape(http)
    assert (await http.get("/fetch/")).status_code == 200
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in response.text, name
    # The counts live in the process, which other tests use too: compare with before.
    for name, labels in (
        ("roster_http_requests_total", {"route": "/fetch", "status": "200"}),
        ("roster_http_request_duration_seconds_bucket", {"route": "/fetch", "le": "+Inf"}),
    ):
        assert value(response.text, name, **labels) - value(before, name, **labels) == 1, name


async def test_metrics_need_the_token_when_one_is_set(db, client_for):
    http = client_for(metrics=True, metrics_token=TOKEN)
    missing = await http.get("/metrics")
    assert missing.status_code == 401
    assert missing.json()["ok"] is False and "Authorization: Bearer" in missing.json()["error"]
    wrong = await http.get("/metrics", headers={"authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and "METRICS_TOKEN" in wrong.json()["error"]
    assert "roster_http_requests_total" in await scrape(http, authorization=f"Bearer {TOKEN}")


async def test_metrics_skip_the_host_check_so_prometheus_can_scrape_an_address(db, client_for):
    http = client_for(metrics=True, allowed_hosts=("roster.example.com",))
    assert (await http.get("/fetch/")).status_code == 400
    assert (await http.get("/metrics")).status_code == 200


async def test_requests_are_counted_by_route_and_status(http):
    before = await scrape(http)
    for _ in range(3):
        await http.get("/fetch/", params={"limit": "0"})
    await http.get("/no-such-page")
    after = await scrape(http)

    def delta(**labels: str) -> float:
        name = "roster_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(method="GET", route="/fetch", status="400") == 3
    assert delta(method="GET", route="unmatched", status="404") == 1
    count = "roster_http_request_duration_seconds_count"
    assert value(after, count, route="/fetch") - value(before, count, route="/fetch") == 3


async def test_fetch_counts_cache_hits_misses_renders_and_data_version_changes(http):
    await make_member("Ada")
    before = await scrape(http)
    await http.get("/fetch/")  # rendered
    await http.get("/fetch/")  # cached
    await make_member("Grace")  # a new data version
    await http.get("/fetch/")  # rendered again
    after = await scrape(http)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("roster_fetch_cache_total", result="miss") == 2
    assert delta("roster_fetch_cache_total", result="hit") == 1
    assert delta("roster_fetch_renders_total") == 2
    assert delta("roster_data_version_changes_total") == 1


async def test_database_outages_count_their_503s(db, http, monkeypatch):
    before = await scrape(http)

    async def refused(*_args, **_kwargs):
        raise ConnectionRefusedError("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(type(db.engine), "run_querystring", refused)
        assert (await http.get("/health/ready")).status_code == 503
    after = await scrape(http)
    name = "roster_database_unavailable_total"
    error = {"error": "ConnectionRefusedError"}
    assert value(after, name, **error) - value(before, name, **error) == 1
    requests = {"route": "/health/ready", "status": "503"}
    name = "roster_http_requests_total"
    assert value(after, name, **requests) - value(before, name, **requests) == 1


async def test_admin_login_failures_are_counted(db, client_for, tmp_path):
    http = client_for(
        clock=lambda: 1_800_000_000.0,  # no time passes: the third attempt must wait
        metrics=True,
        login_pair_limit=2,
        login_rate_state=tmp_path / "logins.sqlite",
    )
    await create_admin_user("operator")
    before = await scrape(http)
    admin = await AdminSession(http).open()
    statuses = [(await admin.login("operator", "wrong-password")).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    after = await scrape(http)
    name = "roster_admin_login_failures_total"
    assert value(after, name, reason="refused") - value(before, name, reason="refused") == 2
    limited = {"reason": "rate_limited"}
    assert value(after, name, **limited) - value(before, name, **limited) == 1


def metrics_directory_of(server: Server) -> str:
    """The directory where the server's workers keep their counts (each writes files named
    after its pid there)."""
    pids = server.worker_pids()
    [directory] = {
        os.path.dirname(path)
        for path in glob.glob(os.path.join(tempfile.gettempdir(), "roster-metrics-*", "*.db"))
        if any(path.endswith(f"_{pid}.db") for pid in pids)
    }
    return directory


async def test_metrics_add_up_over_the_production_commands_workers(databases):
    database = await databases("sqlite")
    each = 30
    with Server(database.env, workers=2, METRICS="on", METRICS_TOKEN=TOKEN) as server:
        pinned = await server.clients_per_worker()
        try:
            for http in pinned.values():
                responses = await asyncio.gather(*(http.get("/fetch/") for _ in range(each)))
                assert {response.status_code for response in responses} == {200}
            # A worker counts a request just before it logs it, after answering it.
            await server.wait_for_log(
                lambda lines: sum(line["path"] == "/fetch/" for line in lines) == 2 * each
            )
            # Whichever worker answers /metrics reports both workers' counts.
            scrapes = {
                pid: await scrape(http, authorization=f"Bearer {TOKEN}")
                for pid, http in pinned.items()
            }
            assert (await pinned[min(pinned)].get("/metrics")).status_code == 401
            directory = metrics_directory_of(server)
        finally:
            for http in pinned.values():
                await http.aclose()
    assert len(scrapes) == 2
    for text in scrapes.values():
        assert value(text, "roster_http_requests_total", route="/fetch", status="200") == 2 * each
        assert value(text, "roster_fetch_cache_total") == 2 * each  # hits and misses
    # The workers' counts lived in a directory of their own, removed when the server stopped.
    assert glob.glob(directory) == []
