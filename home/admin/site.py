"""Piccolo Admin for the roster: which tables it shows and how, and the site itself.

Members and periods are edited here under the same rules as everywhere else (`hooks.py`);
every write is one audited transaction credited to the operator (`crud.py`). API keys and the
audit trail are read-only lists: keys are made and revoked through forms (`forms.py`), and the
audit trail is written by the database. Logins go through `AdminUser`, which admits only
active admin users.
"""

from __future__ import annotations

from datetime import timedelta

from piccolo_admin.endpoints import TableConfig, create_admin
from piccolo_api.crud.endpoints import OrderBy
from piccolo_api.crud.hooks import Hook, HookType
from piccolo_api.crud.validators import Validators

from home.admin import crud  # noqa: F401  (installs RosterCRUD before create_admin runs)
from home.admin.forms import forms
from home.admin.hooks import (
    member_pre_patch,
    member_pre_save,
    period_pre_patch,
    period_pre_save,
    read_only,
    refuse_put,
)
from home.admin.tables import (
    ADMIN_TABLES,
    AdminActivityPeriod,
    AdminApiKey,
    AdminAuditEntry,
    AdminClosing,
    AdminMember,
    AdminUser,
    AdminWebhookAttempt,
    AdminWebhookEndpoint,
)
from home.settings import Settings
from home.storage import Storage
from home.storage.login_attempts import NoLimit

__all__ = ["ADMIN_TABLES", "AdminActivityPeriod", "build_admin", "csrf_hosts"]

SITE_NAME = "Roster Admin"
MENU_GROUP = "Roster"
ACCESS_GROUP = "API access"
WEBHOOKS_GROUP = "Webhooks"
READ_ONLY = Validators(
    post_single=[read_only],
    put_single=[read_only],
    patch_single=[read_only],
    delete_single=[read_only],
    delete_all=[read_only],
)

MEMBER_CONFIG = TableConfig(
    AdminMember,
    visible_columns=[AdminMember.real_name, AdminMember.tz],
    visible_filters=[AdminMember.real_name, AdminMember.tz],
    link_column=AdminMember.real_name,
    order_by=[OrderBy(AdminMember.real_name), OrderBy(AdminMember.id)],
    menu_group=MENU_GROUP,
    hooks=[
        Hook(hook_type=HookType.pre_save, callable=member_pre_save),
        Hook(hook_type=HookType.pre_patch, callable=member_pre_patch),
    ],
    validators=Validators(put_single=[refuse_put]),
)

PERIOD_CONFIG = TableConfig(
    AdminActivityPeriod,
    visible_columns=[
        AdminActivityPeriod.member,
        AdminActivityPeriod.start_time,
        AdminActivityPeriod.end_time,
        AdminActivityPeriod.duration,
    ],
    visible_filters=[
        AdminActivityPeriod.member,
        AdminActivityPeriod.start_time,
        AdminActivityPeriod.end_time,
    ],
    link_column=AdminActivityPeriod.start_time,
    order_by=[OrderBy(AdminActivityPeriod.start_time, ascending=False)],
    time_resolution={AdminActivityPeriod.start_time: 60, AdminActivityPeriod.end_time: 60},
    menu_group=MENU_GROUP,
    hooks=[
        Hook(hook_type=HookType.pre_save, callable=period_pre_save),
        Hook(hook_type=HookType.pre_patch, callable=period_pre_patch),
    ],
    validators=Validators(put_single=[refuse_put]),
)

API_KEY_CONFIG = TableConfig(
    AdminApiKey,
    visible_columns=[
        AdminApiKey.name,
        AdminApiKey.prefix,
        AdminApiKey.scopes,
        AdminApiKey.member_ids,
        AdminApiKey.expires_at,
        AdminApiKey.active,
        AdminApiKey.created_at,
        AdminApiKey.last_used_at,
        AdminApiKey.revoked_at,
    ],
    visible_filters=[AdminApiKey.name, AdminApiKey.active],
    link_column=AdminApiKey.name,
    order_by=[OrderBy(AdminApiKey.name)],
    menu_group=ACCESS_GROUP,
    validators=READ_ONLY,
)

