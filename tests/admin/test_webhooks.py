"""Webhooks in the admin: forms register (the secret shown once), disable, enable, give a new
secret, delete and redeliver; the endpoint list and the delivery log are read-only and never
show a secret."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from home.changes.relay import Relay
from home.changes.tables import WebhookAttempt, WebhookEndpoint
from home.changes.watch import FeedWatcher
from tests.factories import make_member
from tests.support.admin import logged_in
from tests.support.webhooks import SETTINGS, Clock, Middle, answering

pytestmark = pytest.mark.filterwarnings("ignore:If running sessions in production:UserWarning")

SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{43}=")


@pytest.fixture
async def admin(db, client_for):
    """An operator logged in to an admin that lets webhooks reach this machine."""
    return await logged_in(client_for(webhook_allow_private=True), "keeper")


async def form(admin, name: str, body: dict):
    return await admin.send("POST", f"/api/forms/{name}/", body)


async def test_an_operator_registers_an_endpoint_and_sees_its_secret_once(admin):
    made = await form(
        admin,
        "register-webhook-endpoint",
        {"url": "http://127.0.0.1:9/hooks", "types": "period.created, period.updated"},
    )
    assert made.status_code == 200, made.text
    [secret] = SECRET.findall(made.text)
    [stored] = await WebhookEndpoint.select(WebhookEndpoint.secret, WebhookEndpoint.types)
    assert stored["secret"] == secret
    assert stored["types"] == '["period.created", "period.updated"]'
    rows = (await admin.get("/tables/webhook_endpoint/")).json()["rows"]
    assert [row["url"] for row in rows] == ["http://127.0.0.1:9/hooks"]
    assert secret not in str(rows) and all(not row.get("secret") for row in rows)
    one = (await admin.get(f"/tables/webhook_endpoint/{rows[0]['id']}/")).json()
    assert secret not in str(one)


async def test_a_refused_registration_says_why(admin):
    refused = await form(admin, "register-webhook-endpoint", {"url": "gopher://x", "types": "*"})
    assert refused.status_code == 422
    assert "must start with https:// or http://" in refused.json()["custom_form_error"]
    assert await WebhookEndpoint.count() == 0


async def test_an_operator_disables_enables_rotates_and_deletes(admin):
    await form(admin, "register-webhook-endpoint", {"url": "http://127.0.0.1:9/x", "types": "*"})
    [row] = await WebhookEndpoint.select(WebhookEndpoint.id, WebhookEndpoint.secret)
    change = {"endpoint_id": row["id"]}
    disabled = await form(
        admin, "change-webhook-endpoint", {**change, "action": "disable", "reason": "moving"}
    )
    assert disabled.status_code == 200, disabled.text
    listed = (await admin.get("/tables/webhook_endpoint/")).json()["rows"][0]
    assert listed["enabled"] is False and listed["disabled_reason"] == "moving"
    await form(admin, "change-webhook-endpoint", {**change, "action": "enable"})
    rotated = await form(admin, "change-webhook-endpoint", {**change, "action": "new secret"})
    [secret] = SECRET.findall(rotated.text)
    assert secret != row["secret"]
    assert (await WebhookEndpoint.select(WebhookEndpoint.secret).first())["secret"] == secret
    await form(admin, "change-webhook-endpoint", {**change, "action": "delete"})
    assert await WebhookEndpoint.count() == 0
    missing = await form(admin, "change-webhook-endpoint", {**change, "action": "enable"})
    assert missing.status_code == 422
    assert "no webhook endpoint with id" in missing.json()["custom_form_error"]


async def test_the_delivery_log_is_read_only_and_a_change_can_be_sent_again(admin, app):
    await form(admin, "register-webhook-endpoint", {"url": "http://127.0.0.1:9/x", "types": "*"})
    await make_member("LOGGED")
    seen, transport = answering(200)
    relay = Relay(
        app.state.storage, SETTINGS, FeedWatcher(), Clock(datetime.now(UTC)), Middle(), transport
    )
    try:
        await relay.run_once()
        [logged] = (await admin.get("/tables/webhook_attempt/")).json()["rows"]
        assert (logged["outcome"], logged["status_code"]) == ("delivered", 200)
        edited = await admin.send(
            "PATCH", f"/api/tables/webhook_attempt/{logged['id']}/", {"outcome": "x"}
        )
        assert edited.status_code == 405
        again = await form(
            admin,
            "redeliver-a-change",
            {"endpoint_id": logged["endpoint"], "change_id": logged["change_id"]},
        )
        assert again.status_code == 200, again.text
        assert await relay.run_once() == 1
    finally:
        await relay.close()
    assert [request.headers["webhook-id"] for request in seen] == [logged["change_id"]] * 2
    assert await WebhookAttempt.count() == 2
    refused = await admin.send("POST", "/api/tables/webhook_endpoint/", {"url": "http://a/"})
    assert refused.status_code == 405
