"""The roster's tables: members, the periods they were active, the API keys of the systems that
record those periods, and the audit trail of every write."""

from piccolo.columns import (
    UUID,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Secret,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Check
from piccolo.table import Table

NAME_MAX_LENGTH = 100
TZ_MAX_LENGTH = 100
KEY_NAME_MAX_LENGTH = 100


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
    """One stretch of time between a member's log-in and log-out.

    `end_time` is NULL while the session runs. A member's periods never overlap, and a member
    has at most one running session (database constraints, see the migration `sessions`).
    """

    # Indexed by `activity_period_member_times` (member, start_time, end_time), which serves
    # every lookup by member; see the migration of 2026-12-01T19:00.
    member = ForeignKey(references=Member, null=False, on_delete=OnDelete.cascade, index=False)
    start_time = Timestamptz(null=False)
    end_time = Timestamptz(null=True, default=None)

    ends_after_start = Check("end_time >= start_time")


class ApiKey(Table):
    """A key a client system authenticates with. The key itself is shown once and never stored:
    only its SHA-256 hash, and a short prefix to find it by.

    `scopes` (comma separated) say what it may do; `member_ids` (a JSON list), when set, are the
    only members it may read and write; after `expires_at` it is refused.
    """

    id = Serial(primary_key=True)
    name = Varchar(length=KEY_NAME_MAX_LENGTH, null=False, unique=True)
    prefix = Varchar(length=16, null=False, unique=True)
    key_hash = Secret(length=64, null=False)
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
    active = Boolean(default=True)
    revoked_at = Timestamptz(null=True, default=None)
    scopes = Varchar(length=200, null=False, default="read")
    member_ids = Text(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)


class AuditEntry(Table):
    """One write to a member, a period or an API key, recorded by database triggers in the same
    transaction: when, who, what, and the row's values before and after (JSON)."""

    id = Serial(primary_key=True)
    occurred_at = Timestamptz()
    actor = Varchar(length=200, null=False)
    table_name = Varchar(length=50, null=False)
    row_id = Varchar(length=64, null=False)
    action = Varchar(length=20, null=False)
    before = Text(null=True, default=None)
    after = Text(null=True, default=None)


class Closing(Table):
    """Up to when the books are closed: no period that starts before `until` may be created,
    changed or deleted (database triggers refuse it, whoever writes). One row (id 1); `until`
    is NULL while nothing is closed. Every change to it is audited."""

    id = Integer(primary_key=True)
    until = Timestamptz(null=True, default=None)
    changed_at = Timestamptz(null=True, default=None)
    changed_by = Varchar(length=200, null=True, default=None)
