"""The webhook relay: signed deliveries in change order, retries on the schedule, Retry-After,
disabling on 410 and when the schedule runs out, no requests into private networks."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from home.changes import webhooks
from home.changes.feed import read_changes
from home.changes.relay import Relay
from home.changes.tables import WebhookAttempt, WebhookEndpoint
from home.changes.watch import FeedWatcher
from home.changes.webhooks import RefusedAddress, check_url
from home.tooling.receiver import Receiver, serving
from tests.factories import make_member, make_period
from tests.support.webhooks import NOW, SCHEDULE, SETTINGS, Clock, Middle, answering


def relay_for(app, clock: Clock, transport=None, settings=SETTINGS, **options) -> Relay:
    return Relay(
        app.state.storage, settings, FeedWatcher(), clock, Middle(), transport=transport, **options
    )


async def register(adapter, url: str, types=("*",), clock: Clock | None = None):
    """An endpoint registered as an operator would; it and its secret."""
    when = datetime.fromtimestamp((clock or Clock())(), UTC)
    return await webhooks.register(adapter, url, list(types), "test operator", True, when)


async def attempts() -> list[dict]:
    return await WebhookAttempt.select().order_by(WebhookAttempt.id)


async def endpoint_row(endpoint_id: int) -> dict:
    return await WebhookEndpoint.select().where(WebhookEndpoint.id == endpoint_id).first()


async def test_deliveries_are_signed_as_standard_webhooks_receivers_verify(app, adapter):
    receiver = Receiver()
    async with serving(receiver) as url:
        endpoint, secret = await register(adapter, f"{url}/hooks")
        receiver.secret = secret
        member = await make_member("SIGNED", tz="Asia/Kolkata")
        # Receivers refuse a timestamp more than 5 minutes from their own clock.
        clock = Clock(datetime.now(UTC))
        relay = relay_for(app, clock)
        try:
            assert await relay.run_once() == 1
        finally:
            await relay.close()
    [delivery] = receiver.deliveries
    assert delivery.verified
    payload = Webhook(secret).verify(delivery.body, delivery.headers)
    assert payload["type"] == "member.created"
    assert payload["data"] == {"id": str(member.id), "real_name": "SIGNED", "tz": "Asia/Kolkata"}
    [change] = (await read_changes(adapter, None, 10)).changes
    assert (delivery.id, payload["timestamp"]) == (change.id, change.at)
    assert delivery.timestamp == str(int(clock.now))
    assert delivery.signature.startswith("v1,")
    assert delivery.headers["content-type"] == "application/json"
    [logged] = await attempts()
    assert (logged["outcome"], logged["status_code"], logged["attempt"]) == ("delivered", 200, 1)
    assert logged["change_id"] == delivery.id and logged["duration_ms"] >= 0
    assert (await endpoint_row(endpoint.id))["last_delivery_at"] is not None


async def test_changes_arrive_in_order_and_only_the_types_asked_for(app, adapter):
    seen, transport = answering(200)
    await register(adapter, "http://127.0.0.1:9/periods", types=["period.created"])
    await register(adapter, "http://127.0.0.1:9/everything")
    member = await make_member("ORDER")
    for day in range(3):
        start = NOW - timedelta(days=10 - day)
        await make_period(member, start, start + timedelta(hours=1))
    relay = relay_for(app, Clock(), transport)
    try:
        assert await relay.run_once() == 3 + 4
    finally:
        await relay.close()
    by_path: dict[str, list[str]] = {}
    for request in seen:
        by_path.setdefault(request.url.path, []).append(json.loads(request.content)["type"])
    assert by_path["/periods"] == ["period.created"] * 3
    assert by_path["/everything"] == ["member.created"] + ["period.created"] * 3
    ids = [request.headers["webhook-id"] for request in seen if request.url.path == "/periods"]
    assert ids == sorted(ids, key=lambda cursor: [int(part, 16) for part in cursor.split(".")])
    # Nothing is sent twice: the endpoints' positions moved on.
    again = relay_for(app, Clock(), transport)
    try:
        assert await again.run_once() == 0
    finally:
        await again.close()


async def test_a_failure_is_retried_on_the_schedule_then_the_endpoint_is_disabled(app, adapter):
    clock = Clock()
    seen, transport = answering(500)
    endpoint, _ = await register(adapter, "http://127.0.0.1:9/broken", clock=clock)
    await make_member("RETRIED")
    relay = relay_for(app, clock, transport)
    try:
        assert await relay.run_once() == 1
        for delay in SCHEDULE:
            row = await endpoint_row(endpoint.id)
            assert row["next_attempt_at"] == datetime.fromtimestamp(clock.now + delay, UTC)
            clock.forward(delay - 1)
            assert await relay.run_once() == 0, "retried before its time"
            clock.forward(1)
            assert await relay.run_once() == 1
    finally:
        await relay.close()
    assert len({request.headers["webhook-id"] for request in seen}) == 1  # the same change
    row = await endpoint_row(endpoint.id)
    assert row["enabled"] is False or row["enabled"] == 0
    assert (
        "gave up on change" in row["disabled_reason"]
        and "after 4 attempts" in row["disabled_reason"]
    )
    assert "answered 500" in row["disabled_reason"]
    logged = await attempts()
    assert [entry["attempt"] for entry in logged] == [1, 2, 3, 4]
    assert [entry["outcome"] for entry in logged] == ["failed"] * 3 + ["gave up"]
    assert {entry["status_code"] for entry in logged} == {500}
    listed = await webhooks.get_endpoint(endpoint.id)
    assert not listed.enabled and listed.disabled_reason == row["disabled_reason"]


async def test_enabling_again_resumes_with_the_change_that_failed(app, adapter):
    clock = Clock()
    _, failing = answering(500)
    endpoint, _ = await register(adapter, "http://127.0.0.1:9/later", clock=clock)
    await make_member("FIRST")
    await make_member("SECOND")
    await webhooks.disable(adapter, endpoint.id, "maintenance", "test operator")
    relay = relay_for(app, clock, failing)
    try:
        assert await relay.run_once() == 0  # disabled: nothing is sent
    finally:
        await relay.close()
    assert (await webhooks.get_endpoint(endpoint.id)).disabled_reason == "maintenance"
    await webhooks.enable(adapter, endpoint.id, "test operator")
    seen, working = answering(200)
    relay = relay_for(app, clock, working)
    try:
        assert await relay.run_once() == 2
    finally:
        await relay.close()
    names = [json.loads(request.content)["data"]["real_name"] for request in seen]
    assert names == ["FIRST", "SECOND"]


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(app, adapter, status):
    clock = Clock()
    _, transport = answering(status, headers={"retry-after": "120"})
    endpoint, _ = await register(adapter, "http://127.0.0.1:9/busy", clock=clock)
    await make_member("BUSY")
    relay = relay_for(app, clock, transport)
    try:
        assert await relay.run_once() == 1
    finally:
        await relay.close()
    row = await endpoint_row(endpoint.id)
    assert row["next_attempt_at"] == datetime.fromtimestamp(clock.now + 120, UTC)
    [logged] = await attempts()
    assert (logged["status_code"], logged["error"]) == (status, f"answered {status}")


async def test_410_disables_the_endpoint_at_once(app, adapter):
    _, transport = answering(410)
    endpoint, _ = await register(adapter, "http://127.0.0.1:9/gone")
    await make_member("GONE")
    await make_member("NEVER SENT")
    relay = relay_for(app, Clock(), transport)
    try:
        assert await relay.run_once() == 1
    finally:
        await relay.close()
    found = await webhooks.get_endpoint(endpoint.id)
    assert not found.enabled and "answered 410 Gone" in found.disabled_reason
    assert [entry["outcome"] for entry in await attempts()] == ["gone"]


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (httpx.ConnectError("Connection refused"), "no connection: Connection refused"),
        (httpx.ReadTimeout("timed out"), "no answer within 2 s"),
    ],
    ids=["refused", "no-answer"],
)
async def test_no_connection_or_no_answer_is_a_failure(app, adapter, failure, says):
    def handle(_request: httpx.Request) -> httpx.Response:
        raise failure

    endpoint, _ = await register(adapter, "http://127.0.0.1:9/down")
    await make_member("DOWN")
    relay = relay_for(app, Clock(), httpx.MockTransport(handle))
    try:
        assert await relay.run_once() == 1
    finally:
        await relay.close()
    [logged] = await attempts()
    assert (logged["outcome"], logged["status_code"], logged["error"]) == ("failed", None, says)
    assert (await endpoint_row(endpoint.id))["failures"] == 1


async def test_a_redirect_is_not_followed(app, adapter):
    seen, transport = answering(302, headers={"location": "http://10.0.0.1/"})
    await register(adapter, "http://127.0.0.1:9/moved")
    await make_member("MOVED")
    relay = relay_for(app, Clock(), transport)
    try:
        assert await relay.run_once() == 1
    finally:
        await relay.close()
    assert len(seen) == 1
    [logged] = await attempts()
    assert "a redirect, which is not followed" in logged["error"]


async def test_a_failing_endpoint_does_not_hold_up_the_others(app, adapter):
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500 if request.url.path == "/broken" else 200)

    seen: list[str] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return handle(request)

    await register(adapter, "http://127.0.0.1:9/broken")
    await register(adapter, "http://127.0.0.1:9/fine")
    for number in range(3):
        await make_member(f"MEMBER{number}")
    relay = relay_for(app, Clock(), httpx.MockTransport(recording))
    try:
        await relay.run_once()
    finally:
        await relay.close()
    assert seen.count("/fine") == 3 and seen.count("/broken") == 1


async def test_an_operator_can_send_a_change_again(app, adapter):
    seen, transport = answering(200)
    endpoint, _ = await register(adapter, "http://127.0.0.1:9/again")
    await make_member("AGAIN")
    relay = relay_for(app, Clock(), transport)
    try:
        await relay.run_once()
        [first] = seen
        change_id = first.headers["webhook-id"]
        await webhooks.redeliver(adapter, endpoint.id, change_id, "admin keeper", NOW)
        assert await relay.run_once() == 1
        assert await relay.run_once() == 0  # once
    finally:
        await relay.close()
    assert [request.headers["webhook-id"] for request in seen] == [change_id, change_id]
    assert [entry["outcome"] for entry in await attempts()] == ["delivered", "redelivered"]
    with pytest.raises(webhooks.WebhookError, match="no change"):
        await webhooks.redeliver(adapter, endpoint.id, "0.ffffff", "admin keeper", NOW)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://[::1]:8080/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fd00:ec2::254]/", "private"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://100.64.0.1/", "private or reserved"),
        ("http://0.0.0.0/", "private or reserved"),
        # IPv6 addresses that lead to an IPv4 one through a gateway or a tunnel.
        ("http://[2002:7f00:1::1]/", "loopback address inside a 6to4 address"),
        ("http://[2002:a9fe:a9fe::]/", "link-local address .* inside a 6to4 address"),
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local address .* inside a NAT64 address"),
        ("http://[64:ff9b:1::a00:1]/", "private or reserved address inside a NAT64 address"),
        ("http://[::7f00:1]/", "loopback address inside an IPv4-compatible address"),
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "loopback address inside a Teredo"),
    ],
)
async def test_private_addresses_are_refused(url, reason):
    with pytest.raises(RefusedAddress, match=reason):
        await check_url(url, allow_private=False)


@pytest.mark.parametrize(
    "url", ["http://[2002:5db8:d822::1]/", "http://[64:ff9b::5db8:d822]/", "http://93.184.216.34/"]
)
async def test_public_addresses_pass_however_they_are_written(url):
    assert (await check_url(url, allow_private=False)).url == url


async def test_a_name_that_resolves_privately_is_refused_at_registration_and_delivery(app, adapter):
    addresses = {"hooks.example.com": ["93.184.216.34"]}

    async def resolve(host: str, _port: int) -> list[str]:
        return addresses[host]

    target = await check_url("https://hooks.example.com/x", False, resolve)
    assert target.url == "https://93.184.216.34/x"  # deliveries connect to the checked address
    assert (target.host_header, target.server_name) == ("hooks.example.com", "hooks.example.com")
    addresses["evil.example.com"] = ["93.184.216.34", "10.0.0.5"]
    with pytest.raises(RefusedAddress, match="resolves to 10.0.0.5, a private"):
        await check_url("https://evil.example.com/", False, resolve)
    # Registered while public, the name later resolves to a private address: not delivered.
    public = dataclasses.replace(SETTINGS, webhook_allow_private=False)
    endpoint, _ = await webhooks.register(
        adapter, "https://hooks.example.com/x", ["*"], "test operator", False, NOW, resolve
    )
    addresses["hooks.example.com"] = ["127.0.0.1"]
    seen, transport = answering(200)
    await make_member("REBOUND")
    relay = relay_for(app, Clock(), transport, settings=public, resolve=resolve)
    try:
        assert await relay.run_once() == 1
    finally:
        await relay.close()
    assert seen == []
    [logged] = await attempts()
    assert logged["error"].startswith("refused: the host 'hooks.example.com' resolves to 127.0.0.1")
    assert (await endpoint_row(endpoint.id))["failures"] == 1


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/", "must start with https:// or http://"),
        ("https://user:pw@example.com/", "must not hold a user name or password"),
        ("https:///nohost", "has no host name"),
        ("", "url must be the endpoint's address"),
        ("http://6\x00/", "must not contain control characters"),
        ("http://exa\x7fmple.com/", "must not contain control characters"),
    ],
)
async def test_urls_that_cannot_be_used_are_refused(url, says):
    with pytest.raises(webhooks.WebhookError, match=says):
        await check_url(url, allow_private=True)


async def test_refused_registrations_write_nothing(adapter):
    for url, types in (
        ("http://10.0.0.1/", ["*"]),
        ("http://127.0.0.1/", ["nonsense"]),
        ("http://127.0.0.1/", []),
    ):
        with pytest.raises(webhooks.WebhookError):
            await webhooks.register(adapter, url, types, "test operator", False, NOW)
    assert await WebhookEndpoint.count() == 0


async def test_the_lease_outlasts_every_delivery_to_a_slow_endpoint(app, adapter):
    """Deliveries that together take longer than the lease: the relay renews it before each
    one that could outlast it, so no other relay may take the endpoint over meanwhile."""
    settings = dataclasses.replace(SETTINGS, webhook_timeout=0.5, webhook_lease_seconds=1.5)
    left: list[float] = []  # seconds the stored lease still ran, as each delivery began

    async def slow(request: httpx.Request) -> httpx.Response:
        [row] = await WebhookEndpoint.select(WebhookEndpoint.lease_until)
        left.append((row["lease_until"] - datetime.now(UTC)).total_seconds())
        await asyncio.sleep(0.3)  # well within the timeout
        return httpx.Response(200)

    await register(adapter, "http://127.0.0.1:9/slow", clock=Clock(datetime.now(UTC)))
    for n in range(8):  # 8 x 0.3 s: longer than the lease
        await make_member(f"SLOW{n}")
    relay = relay_for(app, time.time, httpx.MockTransport(slow), settings=settings)
    try:
        assert await relay.run_once() == 8
    finally:
        await relay.close()
    assert len(left) == 8
    assert min(left) > settings.webhook_timeout, left
