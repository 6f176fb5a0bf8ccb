"""The export (home/transfer/export.py): a consistent snapshot as CSV files and a manifest, that
imports into an empty roster as it was; the command and GET /api/export."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime

from home.roster.api_keys import create_api_key
from home.roster.demo import populate_roster
from home.roster.tables import ActivityPeriod, ApiKey, Member
from home.tooling import cli
from home.transfer.export import export_roster
from home.transfer.imports import import_roster
from tests import piccolo_conf
from tests.conftest import bind, make_database
from tests.support.admin import logged_in
from tests.support.client_system import ClientSystem

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


async def roster_state(client) -> dict:
    """What an export must carry over: members, periods (ids and exact times), a report."""
    members = await Member.select(Member.id, Member.real_name, Member.tz).order_by(Member.id)
    periods = await ActivityPeriod.select(
        ActivityPeriod.id, ActivityPeriod.member, ActivityPeriod.start_time, ActivityPeriod.end_time
    ).order_by(ActivityPeriod.id)
    report = await client.get(
        "/api/reports/activity",
        params={"since": "2026-01-01T00:00:00Z", "until": "2026-12-01T00:00:00Z", "top": "1000"},
    )
    assert report.status_code == 200, report.text
    return {
        "members": [(str(m["id"]), m["real_name"], m["tz"]) for m in members],
        "periods": [
            (
                p["id"],
                str(p["member"]),
                p["start_time"].astimezone(UTC),
                None if p["end_time"] is None else p["end_time"].astimezone(UTC),
            )
            for p in periods
        ],
        "totals": report.json()["totals"],
    }


async def some_roster(adapter, system) -> None:
    """Demo members, a period to the microsecond from the API, a running session, a key."""
    await populate_roster(adapter, 20, 3, seed=5, now=NOW)
    member = await system.add_member('Ada, "the Countess"', "Europe/London")
    made = await system.add_period(member, "2026-11-02T09:00:00.123456Z", "2026-11-02T10:00:00Z")
    assert made.status_code == 201, made.text
    assert (await system.start(member, at="2026-11-30T08:00:00Z")).status_code == 201


async def test_an_export_imports_into_an_empty_roster_as_it_was(
    db, app, adapter, client, system, tmp_path
):
    await some_roster(adapter, system)
    before = await roster_state(client)
    exported = await export_roster(adapter, tmp_path / "roster.zip", now=NOW)
    assert exported.counts["members.csv"] == 21 and exported.counts["periods.csv"] == 62
    previous = piccolo_conf.DB
    empty, cleanup = await make_database(db.kind, tmp_path)
    try:
        bind(empty.engine)
        with zipfile.ZipFile(tmp_path / "roster.zip") as archive:
            files = [
                (name, io.TextIOWrapper(archive.open(name), encoding="utf-8", newline=""))
                for name in ("members.csv", "periods.csv")
            ]
            summary = await import_roster(
                app.state.storage.adapter(), files[0][1], source="roster.zip", extra=files[1:]
            )
        assert summary.format == "roster" and summary.periods == 62
        after = await roster_state(client)
        # A period added after the import gets a new id, after the imported ones.
        added = ActivityPeriod(
            member=before["members"][0][0],
            start_time=datetime(2026, 11, 3, 9, tzinfo=UTC),
            end_time=datetime(2026, 11, 3, 10, tzinfo=UTC),
        )
        await added.save()
    finally:
        bind(previous)
        await cleanup()
    assert after == before
    assert added.id == max(period[0] for period in before["periods"]) + 1


async def test_the_export_holds_its_files_and_a_manifest_that_checks_them(
    db, adapter, system, tmp_path
):
    await some_roster(adapter, system)
    await create_api_key(adapter, "door", "test", scopes=["read"])
    exported = await export_roster(adapter, tmp_path / "out", now=NOW)
    directory = tmp_path / "out"
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest == exported.manifest
    assert (
        manifest["format"] == "roster-export" and manifest["exported_at"] == "2026-12-04T12:00:00Z"
    )
    assert manifest["schema_migration"].startswith("2026-")
    for name, entry in manifest["files"].items():
        data = (directory / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert len(list(csv.reader(io.StringIO(data.decode())))) == entry["rows"] + 1, name
    periods = list(csv.DictReader(io.StringIO((directory / "periods.csv").read_text())))
    assert periods[-1]["start_time"] == "2026-11-30T08:00:00Z" and periods[-1]["end_time"] == ""
    assert any(row["start_time"] == "2026-11-02T09:00:00.123456Z" for row in periods)
    keys = (directory / "api_keys.csv").read_text()
    [stored_hash] = [
        row["key_hash"] for row in await ApiKey.select(ApiKey.key_hash).where(ApiKey.name == "door")
    ]
    assert "door" in keys and stored_hash not in keys and "key_hash" not in keys


async def test_the_command_writes_a_zip_or_a_directory(db, adapter, tmp_path, cli_env):
    await populate_roster(adapter, 5, 2, seed=1, now=NOW)
    done = await asyncio.to_thread(
        cli.piccolo, "home", "export", str(tmp_path / "a.zip"), env=cli_env
    )
    assert "Exported to" in cli.check(done) and "5 members.csv, 10 periods.csv" in done.stdout
    assert zipfile.ZipFile(tmp_path / "a.zip").namelist() == [
        "members.csv",
        "periods.csv",
        "audit.csv",
        "api_keys.csv",
        "manifest.json",
    ]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    refused = await asyncio.to_thread(
        cli.piccolo, "home", "export", str(tmp_path / "full"), env=cli_env
    )
    assert refused.returncode != 0 and "is not an empty directory" in refused.stderr


async def test_the_api_streams_the_export_to_readers_of_the_whole_roster(db, adapter, client):
    await populate_roster(adapter, 3, 1, seed=2, now=NOW)
    reader = await ClientSystem.register(client, adapter, scopes=["read"])
    answer = await client.get("/api/export", headers=reader.headers())
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].startswith('attachment; filename="roster-export-')
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["files"]["members.csv"]["rows"] == 3
    # An admin session may too; a key for some members, or none at all, may not.
    await logged_in(client, "exporter")
    assert (await client.get("/api/export")).status_code == 200
    member = (await Member.select(Member.id).first())["id"]
    limited = await ClientSystem.register(client, adapter, scopes=["read"], members=[str(member)])
    refused = await client.get("/api/export", headers=limited.headers())
    assert refused.status_code == 403 and "limited to some members" in refused.json()["error"]
    client.cookies.clear()
    assert (await client.get("/api/export")).status_code == 401