AUDIT_CONFIG = TableConfig(
    AdminAuditEntry,
    visible_columns=[
        AdminAuditEntry.occurred_at,
        AdminAuditEntry.actor,
        AdminAuditEntry.table_name,
        AdminAuditEntry.row_id,
        AdminAuditEntry.action,
        AdminAuditEntry.before,
        AdminAuditEntry.after,
    ],
    visible_filters=[
        AdminAuditEntry.occurred_at,
        AdminAuditEntry.actor,
        AdminAuditEntry.table_name,
        AdminAuditEntry.row_id,
        AdminAuditEntry.action,
    ],
    link_column=AdminAuditEntry.occurred_at,
    order_by=[OrderBy(AdminAuditEntry.id, ascending=False)],
    menu_group=ACCESS_GROUP,
    validators=READ_ONLY,
)


CLOSING_CONFIG = TableConfig(
    AdminClosing,
    visible_columns=[AdminClosing.until, AdminClosing.changed_at, AdminClosing.changed_by],
    link_column=AdminClosing.until,
    menu_group=MENU_GROUP,
    validators=READ_ONLY,
)

WEBHOOK_ENDPOINT_CONFIG = TableConfig(
    AdminWebhookEndpoint,
    visible_columns=[
        AdminWebhookEndpoint.id,
        AdminWebhookEndpoint.url,
        AdminWebhookEndpoint.types,
        AdminWebhookEndpoint.enabled,
        AdminWebhookEndpoint.disabled_reason,
        AdminWebhookEndpoint.created_at,
        AdminWebhookEndpoint.last_delivery_at,
        AdminWebhookEndpoint.failures,
        AdminWebhookEndpoint.next_attempt_at,
    ],
    visible_filters=[AdminWebhookEndpoint.url, AdminWebhookEndpoint.enabled],
    link_column=AdminWebhookEndpoint.url,
    order_by=[OrderBy(AdminWebhookEndpoint.id)],
    menu_group=WEBHOOKS_GROUP,
    validators=READ_ONLY,
)

WEBHOOK_ATTEMPT_CONFIG = TableConfig(
    AdminWebhookAttempt,
    visible_columns=[
        AdminWebhookAttempt.attempted_at,
        AdminWebhookAttempt.endpoint,
        AdminWebhookAttempt.change_id,
        AdminWebhookAttempt.change_type,
        AdminWebhookAttempt.attempt,
        AdminWebhookAttempt.outcome,
        AdminWebhookAttempt.status_code,
        AdminWebhookAttempt.error,
        AdminWebhookAttempt.duration_ms,
    ],
    visible_filters=[
        AdminWebhookAttempt.attempted_at,
        AdminWebhookAttempt.endpoint,
        AdminWebhookAttempt.change_id,
        AdminWebhookAttempt.outcome,
        AdminWebhookAttempt.status_code,
    ],
    link_column=AdminWebhookAttempt.attempted_at,
    order_by=[OrderBy(AdminWebhookAttempt.id, ascending=False)],
    menu_group=WEBHOOKS_GROUP,
    validators=READ_ONLY,
)


def csrf_hosts(config: Settings) -> list[str]:
    """ALLOWED_HOSTS as Piccolo's CSRF check compares them: the host of Origin or Referer,
    where an IPv6 address has no brackets."""
    return [host.strip("[]") for host in config.allowed_hosts]


def build_admin(config: Settings, storage: Storage):
    """The admin ASGI app for these settings; built once per app."""
    return create_admin(
        tables=[
            MEMBER_CONFIG,
            PERIOD_CONFIG,
            API_KEY_CONFIG,
            AUDIT_CONFIG,
            CLOSING_CONFIG,
            WEBHOOK_ENDPOINT_CONFIG,
            WEBHOOK_ATTEMPT_CONFIG,
        ],
        forms=forms(storage, config),
        site_name=SITE_NAME,
        auth_table=AdminUser,
        # Secure session cookies, and CSRF checks of Origin/Referer against allowed_hosts on HTTPS.
        production=config.production,
        allowed_hosts=csrf_hosts(config),
        session_expiry=config.session_expiry,
        max_session_expiry=config.session_max_expiry,
        increase_expiry=min(config.session_expiry / 3, timedelta(minutes=20)),
        # home/admin/mount.py throttles logins per account, address and in all instead.
        rate_limit_provider=NoLimit(),
        sidebar_links={"Dashboard": "/dashboard/"},
        debug=False,
    )
