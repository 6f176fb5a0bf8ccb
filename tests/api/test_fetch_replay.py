"""The edge's replay of cached /fetch/ answers: the same answer the route gives, only sooner.

`FetchService.replay` answers a request whose path and query string the route has validated
before, from the cache, before the app routes it. These tests hold it to the route's answers
byte for byte and header for header, and check that it steps aside for anything else.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import make_member, make_period, write_outside_app
from tests.support.metrics import scrape, series, value

# Headers that differ between any two answers, whoever gives them (on PostgreSQL the change
# feed's position is read with each request).
PER_REQUEST = {"x-request-id", "date", "changes-cursor"}


def _answer(response) -> tuple[int, bytes, set[tuple[str, str]]]:
    assert response.headers["changes-cursor"]
    headers = {
        (name.lower(), value) for name, value in response.headers.items()
        if name.lower() not in PER_REQUEST
    }  # fmt: skip
    return response.status_code, response.content, headers


class RouteCalls:
    """Counts the requests the /fetch/ route answers (the rest were replayed)."""

    def __init__(self, service, monkeypatch):
        self.count = 0
        original = service.get

        async def counted(*args, **kwargs):
            self.count += 1
            return await original(*args, **kwargs)

        monkeypatch.setattr(service, "get", counted)


@pytest.fixture
def route_calls(app, monkeypatch) -> RouteCalls:
    return RouteCalls(app.state.fetch, monkeypatch)


async def _roster() -> None:
    alpha = await make_member("ALPHA", tz="Asia/Kolkata")
    start = datetime(2020, 2, 1, 13, 33, tzinfo=UTC)
    await make_period(alpha, start, start + timedelta(minutes=81))
    await make_member("BRAVO")


@pytest.mark.parametrize(
    ("url", "encoding"),
    [
        ("/fetch/", "identity"),
        ("/fetch/", "gzip"),
        ("/fetch/?style=fullthrottle", "identity"),
        ("/fetch/?limit=1", "gzip, deflate"),
        ("/fetch/?name=alp&tz=Asia%2FKolkata", "identity"),
    ],
)
async def test_a_repeated_request_is_replayed_exactly_as_the_route_answered(
    client, route_calls, url, encoding
):
    await _roster()
    headers = {"accept-encoding": encoding}
    first = await client.get(url, headers=headers)
    assert first.status_code == 200 and route_calls.count == 1
    second = await client.get(url, headers=headers)
    assert route_calls.count == 1, "the second request should not reach the route"
    assert _answer(second) == _answer(first)
    # A 304 from the replay is the route's 304.
    revalidate = {**headers, "if-none-match": first.headers["etag"]}
    replayed_304 = await client.get(url, headers=revalidate)
    assert route_calls.count == 1
    assert replayed_304.status_code == 304
    # After a change the old tag is stale: the route renders the new version, once.
    await make_member("CHARLIE")
    changed = await client.get(url, headers=revalidate)
    assert changed.status_code == 200 and route_calls.count == 2
    assert _answer(await client.get(url, headers=headers)) == _answer(changed)
    assert route_calls.count == 2


async def test_replayed_and_routed_304_are_the_same(client, route_calls):
    await _roster()
    etag = (await client.get("/fetch/?limit=2")).headers["etag"]
    revalidate = {"if-none-match": etag}
    replayed = await client.get("/fetch/?limit=2", headers=revalidate)
    assert route_calls.count == 1
    # The same request under a spelling of the query string not seen before goes to the route
    # (an unknown parameter is ignored).
    routed = await client.get(f"/fetch/?limit=2&unseen={uuid.uuid4()}", headers=revalidate)
    assert route_calls.count == 2
    assert replayed.status_code == routed.status_code == 304
    assert _answer(replayed) == _answer(routed)


async def test_a_change_from_outside_the_app_is_seen_by_the_next_replay(db, client):
    await _roster()
    before = (await client.get("/fetch/")).json()
    assert (await client.get("/fetch/")).json() == before
    await write_outside_app(db, "UPDATE member SET real_name = 'ZULU' WHERE real_name = 'BRAVO'")
    after = (await client.get("/fetch/")).json()
    assert [member["real_name"] for member in after["members"]] == ["ALPHA", "ZULU"]


@pytest.mark.parametrize(
    "url", ["/fetch/?limit=0", "/fetch/?style=seed&style=seed", "/fetch/?cursor=abc"]
)
async def test_a_refused_request_is_refused_by_the_route_every_time(app, client, route_calls, url):
    await _roster()
    for _ in range(2):
        response = await client.get(url)
        assert response.status_code == 400
        assert response.json()["ok"] is False
    assert route_calls.count == 0  # refused while parsing, before the service
    assert not [
        key
        for key in app.state.fetch._known
        if key[1:] == tuple(part.encode() for part in url.split("?"))
    ], "a refused request is not remembered"


async def test_only_get_is_replayed(app, client, monkeypatch):
    await _roster()
    await client.get("/fetch/")
    heads = []
    service = app.state.fetch
    real_head = service.head

    async def counted_head(*args):
        heads.append(1)
        return await real_head(*args)

    monkeypatch.setattr(service, "head", counted_head)
    head = await client.head("/fetch/")
    assert head.status_code == 200 and head.content == b""
    assert heads == [1], "HEAD is answered by the route"
    post = await client.post("/fetch/")
    assert post.status_code == 405


async def test_the_replay_is_off_while_fetch_needs_a_token(db, client_for):
    await _roster()
    token = "t" * 32
    guarded = client_for(fetch_token=token)
    allowed = await guarded.get("/fetch/", headers={"authorization": f"Bearer {token}"})
    assert allowed.status_code == 200
    refused = await guarded.get("/fetch/")
    assert refused.status_code == 401


async def test_a_replayed_answer_is_logged_and_counted_as_fetch(db, client_for, capfd):
    await _roster()
    # Built outside the capture: the app's logging set-up keeps the stream it finds.
    with capfd.disabled():
        http = client_for(metrics=True)
    before = await scrape(http)
    await http.get("/fetch/")
    capfd.readouterr()
    replayed = await http.get("/fetch/")
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line]
    assert [(line["path"], line["status"], line["bytes"]) for line in lines] == [
        ("/fetch/", 200, int(replayed.headers["content-length"]))
    ]
    assert replayed.headers["x-request-id"] == lines[0]["request_id"]
    after = await scrape(http)
    # Routed and replayed answers are counted under the one route template, and no other.
    ok = {"method": "GET", "route": "/fetch", "status": "200"}
    name = "roster_http_requests_total"
    assert value(after, name, **ok) - value(before, name, **ok) == 2
    assert {
        labels["route"] for labels in series(after, "roster_http_requests_total")
        if "fetch" in labels["route"]
    } == {"/fetch"}  # fmt: skip


async def test_what_the_replay_remembers_is_bounded(app, client, route_calls, monkeypatch):
    from home.api import response as fetch_response

    monkeypatch.setattr(fetch_response, "KNOWN_REQUESTS_MAX", 5)
    service = app.state.fetch
    service._known.clear()
    await _roster()
    for number in range(12):
        await client.get(f"/fetch/?unseen={number}")
    assert 0 < len(service._known) <= 5
    long_query = "/fetch/?unseen=" + "x" * fetch_response.KNOWN_REQUEST_MAX_BYTES
    for _ in range(2):
        assert (await client.get(long_query)).status_code == 200
    assert route_calls.count == 14  # the long one went to the route both times
    assert all(sum(map(len, key)) <= fetch_response.KNOWN_REQUEST_MAX_BYTES
               for key in service._known)  # fmt: skip


async def test_a_host_the_router_refuses_is_refused_after_a_replay_too(client):
    await _roster()
    assert (await client.get("/fetch/?limit=1")).status_code == 200
    for _ in range(2):
        refused = await client.get("/fetch/?limit=1", headers={"host": "a b"})
        assert refused.status_code == 400
        assert "host" in refused.json()["error"].lower()


@pytest.mark.parametrize(
    ("failure", "status"), [(TimeoutError(), 503), (KeyError("secret_column"), 500)]
)
async def test_a_failed_version_read_is_answered_by_the_route_without_a_second_read(
    app, client, monkeypatch, failure, status
):
    """In an outage the replay's failed read is the route's too: asking again would double
    the wait for the database before the 503."""
    await _roster()
    assert (await client.get("/fetch/")).status_code == 200  # learned
    reads = []

    async def fail(*_args, **_kwargs):
        reads.append(1)
        raise failure

    monkeypatch.setattr(app.state.storage.adapter(), "current_version", fail)
    response = await client.get("/fetch/")
    assert response.status_code == status
    assert response.json()["ok"] is False
    assert "secret_column" not in response.text
    assert reads == [1]
