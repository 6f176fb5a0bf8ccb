"""The move to PostgreSQL: `piccolo home copy_to postgresql://...` copies the configured
database (SQLite, or another PostgreSQL) into an empty PostgreSQL database migrated to the
same migrations, with COPY, in one transaction that commits only once every table's row
count and checksum match on both sides.

Copied: members, periods (running sessions included), API keys (so client systems keep
working) and their request counts, idempotency keys, the audit trail, admin users, webhook
endpoints and their delivery log, and the closing. Not copied: admin sessions (log in
again), the change feed (followers take a new snapshot from the new database; webhook
endpoints go on from the changes made after the copy), the login throttle's counts.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from home.storage.base import Adapter

# In the order they are written (a row's references first), each with the order its rows
# are read and compared in.
TABLES: list[tuple[str, str]] = [
    ("member", "id"),
    ("activity_period", "id"),
    ("api_key", "id"),
    ("api_key_usage", "key_id, window_start"),
    ("idempotency_key", "owner, key"),
    ("piccolo_user", "id"),
    ("audit_entry", "id"),
    ("webhook_endpoint", "id"),
    ("webhook_attempt", "id"),
]
# The single row every migrated database has; copied by updating it.
SINGLE_ROWS = {"closing": "id"}
# Columns that are the relay's bookkeeping against the change feed, which is not copied:
# endpoints start again from the new database's head, with no lease.
RESET = {
    "webhook_endpoint": {
        "cursor_txid", "cursor_id", "lease_until", "leased_by", "next_attempt_at",
    }
}  # fmt: skip
BATCH = 50_000


class CopyError(RuntimeError):
    """The copy cannot be made (or did not verify): nothing was written to the target."""


@dataclass(frozen=True)
class TableCopy:
    name: str
    rows: int
    checksum: str


@dataclass(frozen=True)
class CopyReport:
    tables: list[TableCopy]
    seconds: float

    def lines(self) -> list[str]:
        out = [f"Copied and verified in {self.seconds:.2f} s (row counts and SHA-256 per table):"]
        out += [f"  {t.name}: {t.rows:,} rows, {t.checksum[:16]}" for t in self.tables]
        return out


def _shown_url(url: str) -> str:
    """The target without its password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return (
        f"{parts.scheme}://{parts.username + '@' if parts.username else ''}{host}"
        + (f":{parts.port}" if parts.port else "")
        + parts.path
    )


async def copy_to(
    source: Adapter,
    target_url: str,
    *,
    connect_timeout: float = 10.0,
    progress: Callable[[str], None] | None = None,
) -> CopyReport:
    """Copy everything from `source` into the empty, migrated database at `target_url`."""
    started = time.perf_counter()
    if urlsplit(target_url).scheme not in ("postgresql", "postgres"):
        raise CopyError(
            f"{target_url.split(':', 1)[0]!r} is not a PostgreSQL URL: give one like "
            "postgresql://user:password@host:5432/roster"
        )
    shown = _shown_url(target_url)
    try:
        target = await asyncpg.connect(target_url, timeout=connect_timeout)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        raise CopyError(f"cannot connect to {shown}: {error}") from None
    try:
        columns = await _target_columns(target)
        await _check_target(source, target, shown)
        statements = [
            (f"SELECT {', '.join(columns[name])} FROM {name} ORDER BY {order}", ())
            for name, order in TABLES
        ] + [(f"SELECT {', '.join(columns[name])} FROM {name}", ()) for name in SINGLE_ROWS]
        _, results = await source.read_all(statements)
        tables: list[TableCopy] = []
        async with target.transaction():
            # The audit trail and the change feed are copied as they are, not written again
            # by the triggers for each row copied (as for a bulk insert).
            await target.execute("SELECT set_config('roster.audit_bulk', 'on', true)")
            head = await target.fetchval("SELECT version FROM roster_version WHERE id = 1")
            for (name, order), rows in zip(TABLES, results, strict=False):
                names = columns[name]
                types = [columns.types[(name, column)] for column in names]
                records = [_converted(row, types, name, names, head) for row in rows]
                for first in range(0, len(records), BATCH):
                    await target.copy_records_to_table(
                        name, records=records[first : first + BATCH], columns=names
                    )
                if progress is not None:
                    progress(f"{name}: {len(records):,} rows")
                tables.append(await _verify(target, name, order, names, types, records))
            for (name, key), rows in zip(SINGLE_ROWS.items(), results[len(TABLES) :], strict=True):
                names = columns[name]
                types = [columns.types[(name, column)] for column in names]
                for row in rows:
                    values = _converted(row, types, name, names, head)
                    assignments = ", ".join(
                        f"{column} = ${n + 1}" for n, column in enumerate(names) if column != key
                    )
                    await target.execute(
                        f"UPDATE {name} SET {assignments} WHERE {key} = ${names.index(key) + 1}",
                        *values,
                    )
                tables.append(
                    await _verify(
                        target,
                        name,
                        key,
                        names,
                        types,
                        [_converted(row, types, name, names, head) for row in rows],
                    )
                )
            for name, _ in TABLES:
                if "id" in columns[name] and columns.types[(name, "id")] in ("integer", "bigint"):
                    await target.execute(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"greatest((SELECT max(id) FROM {name}), 1), "
                        f"(SELECT max(id) FROM {name}) IS NOT NULL)"
                    )
            await target.execute("SELECT set_config('roster.audit_bulk', 'off', true)")
    finally:
        await target.close()
    return CopyReport(tables, time.perf_counter() - started)


