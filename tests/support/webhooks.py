"""Stand-ins for webhook tests: a clock moved by hand, jitter of nothing, and an endpoint that
answers with chosen statuses (an httpx transport, so nothing is listened on)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import httpx

from tests.conftest import TEST_SETTINGS

SCHEDULE = (5.0, 300.0, 1800.0)
SETTINGS = dataclasses.replace(
    TEST_SETTINGS, webhook_allow_private=True, webhook_retry_schedule=SCHEDULE, webhook_timeout=2
)
NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def forward(self, seconds: float) -> None:
        self.now += seconds


class Middle:
    """`random.Random` as far as the relay uses it: a jitter of exactly nothing."""

    def random(self) -> float:
        return 0.5


def answering(*statuses, headers=None) -> tuple[list[httpx.Request], httpx.MockTransport]:
    """A transport that records requests and answers them with `statuses` in turn (the last
    one from then on)."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = statuses[min(len(seen), len(statuses)) - 1]
        return httpx.Response(status, headers=headers or {})

    return seen, httpx.MockTransport(handle)
