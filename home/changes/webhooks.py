"""Webhook endpoints: registering, listing, enabling, disabling and deleting them, new secrets,
the check that keeps deliveries out of private networks, and signing (Standard Webhooks 1.0).

A new endpoint receives the changes made from its registration on (`home/changes/relay.py`
delivers them). Its secret, `whsec_` and base64 of 32 random bytes, is shown once: in the
answer that made it, or the one that replaced it. Every change to an endpoint is audited.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks.webhooks import Webhook

from home.changes.feed import CHANGE_TYPES, decode_cursor
from home.changes.tables import URL_MAX_LENGTH, WebhookEndpoint, WebhookRedelivery
from home.storage import Adapter

SECRET_PREFIX = "whsec_"
ALL_TYPES = "*"
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Addresses of a host name (and port), as `getaddrinfo` finds them."""


class WebhookError(ValueError):
    """An endpoint cannot be registered or changed as asked; the message says what to do."""


class EndpointNotFound(WebhookError):
    """No endpoint has this id."""


class RefusedAddress(WebhookError):
    """The URL leads somewhere deliveries may not go (a private network, say)."""


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as operators see it (never its secret)."""

    id: int
    url: str
    types: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    last_delivery_at: datetime | None


def new_secret() -> str:
    """A signing secret: `whsec_` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,` and base64 of HMAC-SHA256 over
    `{id}.{timestamp}.{body}`, keyed with the secret's decoded bytes (Standard Webhooks)."""
    return Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body)


def parse_types(raw: Any) -> list[str]:
    """The change types an endpoint wants, or WebhookError naming the known ones."""
    if not isinstance(raw, list) or not raw or not all(isinstance(kind, str) for kind in raw):
        raise WebhookError(
            'types must be a non-empty list of change types, e.g. ["period.created"], or ["*"] '
            "for every change"
        )
    unknown = sorted({kind for kind in raw if kind not in (*CHANGE_TYPES, ALL_TYPES)})
    if unknown:
        raise WebhookError(
            f"unknown change types {unknown}: use * or any of {', '.join(CHANGE_TYPES)}"
        )
    return [ALL_TYPES] if ALL_TYPES in raw else sorted(set(raw))


def wants(types: list[str], kind: str) -> bool:
    """Whether an endpoint that asked for `types` receives a change of type `kind`."""
    return ALL_TYPES in types or kind in types


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`."""
    found = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in found))


@dataclass(frozen=True)
class Target:
    """Where a delivery really goes: a checked address, and the name the URL gave."""

    url: str
    """The URL with its host replaced by the checked address."""
    host_header: str
    server_name: str | None
    """The name to present for TLS (https), which the certificate must match."""


# IPv6 prefixes that carry an IPv4 address in their last 32 bits, which a gateway reaches:
# NAT64 (RFC 6052's well-known prefix, RFC 8215's local-use one) and the deprecated
# IPv4-compatible addresses.
EMBEDDING_IPV4 = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::/96"),
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address leads to, and how, if it leads to one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "an IPv4-mapped address"
    if ip.sixtofour is not None:
        return ip.sixtofour, "a 6to4 address"
    if ip.teredo is not None:
        return ip.teredo[1], "a Teredo address"
    for network in EMBEDDING_IPV4:
        if ip in network and int(ip) > 0xFFFF:  # not ::1 or ::, which are themselves
            how = (
                "an IPv4-compatible address"
                if network.prefixlen == 96 and not int(network.network_address)
                else "a NAT64 address"
            )
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), how
    return None


def _refusal(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)) is not None:
        inner, how = embedded
        refused = _refusal(str(inner))
        if refused is not None:
            return f"{refused} inside {how}"
        if ip.ipv4_mapped is not None:
            return None  # the IPv4 address itself, which is public
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:  # 169.254.169.254, the cloud metadata service, is one
        return "a link-local address (cloud metadata services live there)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private or not ip.is_global:
        return "a private or reserved address"
    return None


def split_url(url: Any) -> tuple[str, str, int]:
    """The scheme, host and port of an endpoint URL, or WebhookError saying what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookError("url must be the endpoint's address, e.g. https://example.com/hooks")
    url = url.strip()
    if len(url) > URL_MAX_LENGTH:
        raise WebhookError(f"url is {len(url):,} characters; the limit is {URL_MAX_LENGTH:,}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise WebhookError(f"url {url[:100]!r} cannot be read: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookError(f"url must start with https:// or http://, not {url[:100]!r}")
    if not parts.hostname:
        raise WebhookError(f"url {url[:100]!r} has no host name")
    if parts.username or parts.password:
        raise WebhookError("url must not hold a user name or password: sign with the secret")
    if any(character.isspace() for character in url):
        raise WebhookError("url must not contain spaces")
    if any(ord(character) < 32 or ord(character) == 127 for character in url):
        raise WebhookError("url must not contain control characters (such as NUL)")
    try:
        httpx.URL(url)  # what deliveries will send: refused now rather than at each attempt
    except (httpx.InvalidURL, ValueError) as error:
        raise WebhookError(f"url {url[:100]!r} cannot be sent to: {error}") from None
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_url(url: Any, allow_private: bool, resolve: Resolver = system_resolver) -> Target:
    """Where a delivery to `url` goes, resolved now; RefusedAddress when the host resolves to
    a loopback, private, link-local or metadata address (unless `allow_private`). Deliveries
    connect to the address checked here, so a name that resolves elsewhere later (DNS
    rebinding) cannot lead them into the private network."""
    scheme, host, port = split_url(url)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await resolve(host, port)
        except (OSError, UnicodeError) as error:  # IDNA refuses some names outright
            raise RefusedAddress(f"the host {host!r} cannot be resolved ({error})") from None
        if not addresses:
            raise RefusedAddress(f"the host {host!r} has no address")
    if not allow_private:
        for address in addresses:
            if (reason := _refusal(address)) is not None:
                raise RefusedAddress(
                    f"the host {host!r} resolves to {address}, {reason}: webhooks reach public "
                    "addresses only (WEBHOOK_ALLOW_PRIVATE=true allows others, for development)"
                )
    parts = urlsplit(url.strip())
    address = addresses[0]
    shown = f"[{address}]" if ":" in address else address
    netloc = f"{shown}:{parts.port}" if parts.port else shown
    target = parts._replace(netloc=netloc).geturl()
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return Target(target, host_header, host if scheme == "https" and literal is None else None)


def _endpoint(row: dict[str, Any]) -> Endpoint:
    return Endpoint(
        id=row["id"],
        url=row["url"],
        types=json.loads(row["types"]),
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        created_at=row["created_at"],
        last_delivery_at=row["last_delivery_at"],
    )


_SHOWN = (
    WebhookEndpoint.id,
    WebhookEndpoint.url,
    WebhookEndpoint.types,
    WebhookEndpoint.enabled,
    WebhookEndpoint.disabled_reason,
    WebhookEndpoint.created_at,
    WebhookEndpoint.last_delivery_at,
)


async def register(
    adapter: Adapter,
    url: Any,
    types: Any,
    actor: str,
    allow_private: bool,
    now: datetime,
    resolve: Resolver = system_resolver,
) -> tuple[Endpoint, str]:
    """Register an endpoint for the changes made from now on; it and its secret (shown once)."""
    kinds = parse_types(types)
    await check_url(url, allow_private, resolve)
    secret = new_secret()
    head = (await adapter.current_version()).changes
    async with adapter.audited(actor):
        rows = await WebhookEndpoint.insert(
            WebhookEndpoint(
                url=url.strip(),
                types=json.dumps(kinds),
                secret=secret,
                enabled=True,
                created_at=now,
                cursor_txid=head[0],
                cursor_id=head[1],
            )
        ).returning(*_SHOWN)
    return _endpoint(rows[0]), secret


async def list_endpoints() -> list[Endpoint]:
    """Every endpoint, oldest first."""
    rows = await WebhookEndpoint.select(*_SHOWN).order_by(WebhookEndpoint.id)
    return [_endpoint(row) for row in rows]


async def get_endpoint(endpoint_id: int) -> Endpoint:
    """One endpoint, or EndpointNotFound."""
    row = await WebhookEndpoint.select(*_SHOWN).where(WebhookEndpoint.id == endpoint_id).first()
    if row is None:
        raise EndpointNotFound(_missing(endpoint_id))
    return _endpoint(row)


def _missing(endpoint_id: int) -> str:
    return f"no webhook endpoint with id {endpoint_id}; GET /api/webhooks lists them"


async def delete_endpoint(adapter: Adapter, endpoint_id: int, actor: str) -> None:
    """Delete an endpoint and its delivery log; nothing more is sent to it."""
    async with adapter.audited(actor):
        gone = (
            await WebhookEndpoint.delete()
            .where(WebhookEndpoint.id == endpoint_id)
            .returning(WebhookEndpoint.id)
        )
    if not gone:
        raise EndpointNotFound(_missing(endpoint_id))


async def disable(adapter: Adapter, endpoint_id: int, reason: str, actor: str) -> Endpoint:
    """Stop deliveries to an endpoint, saying why; what it missed is sent once it is enabled
    again."""
    async with adapter.audited(actor):
        rows = (
            await WebhookEndpoint.update(
                {WebhookEndpoint.enabled: False, WebhookEndpoint.disabled_reason: reason}
            )
            .where(WebhookEndpoint.id == endpoint_id)
            .returning(*_SHOWN)
        )
    if not rows:
        raise EndpointNotFound(_missing(endpoint_id))
    return _endpoint(rows[0])


async def enable(adapter: Adapter, endpoint_id: int, actor: str) -> Endpoint:
    """Resume deliveries where they stopped (the change that failed last comes first), or
    from now when the feed no longer keeps the changes it missed."""
    pruned = await adapter.changes_pruned()
    head = (await adapter.current_version()).changes
    async with adapter.audited(actor):
        row = (
            await WebhookEndpoint.select(WebhookEndpoint.cursor_txid, WebhookEndpoint.cursor_id)
            .where(WebhookEndpoint.id == endpoint_id)
            .first()
        )
        if row is None:
            raise EndpointNotFound(_missing(endpoint_id))
        values: dict[Any, Any] = {
            WebhookEndpoint.enabled: True,
            WebhookEndpoint.disabled_reason: None,
            WebhookEndpoint.failures: 0,
            WebhookEndpoint.next_attempt_at: None,
        }
        if (row["cursor_txid"], row["cursor_id"]) < pruned:
            values[WebhookEndpoint.cursor_txid], values[WebhookEndpoint.cursor_id] = head
        rows = (
            await WebhookEndpoint.update(values)
            .where(WebhookEndpoint.id == endpoint_id)
            .returning(*_SHOWN)
        )
    return _endpoint(rows[0])


async def rotate_secret(adapter: Adapter, endpoint_id: int, actor: str) -> str:
    """Give an endpoint a new secret (the old one stops at once); the new one, shown once."""
    secret = new_secret()
    async with adapter.audited(actor):
        rows = (
            await WebhookEndpoint.update({WebhookEndpoint.secret: secret})
            .where(WebhookEndpoint.id == endpoint_id)
            .returning(WebhookEndpoint.id)
        )
    if not rows:
        raise EndpointNotFound(_missing(endpoint_id))
    return secret


async def redeliver(
    adapter: Adapter, endpoint_id: int, change_id: str, actor: str, now: datetime
) -> None:
    """Queue a change to be sent to an endpoint once more (the relay sends it soon)."""
    txid, number = decode_cursor(change_id)
    await get_endpoint(endpoint_id)
    found = await adapter.changes_after((txid, number - 1) if number else (txid, 0), 1)
    if not found or (found[0][0], found[0][1]) != (txid, number):
        raise WebhookError(
            f"no change {change_id} is kept in the feed; the delivery log lists the ids sent"
        )
    async with adapter.audited(actor):
        await WebhookRedelivery.insert(
            WebhookRedelivery(
                endpoint=endpoint_id,
                change_txid=txid,
                change_id=number,
                requested_at=now,
                requested_by=actor,
            )
        )
