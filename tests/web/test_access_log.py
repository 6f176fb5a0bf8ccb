"""The access log: one JSON line per request on standard output, with the path the client
asked for, written in one piece."""

from __future__ import annotations

import json


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
    assert line["ms"] >= 0 and line["bytes"] > 0
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
