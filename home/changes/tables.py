"""The tables of webhook deliveries: the endpoints operators register, the log of every
delivery attempt, and the changes queued to be sent again.

The change feed itself (`roster_change`) is written by database triggers and read with plain
SQL: see `home/storage`. A position is two numbers (`*_txid`, the commit number on PostgreSQL
and 0 on SQLite, and the change id; the column names are older than the commit numbers).
"""

from piccolo.columns import (
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Real,
    Secret,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

URL_MAX_LENGTH = 2000


class WebhookEndpoint(Table):
    """A URL that receives the roster's changes, signed with its own secret.

    `cursor_txid`/`cursor_id` is the feed position delivered up to; `failures`,
    `next_attempt_at` are the retries of the change after it; `lease_until`/`leased_by` say
    which relay works on the endpoint (see `home/changes/relay.py`).
    """

    id = Serial(primary_key=True)
    url = Varchar(length=URL_MAX_LENGTH, null=False)
    types = Text(null=False, default='["*"]')
    secret = Secret(length=100, null=False)
    enabled = Boolean(default=True)
    disabled_reason = Text(null=True, default=None)
    created_at = Timestamptz()
    cursor_txid = BigInt(default=0)
    cursor_id = BigInt(default=0)
    failures = Integer(default=0)
    next_attempt_at = Timestamptz(null=True, default=None)
    lease_until = Timestamptz(null=True, default=None)
    leased_by = Varchar(length=100, null=True, default=None)
    last_delivery_at = Timestamptz(null=True, default=None)


class WebhookAttempt(Table):
    """One attempt to deliver one change to one endpoint: the delivery log."""

    id = Serial(primary_key=True)
    endpoint = ForeignKey(
        references=WebhookEndpoint, null=False, on_delete=OnDelete.cascade, index=True
    )
    change_id = Varchar(length=64, null=False)
    change_type = Varchar(length=32, null=False)
    attempted_at = Timestamptz()
    attempt = Integer(default=1)
    status_code = Integer(null=True, default=None)
    error = Text(null=True, default=None)
    duration_ms = Real(default=0.0)
    outcome = Varchar(length=20, null=False)


class WebhookRedelivery(Table):
    """A change an operator asked to send again to an endpoint; the relay sends it once."""

    id = Serial(primary_key=True)
    endpoint = ForeignKey(
        references=WebhookEndpoint, null=False, on_delete=OnDelete.cascade, index=True
    )
    change_txid = BigInt(default=0)
    change_id = BigInt(default=0)
    requested_at = Timestamptz()
    requested_by = Varchar(length=200, null=False)
