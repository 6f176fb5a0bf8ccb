"""/fetch/ runs a constant number of SQL queries, however many members there are."""

from __future__ import annotations

import pytest
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from tests.factories import make_roster


@pytest.fixture
def query_log(monkeypatch):
    """Every SQL statement the engines run, in order."""
    seen: list[str] = []
    for engine_class in (SQLiteEngine, PostgresEngine):
        original = engine_class.run_querystring

        async def counting(self, querystring, in_pool=True, _original=original):
            seen.append(str(querystring))
            return await _original(self, querystring, in_pool=in_pool)

        monkeypatch.setattr(engine_class, "run_querystring", counting)
    return seen


async def _queries_for_fetch(client, query_log) -> int:
    query_log.clear()
    response = await client.get("/fetch/")
    assert response.status_code == 200
    return len(query_log)


async def test_fetch_query_count_does_not_grow_with_members(client, query_log):
    await make_roster(1)
    one = await _queries_for_fetch(client, query_log)
    await make_roster(199)
    many = await _queries_for_fetch(client, query_log)
    body = (await client.get("/fetch/")).json()
    assert len(body["members"]) == 200
    assert all(len(member["activity"]) == 3 for member in body["members"])
    assert one == many
    assert many <= 3
