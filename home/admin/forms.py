"""Admin forms: "Generate demo members" runs `piccolo home populate`'s code, with its limits."""

from __future__ import annotations

from piccolo_admin.endpoints import FormConfig
from pydantic import BaseModel, Field, field_validator
from starlette.requests import Request

from home.roster.demo import MAX_MEMBERS, MAX_PERIODS, parse_count, populate_roster
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


def demo_members_form(storage: Storage) -> FormConfig:
    """The form, writing through `storage`."""

    async def generate_demo_members(request: Request, data: DemoMembers) -> str:
        """Create the members in one transaction; a bad count is refused before anything is
        written."""
        count = parse_count(data.count, name="count", low=1, high=MAX_MEMBERS)
        periods = parse_count(data.periods, name="periods", low=0, high=MAX_PERIODS)
        result = await populate_roster(storage.adapter(), count, periods)
        return (
            f"Created {result.members:,} members and {result.periods:,} activity periods "
            f"in {result.seconds:.2f} s"
        )

    return FormConfig(
        name="Generate demo members",
        pydantic_model=DemoMembers,
        endpoint=generate_demo_members,
        description=(
            "Adds random members (10 capital letters, a random valid zone), each with periods in "
            "the past 30 days, in one transaction: the same code and limits as the command "
            "piccolo home populate COUNT --periods=N."
        ),
    )
