"""`/api/webhooks`: operators register the endpoints the roster's changes are pushed to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, PathParameter

from home.api import clock
from home.api.auth import require_api_key
from home.api.schemas import ErrorResponse
from home.changes import webhooks
from home.changes.feed import CHANGE_TYPES
from home.changes.tables import URL_MAX_LENGTH
from home.changes.webhooks import Endpoint, EndpointNotFound, WebhookError
from home.roster.api_keys import Caller
from home.roster.timefmt import format_rfc3339

MAX_BODY_BYTES = 16 * 1024
ChangeType = Literal[("*", *CHANGE_TYPES)]  # type: ignore[valid-type]


class EndpointIn(msgspec.Struct, forbid_unknown_fields=True):
    """An endpoint to register: where to POST, and which change types (`["*"]`: all)."""

    url: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=URL_MAX_LENGTH,
            pattern="^https?://[^/?#@\\s]+",
            extra_json_schema={"format": "uri"},
        ),
    ]
    types: Annotated[list[ChangeType], msgspec.Meta(min_length=1)]


class DisableIn(msgspec.Struct, forbid_unknown_fields=True):
    """Why the endpoint is disabled (shown in the list and the admin)."""

    reason: Annotated[str, msgspec.Meta(max_length=500)] = "disabled by an operator"


class EndpointOut(msgspec.Struct):
    """An endpoint: `enabled`, and when disabled, why."""

    id: int
    url: str
    types: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: str
    last_delivery_at: str | None


class EndpointCreated(EndpointOut):
    """A new endpoint and its signing secret, shown this once."""

    secret: str


class EndpointList(msgspec.Struct):
    """Every endpoint, oldest first."""

    ok: bool
    endpoints: list[EndpointOut]


class NewSecret(msgspec.Struct):
    """An endpoint's new signing secret, shown this once; the old one no longer signs."""

    id: int
    secret: str


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else format_rfc3339(moment)


def _out(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "types": endpoint.types,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": _text(endpoint.created_at),
        "last_delivery_at": _text(endpoint.last_delivery_at),
    }


def _refusal(error: WebhookError) -> HTTPException:
    return HTTPException(
        status_code=404 if isinstance(error, EndpointNotFound) else 400, detail=str(error)
    )


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    described = {
        400: "A parameter, the URL or the types cannot be used; `error` says why (a private "
        "address, say)",
        401: "The API key is missing, unknown, revoked or expired",
        403: "The API key lacks the scope admin",
        404: "No endpoint with this id",
        413: "The body is larger than 16 KiB",
        429: "The API key's rate limit is used up; retry after Retry-After seconds",
        503: "The database did not answer; retry after Retry-After seconds",
    }
    return {
        status: ResponseSpec(ErrorResponse, description=described[status], generate_examples=False)
        for status in statuses
    }


EndpointId = Annotated[int, PathParameter(description="The endpoint's `id`", ge=1, le=2**31 - 1)]


class WebhooksController(Controller):
    """Webhook endpoints: the roster's changes pushed as they happen, signed."""

    path = "/api/webhooks"
    tags = ["webhooks"]
    guards = [require_api_key]
    # Every operation needs the scope `admin`.
    opt = {"scopes": ("admin",)}
    security = [{"ApiKey": ["admin"]}]
    request_max_body_size = MAX_BODY_BYTES

    @post(
        "/",
        summary="Register an endpoint",
        status_code=201,
        responses=_errors(400, 401, 403, 413, 429, 503),
    )
    async def register(
        self, request: Request[Any, Any, Any], data: JSONBody[EndpointIn]
    ) -> Response[EndpointCreated]:
        """`{"url", "types"}` → the endpoint and its `secret` (`whsec_...`), shown once. It
        receives the changes made from now on. The URL must be `http` or `https` and reach a
        public address (checked now and at every delivery)."""
        caller: Caller = request.state.caller
        settings = request.app.state.settings
        try:
            endpoint, secret = await webhooks.register(
                request.app.state.storage.adapter(),
                data.url,
                data.types,
                caller.actor,
                settings.webhook_allow_private,
                clock.utc_now(request),
            )
        except WebhookError as error:
            raise _refusal(error) from None
        return Response(EndpointCreated(**_out(endpoint), secret=secret), status_code=201)

    @get("/", summary="Every endpoint", responses=_errors(401, 403, 429, 503))
    async def list_endpoints(self) -> EndpointList:
        """Every endpoint with `enabled` and, when disabled, why (never their secrets)."""
        found = await webhooks.list_endpoints()
        return EndpointList(ok=True, endpoints=[EndpointOut(**_out(e)) for e in found])

    @delete(
        "/{endpoint_id:int}",
        summary="Delete an endpoint",
        status_code=204,
        responses=_errors(400, 401, 403, 404, 429, 503),
    )
    async def delete_endpoint(
        self, request: Request[Any, Any, Any], endpoint_id: EndpointId
    ) -> None:
        """Nothing more is sent to it; its delivery log goes too."""
        caller: Caller = request.state.caller
        try:
            await webhooks.delete_endpoint(
                request.app.state.storage.adapter(), endpoint_id, caller.actor
            )
        except WebhookError as error:
            raise _refusal(error) from None

    @post(
        "/{endpoint_id:int}/disable",
        summary="Disable an endpoint",
        status_code=200,
        responses=_errors(400, 401, 403, 404, 413, 429, 503),
    )
    async def disable(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: EndpointId,
        data: JSONBody[DisableIn | None] = None,
    ) -> EndpointOut:
        """Optional `{"reason"}`. Deliveries stop; enabling it again sends what it missed."""
        caller: Caller = request.state.caller
        reason = (data or DisableIn()).reason.strip() or DisableIn().reason
        try:
            endpoint = await webhooks.disable(
                request.app.state.storage.adapter(), endpoint_id, reason, caller.actor
            )
        except WebhookError as error:
            raise _refusal(error) from None
        return EndpointOut(**_out(endpoint))

    @post(
        "/{endpoint_id:int}/enable",
        summary="Enable an endpoint again",
        status_code=200,
        responses=_errors(400, 401, 403, 404, 429, 503),
    )
    async def enable(self, request: Request[Any, Any, Any], endpoint_id: EndpointId) -> EndpointOut:
        """Deliveries resume where they stopped (the failed change first)."""
        caller: Caller = request.state.caller
        try:
            endpoint = await webhooks.enable(
                request.app.state.storage.adapter(), endpoint_id, caller.actor
            )
        except WebhookError as error:
            raise _refusal(error) from None
        return EndpointOut(**_out(endpoint))

    @post(
        "/{endpoint_id:int}/secret",
        summary="Give an endpoint a new secret",
        status_code=200,
        responses=_errors(400, 401, 403, 404, 429, 503),
    )
    async def rotate(self, request: Request[Any, Any, Any], endpoint_id: EndpointId) -> NewSecret:
        """A new signing secret, shown once; deliveries are signed with it from now on."""
        caller: Caller = request.state.caller
        try:
            secret = await webhooks.rotate_secret(
                request.app.state.storage.adapter(), endpoint_id, caller.actor
            )
        except WebhookError as error:
            raise _refusal(error) from None
        return NewSecret(id=endpoint_id, secret=secret)
