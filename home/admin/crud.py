"""Piccolo's table API as the admin uses it here: every write in one audited transaction,
credited to the logged-in operator, with a refused rule answered in the form's own shape.

`create_admin` builds one PiccoloCRUD per table and has no option to choose the class, so the
class it uses is replaced (below) by `RosterCRUD`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import piccolo_admin.endpoints
from piccolo_api.crud.endpoints import PiccoloCRUD
from starlette.requests import Request
from starlette.responses import Response

from home.roster import closing
from home.roster.tables import ActivityPeriod
from home.storage import Storage
from home.storage.base import Adapter, Rule

# The mount puts the app's storage here, in each request's ASGI scope.
STORAGE_KEY = "roster.storage"

RULE_MESSAGES = {
    Rule.NO_OVERLAP: (
        "start_time",
        "the period overlaps another of this member's; a member's periods never overlap",
    ),
    Rule.ONE_RUNNING: ("end_time", "this member already has a running session; give this an end"),
    Rule.ENDS_AFTER_START: ("end_time", "a period must end at or after its start"),
    Rule.CLOSED: (
        "start_time",
        "a period starting before it cannot be added, changed or deleted, nor a member who has "
        "one; a superuser can reopen them (Forms: Reopen closed periods)",
    ),
}


class _Refused(Exception):
    """The admin answered a write with an error: roll its transaction back."""

    def __init__(self, response: Response):
        self.response = response


class RosterCRUD(PiccoloCRUD):
    """Audited writes, and the text "null" kept in columns that cannot be NULL.

    piccolo_api turns any "null" string into None (its UI's way to clear a nullable field),
    so a member really named "Null" was refused as empty. A non-nullable column has no NULL
    to mean, so there the text stays text.
    """

    def _clean_data(self, data: dict[str, Any]) -> dict[str, Any]:
        cleaned = super()._clean_data(data)
        required = {
            column._meta.name for column in self.table._meta.columns if not column._meta.null
        }
        for key, value in data.items():
            if key in required and isinstance(value, str) and cleaned.get(key) is None:
                cleaned[key] = value
        return cleaned

    async def post_single(self, request: Request, data: dict[str, Any]) -> Response:
        return await _audited(
            request,
            lambda: super(RosterCRUD, self).post_single(request, data),
            lambda adapter: self._queue_period_writers(adapter, data),
        )

    async def patch_single(self, request: Request, row_id: Any, data: dict[str, Any]) -> Response:
        return await _audited(
            request,
            lambda: super(RosterCRUD, self).patch_single(request, row_id, data),
            lambda adapter: self._queue_period_writers(adapter, data, row_id),
        )

    async def _queue_period_writers(
        self, adapter: Adapter, data: dict[str, Any], row_id: Any = None
    ) -> None:
        """A period's write queues behind other writers of its member(s), as the API's do."""
        if self.table._meta.tablename != ActivityPeriod._meta.tablename:
            return
        members = {str(data["member"])} if data.get("member") else set()
        if row_id is not None:
            key = self.table._meta.primary_key
            row = await self.table.select(key, self.table.member).where(key == row_id).first()
            if row is not None:
                members.add(str(row["member"]))
        for member in sorted(members):  # one order everywhere: no two writers wait on each other
            await adapter.lock_member_periods(member)

    async def delete_single(self, request: Request, row_id: Any) -> Response:
        return await _audited(
            request, lambda: super(RosterCRUD, self).delete_single(request, row_id)
        )

    async def delete_all(self, request: Request, params: dict[str, Any] | None = None) -> Response:
        return await _audited(request, lambda: super(RosterCRUD, self).delete_all(request, params))


def actor(request: Request) -> str:
    """How the audit trail names the operator of an admin request."""
    return f"admin {request.user.display_name}"


async def _audited(
    request: Request,
    write: Callable[[], Awaitable[Response]],
    before: Callable[[Adapter], Awaitable[None]] | None = None,
) -> Response:
    storage: Storage = request.scope[STORAGE_KEY]
    adapter = storage.adapter()
    try:
        async with adapter.audited(actor(request)):
            if before is not None:
                await before(adapter)
            response = await write()
            if response.status_code >= 400:
                raise _Refused(response)
    except _Refused as refused:
        return await _explained(refused.response, adapter)
    except Exception as error:
        rule = adapter.broken_rule(error)
        if rule not in RULE_MESSAGES:
            raise
        return await _form_error(rule)
    return response


async def _explained(response: Response, adapter: Adapter) -> Response:
    """Piccolo's `{"db_error": ...}` answer for a broken rule, in the form's own error shape."""
    try:
        text = json.loads(response.body).get("db_error")
    except (ValueError, AttributeError):
        return response
    rule = adapter.rule_in_text(text) if isinstance(text, str) else None
    return await _form_error(rule) if rule in RULE_MESSAGES else response


async def _form_error(rule: Rule) -> Response:
    column, message = RULE_MESSAGES[rule]
    if rule is Rule.CLOSED:  # name the closing itself
        message = f"{(await closing.current()).describe()}: {message}"
    detail = [{"loc": ["body", column], "msg": message, "type": "value_error"}]
    return Response(json.dumps({"detail": detail}), status_code=422, media_type="application/json")


piccolo_admin.endpoints.PiccoloCRUD = RosterCRUD  # type: ignore[misc]