class _Columns(dict[str, list[str]]):
    """Each table's columns as the target has them (generated ones aside), and their types."""

    types: dict[tuple[str, str], str]


async def _target_columns(target: Any) -> _Columns:
    rows = await target.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_generated = 'NEVER' "
        "ORDER BY table_name, ordinal_position"
    )
    columns = _Columns()
    columns.types = {}
    for row in rows:
        columns.setdefault(row["table_name"], []).append(row["column_name"])
        columns.types[(row["table_name"], row["column_name"])] = row["data_type"]
    return columns


async def _check_target(source: Adapter, target: Any, shown: str) -> None:
    """Refuse a target that is not migrated as the source is, or that holds data."""
    has_migrations = await target.fetchval("SELECT to_regclass('migration') IS NOT NULL")
    if not has_migrations:
        raise CopyError(
            f"{shown} is not migrated: run `DATABASE_URL=... piccolo migrations forwards all` "
            "against it first"
        )
    _, [applied] = await source.read_all([("SELECT app_name, name FROM migration", ())])
    ours = {(row[0], row[1]) for row in applied}
    theirs = {
        (row["app_name"], row["name"])
        for row in await target.fetch("SELECT app_name, name FROM migration")
    }
    if ours != theirs:
        missing = sorted(name for _, name in ours - theirs)
        extra = sorted(name for _, name in theirs - ours)
        detail = "; ".join(
            part
            for part in (
                f"it lacks {', '.join(missing[:3])}" if missing else "",
                f"it has {', '.join(extra[:3])}, which this database lacks" if extra else "",
            )
            if part
        )
        raise CopyError(
            f"{shown} is not migrated to the same migrations as this database ({detail}): "
            "run `piccolo migrations forwards all` on both, with the same release"
        )
    filled = []
    for name, _ in TABLES:
        if await target.fetchval(f"SELECT EXISTS (SELECT 1 FROM {name})"):
            filled.append(name)
    if await target.fetchval("SELECT until IS NOT NULL FROM closing WHERE id = 1"):
        filled.append("closing")
    if filled:
        raise CopyError(
            f"{shown} is not empty ({', '.join(filled)} hold rows): copy into a new database, "
            "created and migrated for it"
        )


def _converted(
    row: Any, types: list[str], table: str, names: list[str], head: int
) -> tuple[Any, ...]:
    reset = RESET.get(table, set())
    values = []
    for value, kind, column in zip(row, types, names, strict=True):
        if column in reset:
            value = _reset_value(column, head)
        values.append(_as(kind, value))
    return tuple(values)


def _reset_value(column: str, head: int) -> Any:
    # Before any change the target records from now on (the first takes a version above
    # `head`): an endpoint gets the changes made after the copy.
    return {"cursor_txid": head + 1, "cursor_id": 0}.get(column)


def _as(kind: str, value: Any) -> Any:
    """`value` read from the source as the target's column of type `kind` takes it."""
    if value is None:
        return None
    if kind == "uuid":
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    if kind == "timestamp with time zone":
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if kind == "timestamp without time zone":
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment.replace(tzinfo=None)
    if kind == "boolean":
        return bool(value)
    if kind in ("integer", "bigint", "smallint"):
        return int(value)
    if kind in ("real", "double precision"):
        return float(value)
    return str(value)


def _canonical(value: Any, kind: str) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if kind == "real":
        return f"{float(value):.6g}"  # four bytes: what survives the round trip
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def checksum(rows: list[tuple[Any, ...]], types: list[str]) -> str:
    """SHA-256 over the rows' canonical text, in their order."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update("\t".join(_canonical(v, k) for v, k in zip(row, types, strict=True)).encode())
        digest.update(b"\n")
    return digest.hexdigest()


async def _verify(
    target: Any,
    name: str,
    order: str,
    names: list[str],
    types: list[str],
    sent: list[tuple[Any, ...]],
) -> TableCopy:
    """Read the table back (in this transaction) and compare it with what was sent."""
    stored = [
        tuple(row)
        for row in await target.fetch(f"SELECT {', '.join(names)} FROM {name} ORDER BY {order}")
    ]
    expected, found = checksum(sent, types), checksum(stored, types)
    if len(stored) != len(sent) or expected != found:
        raise CopyError(
            f"{name} did not verify: {len(sent):,} rows sent, {len(stored):,} read back, "
            f"checksums {expected[:16]} and {found[:16]}; nothing was written"
        )
    return TableCopy(name, len(stored), found)
