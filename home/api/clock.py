"""The service's clock: `create_app(settings, clock=...)` passes it in (default `time.time`),
and every handler and guard reads the time through it, so a test can set the time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from litestar.connection import ASGIConnection

Clock = Callable[[], float]
"""Unix seconds now, as `time.time` gives them."""


def seconds(connection: ASGIConnection) -> float:
    """Now, in Unix seconds, by the app's clock."""
    return connection.app.state.clock()


def utc_now(connection: ASGIConnection) -> datetime:
    """Now, as an aware datetime in UTC, by the app's clock."""
    return datetime.fromtimestamp(seconds(connection), UTC)
