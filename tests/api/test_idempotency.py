"""Idempotency-Key: a retry gets the first answer and writes nothing; another body is 422."""

from __future__ import annotations

import asyncio
import uuid

from home.roster.tables import ActivityPeriod, AuditEntry, Member
from tests.api.test_members import at


async def test_retry_with_the_same_key_and_body_replays_the_first_answer(system):
    member = await system.add_member()
    key = str(uuid.uuid4())
    first = await system.start(member, at=at(2), idempotency_key=key)
    audited = await AuditEntry.count()
    again = await system.start(member, at=at(2), idempotency_key=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await ActivityPeriod.count() == 1
    assert await AuditEntry.count() == audited, "a replay writes nothing"


async def test_json_written_differently_is_the_same_body(system):
    key = str(uuid.uuid4())
    first = await system.post(
        "/members", content=b'{"real_name": "Ada", "tz": "UTC"}', idempotency_key=key
    )
    again = await system.post(
        "/members", content=b'{ "tz":"UTC",  "real_name":"Ada" }', idempotency_key=key
    )
    assert again.status_code == 201 and again.json() == first.json()
    assert await Member.count() == 1


async def test_the_same_key_with_another_body_is_422_and_writes_nothing(system):
    member = await system.add_member()
    key = str(uuid.uuid4())
    await system.add_period(member, at(5), at(4), idempotency_key=key)
    before = (await ActivityPeriod.count(), await AuditEntry.count())
    other = await system.add_period(member, at(3), at(2), idempotency_key=key)
    assert other.status_code == 422
    assert "used before with a different request" in other.json()["error"]
    assert (await ActivityPeriod.count(), await AuditEntry.count()) == before


async def test_the_same_key_on_another_endpoint_is_another_request(system):
    member = await system.add_member()
    key = str(uuid.uuid4())
    assert (await system.start(member, at=at(2), idempotency_key=key)).status_code == 201
    stop = await system.stop(member, at=at(2), idempotency_key=key)
    assert stop.status_code == 422


async def test_a_refusal_is_replayed_too_so_a_retry_never_changes_the_outcome(system):
    member = await system.add_member()
    key = str(uuid.uuid4())
    refused = await system.stop(member, idempotency_key=key)
    assert refused.status_code == 409
    await system.start(member, at=at(1))
    again = await system.stop(member, idempotency_key=key)
    assert again.status_code == 409 and again.content == refused.content
    assert again.headers["idempotent-replayed"] == "true"


async def test_keys_belong_to_their_api_key(system, adapter, client):
    from tests.support.client_system import ClientSystem

    other = await ClientSystem.register(client, adapter)
    key = "shared-key"
    mine = await system.post("/members", {"real_name": "Mine", "tz": "UTC"}, idempotency_key=key)
    theirs = await other.post("/members", {"real_name": "Theirs", "tz": "UTC"}, idempotency_key=key)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]


async def test_concurrent_retries_with_one_key_write_once_and_answer_alike(system):
    member = await system.add_member()
    key = str(uuid.uuid4())
    answers = await asyncio.gather(
        *(system.add_period(member, at(3), at(2), idempotency_key=key) for _ in range(10))
    )
    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.content for answer in answers}) == 1
    assert await ActivityPeriod.count() == 1


async def test_a_key_that_cannot_be_a_key_is_refused(system):
    response = await system.post(
        "/members", {"real_name": "A", "tz": "UTC"}, idempotency_key="x" * 300
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]
    assert await Member.count() == 0
