"""The roster's tables: members and the periods they were active."""

from piccolo.columns import UUID, ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.constraints import Check
from piccolo.table import Table

NAME_MAX_LENGTH = 100
TZ_MAX_LENGTH = 100


class Member(Table):
    """A person on the roster."""

    id = UUID(primary_key=True)
    real_name = Varchar(length=NAME_MAX_LENGTH, null=False, index=True)
    tz = Varchar(length=TZ_MAX_LENGTH, null=False)

    real_name_not_empty = Check("length(real_name) >= 1")

    @classmethod
    def get_readable(cls):
        from piccolo.columns.readable import Readable

        return Readable(template="%s", columns=[cls.real_name])


class ActivityPeriod(Table):
    """One stretch of time between a member's log-in and log-out."""

    member = ForeignKey(references=Member, null=False, on_delete=OnDelete.cascade, index=True)
    start_time = Timestamptz(null=False)
    end_time = Timestamptz(null=False)

    ends_after_start = Check("end_time >= start_time")
