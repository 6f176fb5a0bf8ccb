"""Health checks for load balancers and orchestrators: liveness and readiness."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller, Response, get
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE
from piccolo.querystring import QueryString

from home.db import engine
from home.errors import RETRY_AFTER, is_database_unavailable
from home.schemas import ErrorResponse
from home.settings import settings


class Health(msgspec.Struct):
    """The body of a passing health check."""

    ok: bool
    status: str


NOT_READY = {503: ResponseSpec(ErrorResponse, description="The database did not answer in time")}


class HealthController(Controller):
    """`GET /health/live` and `GET /health/ready`."""

    path = "/health"
    tags = ["health"]

    @get("/live", summary="The process is up", cache=False)
    async def live(self) -> Health:
        """Always 200 while the process serves requests; it does not touch the database."""
        return Health(ok=True, status="live")

    @get("/ready", summary="The database answers", responses=NOT_READY, cache=False)
    async def ready(self) -> Response[Health | ErrorResponse]:
        """200 when the database answers `SELECT 1` within HEALTH_TIMEOUT seconds, else 503."""
        timeout = settings.health_timeout
        try:
            await asyncio.wait_for(engine().run_querystring(QueryString("SELECT 1")), timeout)
        except TimeoutError:
            return _not_ready(f"the database did not answer within {timeout:g} s")
        except Exception as error:
            if not is_database_unavailable(error):
                raise
            return _not_ready(f"the database is unavailable ({type(error).__name__})")
        return Response(Health(ok=True, status="ready"), headers={"cache-control": "no-store"})


def _not_ready(reason: str) -> Response[ErrorResponse]:
    return Response(
        ErrorResponse(ok=False, error=reason),
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
        headers={"retry-after": str(RETRY_AFTER), "cache-control": "no-store"},
    )
