"""The access log: one JSON line per request, with the path the client asked for."""

from __future__ import annotations

import json
import logging


async def test_access_log_has_one_json_line_with_the_real_admin_path(client, caplog):
    caplog.set_level(logging.INFO, logger="roster.access")
    await client.get("/admin/api/tables/member/?__page=2", headers={"x-request-id": "req-42"})
    [record] = [r for r in caplog.records if r.name == "roster.access"]
    line = json.loads(record.getMessage())
    assert "\n" not in record.getMessage()
    assert line["method"] == "GET"
    assert line["path"] == "/admin/api/tables/member/"
    assert line["query"] == "__page=2"
    assert line["status"] == 401
    assert line["request_id"] == "req-42"
    assert line["ms"] >= 0 and line["bytes"] > 0


async def test_access_log_covers_requests_no_route_matches(client, caplog):
    caplog.set_level(logging.INFO, logger="roster.access")
    response = await client.delete("/fetch/")
    assert response.status_code == 405 and response.json()["ok"] is False
    [record] = [r for r in caplog.records if r.name == "roster.access"]
    assert json.loads(record.getMessage())["status"] == 405
    assert response.headers["x-request-id"] == json.loads(record.getMessage())["request_id"]
