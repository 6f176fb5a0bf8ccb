"""/api/webhooks: registering endpoints (the secret shown once), listing, disabling, enabling,
new secrets and deleting; every change to an endpoint audited; refusals write nothing."""

from __future__ import annotations

import base64
import json

import pytest

from home.changes.tables import WebhookEndpoint
from home.roster.tables import AuditEntry
from tests.support.client_system import ClientSystem

HOOK = {"url": "http://127.0.0.1:9/hooks", "types": ["*"]}


@pytest.fixture
async def operator(db, client_for, adapter):
    """A client system of the operators', on an app that lets webhooks reach this machine."""
    return await ClientSystem.register(client_for(webhook_allow_private=True), adapter)


async def test_registering_answers_the_endpoint_and_its_secret_once(operator):
    created = await operator.post("/webhooks", HOOK)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["url"] == HOOK["url"] and body["types"] == ["*"] and body["enabled"] is True
    assert body["disabled_reason"] is None and body["created_at"].endswith("Z")
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) == 32
    listed = (await operator.get("/webhooks")).json()
    assert listed["ok"] is True
    [shown] = listed["endpoints"]
    assert "secret" not in shown and shown["id"] == body["id"]
    assert body["secret"] not in json.dumps(listed)
    trail = await AuditEntry.select().where(AuditEntry.table_name == "webhook_endpoint")
    assert [(entry["action"], entry["actor"]) for entry in trail] == [
        ("insert", f"api key {operator.name}")
    ]
    assert body["secret"] not in trail[0]["after"] and "secret" not in trail[0]["after"]


async def test_types_are_kept_as_asked(operator):
    body = {"url": HOOK["url"], "types": ["period.created", "period.updated", "period.created"]}
    created = (await operator.post("/webhooks", body)).json()
    assert created["types"] == ["period.created", "period.updated"]


async def test_disable_enable_secret_and_delete(operator):
    endpoint = (await operator.post("/webhooks", HOOK)).json()
    path = f"/webhooks/{endpoint['id']}"
    disabled = await operator.post(f"{path}/disable", {"reason": "moving hosts"})
    assert disabled.status_code == 200, disabled.text
    assert (disabled.json()["enabled"], disabled.json()["disabled_reason"]) == (
        False,
        "moving hosts",
    )
    [listed] = (await operator.get("/webhooks")).json()["endpoints"]
    assert listed["disabled_reason"] == "moving hosts"
    enabled = (await operator.post(f"{path}/enable")).json()
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)
    rotated = (await operator.post(f"{path}/secret")).json()
    assert rotated["id"] == endpoint["id"] and rotated["secret"] != endpoint["secret"]
    stored = await WebhookEndpoint.select(WebhookEndpoint.secret).first()
    assert stored["secret"] == rotated["secret"]
    deleted = await operator.http.delete(f"/api{path}", headers=operator.headers())
    assert deleted.status_code == 204
    assert (await operator.get("/webhooks")).json()["endpoints"] == []
    actions = [row["action"] for row in await AuditEntry.select(AuditEntry.action).where(
        AuditEntry.table_name == "webhook_endpoint"
    ).order_by(AuditEntry.id)]  # fmt: skip
    assert actions == ["insert", "update", "update", "update", "delete"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"url": "http://127.0.0.1:9/", "types": ["nonsense"]}, "Invalid enum value 'nonsense'"),
        ({"url": "http://127.0.0.1:9/", "types": []}, "length >= 1"),
        ({"url": "ftp://example.com/", "types": ["*"]}, "https?://"),
        ({"url": "http://unresolvable.invalid/", "types": ["*"]}, "cannot be resolved"),
        ({"url": "http://127.0.0.1:9/", "types": ["*"], "secret": "mine"}, "unknown field"),
    ],
)
async def test_refusals_say_why_and_write_nothing(operator, body, says):
    refused = await operator.post("/webhooks", body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["ok"] is False and says in refused.json()["error"]
    assert await WebhookEndpoint.count() == 0


async def test_private_addresses_are_refused_unless_allowed(db, client_for, adapter):
    public = await ClientSystem.register(client_for(), adapter)
    refused = await public.post("/webhooks", {"url": "http://10.0.0.7/hooks", "types": ["*"]})
    assert refused.status_code == 400
    assert "resolves to 10.0.0.7, a private or reserved address" in refused.json()["error"]
    assert "WEBHOOK_ALLOW_PRIVATE" in refused.json()["error"]
    assert await WebhookEndpoint.count() == 0


async def test_an_unknown_endpoint_is_404(operator):
    for method, path in (
        ("POST", "/webhooks/999/disable"),
        ("POST", "/webhooks/999/enable"),
        ("POST", "/webhooks/999/secret"),
        ("DELETE", "/webhooks/999"),
    ):
        answer = await operator.http.request(method, f"/api{path}", headers=operator.headers())
        assert answer.status_code == 404, (method, path)
        assert "no webhook endpoint with id 999" in answer.json()["error"]


async def test_endpoints_need_an_api_key(client):
    assert (await client.get("/api/webhooks")).status_code == 401
    assert (await client.post("/api/webhooks", json=HOOK)).status_code == 401
