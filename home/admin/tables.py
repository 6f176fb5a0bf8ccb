"""The tables as the admin shows them: admin-only subclasses, so that the zone list, the
computed duration and read-only views never enter the application's own tables or its
auto-generated migrations."""

from __future__ import annotations

from enum import Enum

from piccolo.apps.user.tables import BaseUser
from piccolo.columns import ForeignKey, Interval, OnDelete, Timestamptz, Varchar
from piccolo.columns.choices import Choice

from home.changes.tables import WebhookAttempt, WebhookEndpoint
from home.roster.tables import (
    NAME_MAX_LENGTH,
    TZ_MAX_LENGTH,
    ActivityPeriod,
    ApiKey,
    AuditEntry,
    Closing,
    Member,
)
from home.roster.validation import known_zones

FORM_NAME_LENGTH = 10 * NAME_MAX_LENGTH

# Piccolo Admin renders a column with `choices` as a drop-down, in the form and in the filter.
TimeZone = Enum(  # type: ignore[misc]
    "TimeZone", [(zone, Choice(value=zone, display_name=zone)) for zone in sorted(known_zones())]
)


class AdminMember(Member, tablename="member"):
    """The member table as the admin shows it: the zone is picked from the known zones."""

    # Wider than the stored column on purpose: Piccolo would refuse a long name with pydantic's
    # raw error text; letting it through to `member_pre_save` gives the form our own message.
    real_name = Varchar(length=FORM_NAME_LENGTH, null=False, index=True)
    tz = Varchar(
        length=TZ_MAX_LENGTH,
        null=False,
        choices=TimeZone,
        help_text="An IANA time zone, e.g. Asia/Kolkata.",
    )


class AdminActivityPeriod(ActivityPeriod, tablename="activity_period"):
    """The period table as the admin shows it, with the database-computed duration (see the
    migration `computed activity_period.duration`)."""

    member = ForeignKey(references=AdminMember, null=False, on_delete=OnDelete.cascade, index=True)
    start_time = Timestamptz(
        null=False,
        help_text="When the member logged in; give the zone the time is in (stored in UTC).",
    )
    end_time = Timestamptz(
        null=True,
        default=None,
        help_text="When the member logged out; not before the start. Empty while the session "
        "runs (a member has at most one running session).",
    )
    duration = Interval(
        null=True,
        default=None,
        help_text="Worked out by the database from start and end; a value typed here is ignored.",
    )


class AdminApiKey(ApiKey, tablename="api_key"):
    """API keys, read-only here: made and revoked through the admin's forms."""


class AdminAuditEntry(AuditEntry, tablename="audit_entry"):
    """The audit trail, read-only."""


class AdminClosing(Closing, tablename="closing"):
    """Up to when periods are closed, read-only here: moved through the admin's forms (or the
    API), so that reopening stays a superuser's own, audited action."""


class AdminWebhookEndpoint(WebhookEndpoint, tablename="webhook_endpoint"):
    """Webhook endpoints, read-only here: registered, changed and deleted through the admin's
    forms (or the API), so that a secret is shown once and every change is audited."""

    @classmethod
    def get_readable(cls):
        from piccolo.columns.readable import Readable

        return Readable(template="%s", columns=[cls.url])


class AdminWebhookAttempt(WebhookAttempt, tablename="webhook_attempt"):
    """The delivery log: every attempt to deliver a change to an endpoint, read-only."""

    endpoint = ForeignKey(references=AdminWebhookEndpoint, null=False, on_delete=OnDelete.cascade)


class AdminUser(BaseUser, tablename="piccolo_user"):
    """Piccolo's user table, with a login that only admits active users with the admin flag.

    Piccolo's own login checks the password alone, so anyone with an account would get a
    session that every admin endpoint then refuses: a person would be logged in to nothing.
    Refused here, the login form says the login failed and no session is made.
    """

    @classmethod
    async def login(cls, username: str, password: str) -> int | None:
        # The password is checked first, for every user, so timings do not tell who is an admin.
        user_id = await super().login(username=username, password=password)
        if user_id is None:
            return None
        flags = await cls.select(cls.admin, cls.active).where(cls.id == user_id).first()
        if flags and flags["admin"] and flags["active"]:
            return user_id
        return None


ADMIN_TABLES = (
    AdminMember,
    AdminActivityPeriod,
    AdminApiKey,
    AdminAuditEntry,
    AdminClosing,
    AdminWebhookEndpoint,
    AdminWebhookAttempt,
    AdminUser,
)
