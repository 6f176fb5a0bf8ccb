"""A webhook receiver: accepts deliveries, checks their Standard Webhooks signature with the
`standardwebhooks` package (as any receiver would), and keeps them for whoever asks.

    python -m home.tooling.receiver --port=9000 --secret=whsec_...

prints each delivery as it arrives (or, with `--record=FILE`, writes a line per delivery to
FILE: its type, its row's id, its webhook-id and when it arrived, for the benchmarks). The
tests serve a `Receiver` on their own event loop (`serving`), and may make it answer with
another status for a while.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httptools
import uvloop
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Delivery:
    """One request the receiver got."""

    id: str
    timestamp: str
    signature: str
    body: bytes
    headers: dict[str, str]
    received: float
    """`time.time()` when it arrived."""
    verified: bool

    @property
    def payload(self) -> dict[str, Any]:
        """The JSON body: `{"type", "timestamp", "data"}`."""
        return json.loads(self.body)


Answer = Callable[[Delivery], int | tuple[int, dict[str, str]]]


@dataclass
class Receiver:
    """An ASGI app that records deliveries; `answer(delivery)` picks the status (and headers)
    of the reply, 200 by default. With a `secret`, each delivery's signature is checked."""

    secret: str | None = None
    answer: Answer | None = None
    delay: float = 0.0
    """Seconds each answer takes (an endpoint that does some work)."""
    deliveries: list[Delivery] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def ids(self) -> list[str]:
        """The webhook-id of every delivery, in arrival order (repeats included)."""
        return [delivery.id for delivery in self.deliveries]

    async def wait_for(self, done: Callable[[list[Delivery]], bool], within: float = 30) -> None:
        """Until `done(deliveries)` holds, or AssertionError after `within` seconds."""
        deadline = time.monotonic() + within
        while not done(self.deliveries):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(self.deliveries)} deliveries after {within} s")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(left, 0.5))

    def take(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        """Record one delivery; the status and headers to answer it with."""
        verified = False
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
        delivery = Delivery(
            id=headers.get("webhook-id", ""),
            timestamp=headers.get("webhook-timestamp", ""),
            signature=headers.get("webhook-signature", ""),
            body=body,
            headers=headers,
            received=time.time(),
            verified=verified,
        )
        self.deliveries.append(delivery)
        self.arrived.set()
        answered = self.answer(delivery) if self.answer is not None else 200
        return answered if isinstance(answered, tuple) else (answered, {})


class _Connection(asyncio.Protocol):
    """HTTP/1.1 for the receiver, keep-alive included, parsed by httptools (which uvicorn uses):
    a receiver costs the machine it measures on as little as it can."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.queue: asyncio.Queue[tuple[dict[str, str], bytes, bool]] = asyncio.Queue()
        self.worker: asyncio.Task | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.worker = asyncio.ensure_future(self._answer())

    def connection_lost(self, _error: Exception | None) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.headers, self.body = {}, []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        keep = self.parser.should_keep_alive()
        self.queue.put_nowait((self.headers, b"".join(self.body), keep))

    async def _answer(self) -> None:
        """Answer the requests of this connection in order (after the receiver's delay)."""
        while True:
            headers, body, keep = await self.queue.get()
            if self.receiver.delay:
                await asyncio.sleep(self.receiver.delay)
            status, extra = self.receiver.take(headers, body)
            lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Answer')}", "content-length: 2"]
            lines += [f"{name}: {value}" for name, value in extra.items()]
            if not keep:
                lines.append("connection: close")
            assert self.transport is not None
            self.transport.write(("\r\n".join(lines) + "\r\n\r\nok").encode("latin-1"))
            if not keep:
                self.transport.close()
                return


_REASONS = {200: "OK", 410: "Gone", 429: "Too Many Requests", 500: "Error", 503: "Unavailable"}


@contextlib.asynccontextmanager
async def serving(receiver: Receiver, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve `receiver` on this event loop while the block runs; its URL (a free port by
    default)."""
    loop = asyncio.get_running_loop()
    connections: list[_Connection] = []

    def connect() -> _Connection:
        connections.append(_Connection(receiver))
        return connections[-1]

    server = await loop.create_server(connect, host, port)
    try:
        bound = server.sockets[0].getsockname()
        yield f"http://{bound[0]}:{bound[1]}"
    finally:
        server.close()
        for connection in connections:
            if connection.transport is not None:
                connection.transport.close()
        await server.wait_closed()


RECORD_EVERY_SECONDS = 0.05


async def _main(port: int, secret: str | None, record: str | None) -> None:
    # Open for the whole run, written out every 50 ms (not a system call per delivery: the
    # receiver shares the machine it measures).
    out = open(record, "a") if record else None  # noqa: ASYNC230, SIM115

    async def write_out() -> None:
        while out is not None:
            out.flush()
            await asyncio.sleep(RECORD_EVERY_SECONDS)

    writer = asyncio.ensure_future(write_out())

    def show(delivery: Delivery) -> int:
        if out is not None:
            payload = delivery.payload
            row = payload["data"].get("id", "")
            out.write(f"{payload['type']}\t{row}\t{delivery.id}\t{delivery.received:.6f}\n")
            return 200
        mark = "signature ok" if delivery.verified else "signature NOT checked or wrong"
        print(f"{delivery.id} {mark}: {delivery.body.decode(errors='replace')}", flush=True)
        return 200

    receiver = Receiver(secret=secret, answer=show)
    if out is not None:  # keep nothing in memory: a benchmark sends many
        receiver.deliveries = _Forgetful()
    try:
        async with serving(receiver, port=port) as url:
            print(f"receiving webhooks at {url}/ (Ctrl-C stops)", flush=True)
            await asyncio.Event().wait()
    finally:
        writer.cancel()
        if out is not None:
            out.close()


class _Forgetful(list):
    def append(self, _item: object) -> None:
        return None


def main() -> None:
    """`python -m home.tooling.receiver`: print each delivery, checking its signature."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", help="the endpoint's whsec_... secret, to check signatures")
    parser.add_argument("--record", help="write a line per delivery to this file instead")
    arguments = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        # uvloop, as the service's processes run: the receiver shares the machine it measures.
        uvloop.run(_main(arguments.port, arguments.secret, arguments.record))


if __name__ == "__main__":
    main()
