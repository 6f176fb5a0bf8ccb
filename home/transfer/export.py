"""The full export: a consistent snapshot of the roster as CSV files and a manifest, written
to a directory or a .zip (`piccolo home export PATH`, `GET /api/export`).

- `members.csv`: member_id, real_name, tz;
- `periods.csv`: id, member_id, real_name, tz, start_time, end_time (RFC 3339 UTC; an empty
  end is a running session); importing this export (`piccolo home import`) into an empty
  roster makes the same members and periods, ids included;
- `audit.csv`: the audit trail;
- `api_keys.csv`: the keys' metadata, never their hashes;
- `manifest.json`: when, the schema's last migration, the data version, and each file's rows
  and SHA-256.

Everything is read in one transaction, so the files agree with each other.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from home.roster.timefmt import format_rfc3339
from home.storage.base import Adapter

FORMAT = "roster-export"
FORMAT_VERSION = 1

# Each file: its columns, and the statement that reads its rows in that order.
FILES: dict[str, tuple[tuple[str, ...], str]] = {
    "members.csv": (
        ("member_id", "real_name", "tz"),
        "SELECT id, real_name, tz FROM member ORDER BY id",
    ),
    "periods.csv": (
        ("id", "member_id", "real_name", "tz", "start_time", "end_time"),
        "SELECT p.id, p.member, m.real_name, m.tz, p.start_time, p.end_time "
        "FROM activity_period AS p JOIN member AS m ON m.id = p.member ORDER BY p.id",
    ),
    "audit.csv": (
        ("id", "occurred_at", "actor", "table_name", "row_id", "action", "before", "after"),
        "SELECT id, occurred_at, actor, table_name, row_id, action, before, after "
        "FROM audit_entry ORDER BY id",
    ),
    "api_keys.csv": (
        (
            "id",
            "name",
            "prefix",
            "scopes",
            "member_ids",
            "expires_at",
            "created_at",
            "last_used_at",
            "active",
            "revoked_at",
        ),
        "SELECT id, name, prefix, scopes, member_ids, expires_at, created_at, last_used_at, "
        "active, revoked_at FROM api_key ORDER BY id",
    ),
}
# Columns holding times, written as RFC 3339 UTC; and booleans, written true/false.
TIMES = {
    "periods.csv": (4, 5),
    "audit.csv": (1,),
    "api_keys.csv": (5, 6, 7, 9),
}
BOOLEANS = {"api_keys.csv": (8,)}
MIGRATION = "SELECT name FROM migration WHERE app_name = 'home' ORDER BY name DESC LIMIT 1"


@dataclass(frozen=True)
class Exported:
    """What an export wrote: each file's rows, and the manifest."""

    manifest: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return {name: entry["rows"] for name, entry in self.manifest["files"].items()}


async def read_snapshot(adapter: Adapter) -> tuple[str, str, dict[str, list[list[str]]]]:
    """The data version, the last migration, and each file's rows as text, read in one
    transaction."""
    statements = [(sql, ()) for _, sql in FILES.values()] + [(MIGRATION, ())]
    version, results = await adapter.read_all(statements)
    *tables, migration = results
    rows: dict[str, list[list[str]]] = {}
    for (name, _), found in zip(FILES.items(), tables, strict=True):
        times, booleans = TIMES.get(name, ()), BOOLEANS.get(name, ())
        rows[name] = [
            [_text(value, n in times, n in booleans, adapter) for n, value in enumerate(row)]
            for row in found
        ]
    return version.token, (migration[0][0] if migration else ""), rows


def _text(value: Any, is_time: bool, is_boolean: bool, adapter: Adapter) -> str:
    if value is None:
        return ""
    if is_time:
        return format_rfc3339(adapter.times.to_datetime(value))
    if is_boolean:
        return "true" if value else "false"
    return str(value)


class _Hashing(io.RawIOBase):
    """A binary stream that hashes and counts what passes through it to `target`."""

    def __init__(self, target: IO[bytes]):
        self.target = target
        self.sha256 = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = bytes(data)
        self.sha256.update(view)
        self.target.write(view)
        return len(view)


def write_export(
    rows: dict[str, list[list[str]]],
    opener: Callable[[str], IO[bytes]],
    *,
    version: str,
    migration: str,
    now: datetime,
) -> dict[str, Any]:
    """Write each file through `opener(name)` (a binary stream, closed here), then the
    manifest; return the manifest."""
    files: dict[str, Any] = {}
    for name, (columns, _) in FILES.items():
        with opener(name) as target:
            hashing = _Hashing(target)
            text = io.TextIOWrapper(hashing, encoding="utf-8", newline="", write_through=True)
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(rows[name])
            text.flush()
            text.detach()
        files[name] = {"rows": len(rows[name]), "sha256": hashing.sha256.hexdigest()}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": format_rfc3339(now),
        "schema_migration": migration,
        "data_version": version,
        "files": files,
    }
    with opener("manifest.json") as target:
        target.write(json.dumps(manifest, indent=2).encode() + b"\n")
    return manifest


def to_directory(path: Path) -> Callable[[str], IO[bytes]]:
    path.mkdir(parents=True, exist_ok=True)
    return lambda name: (path / name).open("wb")


def to_zip(archive: zipfile.ZipFile) -> Callable[[str], IO[bytes]]:
    return lambda name: archive.open(name, "w", force_zip64=True)


async def export_roster(adapter: Adapter, path: Path, now: datetime | None = None) -> Exported:
    """Write the export to `path`: a .zip when its name ends so, else a directory."""
    version, migration, rows = await read_snapshot(adapter)
    when = now or datetime.now(UTC)
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            manifest = write_export(
                rows, to_zip(archive), version=version, migration=migration, now=when
            )
    else:
        manifest = write_export(
            rows, to_directory(path), version=version, migration=migration, now=when
        )
    return Exported(manifest)


def zip_bytes_into(
    target: IO[bytes],
    rows: dict[str, list[list[str]]],
    *,
    version: str,
    migration: str,
    now: datetime,
) -> dict[str, Any]:
    """The export as a zip written into `target` (for the API)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        return write_export(rows, to_zip(archive), version=version, migration=migration, now=now)


def check_manifest(files: Iterable[tuple[str, bytes]], manifest: dict[str, Any]) -> list[str]:
    """What does not match the manifest (empty when every file does)."""
    problems = []
    seen = dict(files)
    for name, entry in manifest["files"].items():
        data = seen.get(name)
        if data is None:
            problems.append(f"{name} is missing")
        elif hashlib.sha256(data).hexdigest() != entry["sha256"]:
            problems.append(f"{name} does not match its SHA-256")
    return problems
