"""Admin forms: demo members (`piccolo home populate`'s code and limits), making and revoking
API keys (a key is shown once, in the form's answer), and webhook endpoints: registering one
(its secret shown once), disabling, enabling, a new secret, deleting, and sending a change
again."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from piccolo_admin.endpoints import FormConfig
from pydantic import BaseModel, Field, field_validator
from starlette.requests import Request

from home.admin.crud import actor
from home.changes import webhooks
from home.roster import closing
from home.roster.api_keys import ApiKeyError, create_api_key
from home.roster.demo import parse_count, populate_roster
from home.roster.tables import KEY_NAME_MAX_LENGTH, ApiKey
from home.settings import Settings
from home.storage import Storage

# What a demo needs, and no more: one request may not write millions of rows (the command
# line, `piccolo home populate`, goes up to 1,000,000 members).
DEMO_MAX_MEMBERS = 10_000
DEMO_MAX_PERIODS = 20


class DemoMembers(BaseModel):
    """What the form asks for; the limits are checked by `parse_count`, as on the command line."""

    count: int = Field(
        default=10, description=f"How many members to create, from 1 to {DEMO_MAX_MEMBERS:,}."
    )
    periods: int = Field(
        default=3, description=f"Activity periods per member, from 0 to {DEMO_MAX_PERIODS}."
    )

    @field_validator("count", "periods", mode="before")
    @classmethod
    def whole_number(cls, value: object) -> object:
        """The form sends text; JSON clients may send numbers. `true` or 2.5 is not a count."""
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number, e.g. 10")
        return value


class KeyName(BaseModel):
    """The name of an API key."""

    name: str = Field(
        description=f"Which system uses the key, e.g. door-scanner (up to "
        f"{KEY_NAME_MAX_LENGTH} characters)."
    )


class NewKey(KeyName):
    """An API key to make: its name, what it may do, for whom, until when."""

    scopes: str = Field(
        default="read",
        description="Comma separated: read (GET of members, reports and changes), "
        "sessions:write (start, stop and add periods), members:write (create members), admin "
        "(webhooks and closing periods).",
    )
    members: str = Field(
        default="",
        description="Member ids, comma separated, to limit the key to (empty: every member).",
    )
    expires: str = Field(
        default="", description="When it stops working, e.g. 2027-01-01T00:00:00Z (empty: never)."
    )


class CloseUntil(BaseModel):
    """Up to when periods are closed."""

    until: str = Field(
        description="An instant with its offset, e.g. 2026-12-01T00:00:00Z: periods starting "
        "before it can no longer be added, changed or deleted."
    )


class ReopenUntil(BaseModel):
    """Up to when periods stay closed after reopening."""

    until: str = Field(
        default="",
        description="An earlier instant than the closing's, e.g. 2026-11-01T00:00:00Z; empty "
        "reopens everything.",
    )


def _instant(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text[:60]!r} is not a time such as 2026-12-01T00:00:00Z") from None


class NewEndpoint(BaseModel):
    """A webhook endpoint to register."""

    url: str = Field(description="Where to POST each change, e.g. https://example.com/hooks.")
    types: str = Field(
        default="*",
        description="Which changes, comma separated (member.created, member.updated, "
        "member.deleted, period.created, period.updated, period.deleted, roster.bulk), or * "
        "for all.",
    )


class EndpointAction(StrEnum):
    """What to do to an endpoint."""

    disable = "disable"
    enable = "enable"
    new_secret = "new secret"
    delete = "delete"


class ChangeEndpoint(BaseModel):
    """An endpoint, and what to do to it."""

    endpoint_id: int = Field(description="The endpoint's id (see the Webhook Endpoint list).")
    action: EndpointAction = Field(description="What to do.")
    reason: str = Field(
        default="disabled by an operator", description="Why, when disabling (shown in the list)."
    )


class Redelivery(BaseModel):
    """A change to send again."""

    endpoint_id: int = Field(description="The endpoint's id (see the Webhook Endpoint list).")
    change_id: str = Field(description="The change's id, e.g. from the Webhook Attempt log.")


def forms(storage: Storage, settings: Settings) -> list[FormConfig]:
    """Every admin form, writing through `storage`."""

    async def generate_demo_members(request: Request, data: DemoMembers) -> str:
        """Create the members in one transaction; `populate_roster` refuses a bad count before
        anything is written."""
        count = parse_count(data.count, name="count", low=1, high=DEMO_MAX_MEMBERS)
        periods = parse_count(data.periods, name="periods", low=0, high=DEMO_MAX_PERIODS)
        result = await populate_roster(storage.adapter(), count, periods, actor=actor(request))
        return (
            f"Created {result.members:,} members and {result.periods:,} activity periods "
            f"in {result.seconds:.2f} s"
        )

    async def make_api_key(request: Request, data: NewKey) -> str:
        """Make a key; its only copy is in this answer."""
        made = await create_api_key(
            storage.adapter(),
            data.name,
            actor=actor(request),
            scopes=data.scopes,
            members=data.members,
            expires=data.expires,
        )
        limits = f"scopes {', '.join(made.scopes)}"
        if made.members is not None:
            limits += f"; {len(made.members)} member(s) only"
        if made.expires_at is not None:
            limits += f"; expires {made.expires_at:%Y-%m-%dT%H:%M:%SZ}"
        return (
            f"API key {made.name!r} ({limits}): {made.key} (shown once: copy it now; only its "
            "hash is kept)"
        )

    async def revoke_api_key(request: Request, data: KeyName) -> str:
        """Revoke a key at once: every request with it gets 401 from now on."""
        name = data.name.strip()
        async with storage.adapter().audited(actor(request)):
            revoked = await (
                ApiKey.update({ApiKey.active: False, ApiKey.revoked_at: datetime.now(UTC)})
                .where(ApiKey.name == name, ApiKey.active.eq(True))
                .returning(ApiKey.id)
            )
        if not revoked:
            raise ApiKeyError(f"no active API key is named {name!r}; see the Api Key list")
        return f"API key {name!r} is revoked; requests with it get 401 from now on"

    async def close_periods(request: Request, data: CloseUntil) -> str:
        """Close the books up to an instant."""
        closed = await closing.close(
            storage.adapter(), _instant(data.until), actor(request), datetime.now(UTC)
        )
        return closed.describe()

    async def reopen_periods(request: Request, data: ReopenUntil) -> str:
        """Move the closing back: a superuser's action (read-only staff write nothing)."""
        until = _instant(data.until) if data.until.strip() else None
        reopened = await closing.reopen(storage.adapter(), until, actor(request), datetime.now(UTC))
        return f"Reopened: {reopened.describe()}"

    async def register_endpoint(request: Request, data: NewEndpoint) -> str:
        """Register an endpoint; its secret is in this answer only."""
        kinds = [kind.strip() for kind in data.types.split(",") if kind.strip()]
        endpoint, secret = await webhooks.register(
            storage.adapter(),
            data.url,
            kinds,
            actor(request),
            settings.webhook_allow_private,
            datetime.now(UTC),
        )
        return (
            f"Webhook endpoint {endpoint.id} ({endpoint.url}) receives {', '.join(endpoint.types)} "
            f"from now on. Its signing secret: {secret} (shown once: copy it now)"
        )

    async def change_endpoint(request: Request, data: ChangeEndpoint) -> str:
        """Disable, enable, give a new secret to, or delete an endpoint."""
        adapter, who, number = storage.adapter(), actor(request), data.endpoint_id
        if data.action is EndpointAction.disable:
            reason = data.reason.strip() or "disabled by an operator"
            await webhooks.disable(adapter, number, reason, who)
            return f"Webhook endpoint {number} is disabled; enabling it sends what it missed"
        if data.action is EndpointAction.enable:
            await webhooks.enable(adapter, number, who)
            return f"Webhook endpoint {number} is enabled; deliveries resume where they stopped"
        if data.action is EndpointAction.new_secret:
            secret = await webhooks.rotate_secret(adapter, number, who)
            return f"Webhook endpoint {number}'s new signing secret: {secret} (shown once)"
        await webhooks.delete_endpoint(adapter, number, who)
        return f"Webhook endpoint {number} is deleted, with its delivery log"

    async def redeliver_change(request: Request, data: Redelivery) -> str:
        """Queue a change to be sent again."""
        await webhooks.redeliver(
            storage.adapter(),
            data.endpoint_id,
            data.change_id.strip(),
            actor(request),
            datetime.now(UTC),
        )
        return f"Change {data.change_id.strip()} will be sent to endpoint {data.endpoint_id} again"

    return [
        FormConfig(
            name="Generate demo members",
            pydantic_model=DemoMembers,
            endpoint=generate_demo_members,
            description=(
                "Adds random members (10 capital letters, a random valid zone), each with periods "
                f"in the past 30 days, in one transaction: up to {DEMO_MAX_MEMBERS:,} members "
                f"and {DEMO_MAX_PERIODS} periods each, with the code of the command piccolo home "
                "populate COUNT --periods=N (which makes more)."
            ),
        ),
        FormConfig(
            name="Create API key",
            pydantic_model=NewKey,
            endpoint=make_api_key,
            description=(
                "A key for a system that records sessions through /api/members. The key is shown "
                "once, in the answer; only its hash is kept."
            ),
        ),
        FormConfig(
            name="Revoke API key",
            pydantic_model=KeyName,
            endpoint=revoke_api_key,
            description="Requests with the key get 401 from the moment it is revoked.",
        ),
        FormConfig(
            name="Close periods",
            pydantic_model=CloseUntil,
            endpoint=close_periods,
            description=(
                "After payroll has been run: periods starting before the instant can no longer "
                "be added, changed or deleted, by anyone, nor a member who has one."
            ),
        ),
        FormConfig(
            name="Reopen closed periods",
            pydantic_model=ReopenUntil,
            endpoint=reopen_periods,
            description="Move the closing back, for a correction (audited, superusers only).",
        ),
        FormConfig(
            name="Register webhook endpoint",
            pydantic_model=NewEndpoint,
            endpoint=register_endpoint,
            description=(
                "A URL that receives every change from now on, signed (Standard Webhooks). Its "
                "secret is shown once, in the answer. It must reach a public address."
            ),
        ),
        FormConfig(
            name="Change webhook endpoint",
            pydantic_model=ChangeEndpoint,
            endpoint=change_endpoint,
            description=(
                "Disable an endpoint (it keeps its place), enable it again (it gets what it "
                "missed), give it a new secret (shown once), or delete it."
            ),
        ),
        FormConfig(
            name="Redeliver a change",
            pydantic_model=Redelivery,
            endpoint=redeliver_change,
            description="Send one change to an endpoint once more, e.g. after a receiver lost it.",
        ),
    ]
