"""Health checks for load balancers and orchestrators: liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, head
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from home.api.errors import RETRY_AFTER, log_unavailable
from home.api.schemas import ErrorResponse
from home.server import metrics
from home.storage import Storage, is_unavailable
from home.web.http import head_response


class Health(msgspec.Struct):
    """The body of a passing health check."""

    ok: bool
    status: str


NO_STORE = {"cache-control": "no-store"}


def _not_ready_spec() -> dict[int, ResponseSpec]:
    return {
        503: ResponseSpec(
            ErrorResponse,
            description="The database did not answer in time",
            generate_examples=False,
        )
    }


class HealthController(Controller):
    """`GET /health/live` and `GET /health/ready`."""

    path = "/health"
    tags = ["health"]

    @get("/live", summary="The process is up", cache=False)
    async def live(self) -> Health:
        """Always 200 while the process serves requests; it does not touch the database."""
        return Health(ok=True, status="live")

    @head("/live", summary="The process is up (no body)")
    async def live_head(self) -> Response[None]:
        """HEAD for probes that do not read bodies: always 200."""
        return head_response(200, {**NO_STORE, "content-type": "application/json"})

    @get("/ready", summary="The database answers", responses=_not_ready_spec(), cache=False)
    async def ready(self, request: Request[Any, Any, Any]) -> Response[Health]:
        """200 when the database answers `SELECT 1` within HEALTH_TIMEOUT seconds, else 503."""
        problem = await database_problem(request.app.state.storage)
        if problem:
            return Response(ErrorResponse(ok=False, error=problem), **_not_ready())  # type: ignore[return-value]
        return Response(Health(ok=True, status="ready"), headers=NO_STORE)

    @head("/ready", summary="The database answers (no body)", responses=_not_ready_spec())
    async def ready_head(self, request: Request[Any, Any, Any]) -> Response[None]:
        """HEAD for probes that do not read bodies: 200 or 503 as GET would answer."""
        if await database_problem(request.app.state.storage):
            not_ready = _not_ready()
            headers = {**not_ready["headers"], "content-type": "application/json"}
            return head_response(not_ready["status_code"], headers)
        return head_response(200, {**NO_STORE, "content-type": "application/json"})


async def database_problem(storage: Storage) -> str | None:
    """Why the database cannot serve now, or None when `SELECT 1` answers in time."""
    timeout = storage.settings.health_timeout
    try:
        await asyncio.wait_for(storage.adapter().ping(), timeout)
    except TimeoutError:
        metrics.database_unavailable("TimeoutError")
        return f"the database did not answer within {timeout:g} s"
    except Exception as error:
        if not is_unavailable(error):
            raise
        log_unavailable(error, "/health/ready")
        return f"the database is unavailable ({type(error).__name__})"
    return None


def _not_ready() -> dict:
    return {
        "status_code": HTTP_503_SERVICE_UNAVAILABLE,
        "headers": {"retry-after": str(RETRY_AFTER), **NO_STORE},
    }
