"""/fetch/ sends a fixed number of SQL statements, however many members there are."""

from __future__ import annotations

from tests.factories import make_roster


async def statements_of(app, client, *, cached: bool) -> list[str]:
    """Every statement the read path sends for one GET /fetch/ (after emptying the cache
    unless `cached`)."""
    if not cached:
        app.state.fetch.cache.clear()
    adapter = app.state.storage.adapter()
    adapter.statement_log = log = []
    try:
        response = await client.get("/fetch/")
    finally:
        adapter.statement_log = None
    assert response.status_code == 200
    return log


async def test_fetch_statement_count_does_not_grow_with_members(app, client):
    await make_roster(1)
    # A connection's first use of a type has asyncpg read its codec: not the read path's own.
    await statements_of(app, client, cached=False)
    await make_roster(1)  # each measured request follows a change, as most renders do
    one = await statements_of(app, client, cached=False)
    await make_roster(198)
    many = await statements_of(app, client, cached=False)
    body = (await client.get("/fetch/")).json()
    assert len(body["members"]) == 200
    assert all(len(member["activity"]) == 3 for member in body["members"])
    assert one, "the statement log saw nothing: the count would prove nothing"
    assert len(one) == len(many), (one, many)
    assert len([s for s in many if "activity_period" in s]) == 1, many


async def test_fetch_repeat_request_sends_only_the_version_check(app, client):
    await make_roster(20)
    await client.get("/fetch/")
    log = await statements_of(app, client, cached=True)
    assert len(log) == 1, log
    assert "data_version" in log[0] or "roster_version" in log[0]
