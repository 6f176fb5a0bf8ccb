"""The access log: one JSON line per request on standard output, with the path the client
asked for, written in one piece."""

from __future__ import annotations

import json

import httpx

from home.web.edge import Edge


def logged(capfd) -> list[dict]:
    """The access-log lines written to standard output since the last call."""
    out = capfd.readouterr().out
    return [json.loads(text) for text in out.splitlines() if text.startswith('{"ts"')]


async def test_access_log_has_one_json_line_with_the_real_admin_path(client, capfd):
    capfd.readouterr()
    await client.get("/admin/api/tables/member/?__page=2", headers={"x-request-id": "req-42"})
    [line] = logged(capfd)
    assert line["method"] == "GET"
    assert line["path"] == "/admin/api/tables/member/"
    assert line["query"] == "__page=2"
    assert line["status"] == 401
    assert line["request_id"] == "req-42"
    assert line["ms"] > 0 and line["bytes"] > 0
    assert line["ts"].endswith("+00:00") and line["client"]


async def test_access_log_covers_requests_no_route_matches(client, capfd):
    capfd.readouterr()
    response = await client.delete("/fetch/")
    assert response.status_code == 405 and response.json()["ok"] is False
    [line] = logged(capfd)
    assert line["status"] == 405
    assert response.headers["x-request-id"] == line["request_id"]


async def test_a_request_id_that_is_not_sane_is_replaced(client, capfd):
    capfd.readouterr()
    response = await client.get("/health/live", headers={"x-request-id": "bad id\twith spaces"})
    [line] = logged(capfd)
    assert line["request_id"] == response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(line["request_id"]) == 32


async def test_access_log_times_the_request_from_arrival_to_its_last_byte():
    """`ms` is the clock's reading after the response less its reading on arrival."""
    readings = iter([100.0, 100.25])  # the clock is read twice: on arrival and at the end
    written: list[bytes] = []

    async def answer(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"twelve bytes"})

    edge = Edge(answer, write=written.append, clock=lambda: next(readings))
    transport = httpx.ASGITransport(app=edge)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
        assert (await http.get("/timed")).status_code == 200
    [line] = [json.loads(text) for text in written]
    assert (line["ms"], line["bytes"], line["status"]) == (250.0, 12, 200)
