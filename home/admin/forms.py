"""Admin forms: demo members (`piccolo home populate`'s code and limits), and making and
revoking API keys (a key is shown once, in the form's answer)."""

from __future__ import annotations

from datetime import UTC, datetime

from piccolo_admin.endpoints import FormConfig
from pydantic import BaseModel, Field, field_validator
from starlette.requests import Request

from home.admin.crud import actor
from home.roster.api_keys import ApiKeyError, create_api_key
from home.roster.demo import MAX_MEMBERS, MAX_PERIODS, populate_roster
from home.roster.tables import KEY_NAME_MAX_LENGTH, ApiKey
from home.storage import Storage


class DemoMembers(BaseModel):
    """What the form asks for; the limits are checked by `parse_count`, as on the command line."""

    count: int = Field(
        default=10, description=f"How many members to create, from 1 to {MAX_MEMBERS:,}."
    )
    periods: int = Field(
        default=3, description=f"Activity periods per member, from 0 to {MAX_PERIODS}."
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


def forms(storage: Storage) -> list[FormConfig]:
    """Every admin form, writing through `storage`."""

    async def generate_demo_members(request: Request, data: DemoMembers) -> str:
        """Create the members in one transaction; `populate_roster` refuses a bad count before
        anything is written."""
        result = await populate_roster(
            storage.adapter(), data.count, data.periods, actor=actor(request)
        )
        return (
            f"Created {result.members:,} members and {result.periods:,} activity periods "
            f"in {result.seconds:.2f} s"
        )

    async def make_api_key(request: Request, data: KeyName) -> str:
        """Make a key; its only copy is in this answer."""
        key = await create_api_key(storage.adapter(), data.name, actor=actor(request))
        return (
            f"API key {data.name.strip()!r}: {key} (shown once: copy it now; only its hash is kept)"
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

    return [
        FormConfig(
            name="Generate demo members",
            pydantic_model=DemoMembers,
            endpoint=generate_demo_members,
            description=(
                "Adds random members (10 capital letters, a random valid zone), each with periods "
                "in the past 30 days, in one transaction: the same code and limits as the command "
                "piccolo home populate COUNT --periods=N."
            ),
        ),
        FormConfig(
            name="Create API key",
            pydantic_model=KeyName,
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
    ]
