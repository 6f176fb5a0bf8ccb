"""The move from SQLite to PostgreSQL (home/transfer/copy.py): the README's steps keep /fetch/,
the reports and the API keys as they were; a target that is not empty, not migrated or
migrated otherwise is refused, and a copy that does not verify writes nothing."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from piccolo.apps.migrations.commands.backwards import run_backwards

from home.tooling import cli
from home.tooling.servers import Server
from home.transfer import copy as copying
from home.transfer.copy import CopyError, copy_to
from tests import piccolo_conf
from tests.conftest import bind, create_pg_database, drop_pg_database, make_database, pg_url
from tests.factories import make_member, make_period

REPORT = {"since": "2026-01-01T00:00:00Z", "until": "2026-12-01T00:00:00Z", "top": "1000"}


async def state(server: Server, key: str, member: str) -> dict:
    """What clients see: /fetch/ in both styles, a report, a member, read with the key."""
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
        seen = {}
        for name, response in {
            "seed": await http.get("/fetch/"),
            "fullthrottle": await http.get("/fetch/", params={"style": "fullthrottle"}),
            "report": await http.get("/api/reports/activity", params=REPORT),
            "member": await http.get(f"/api/members/{member}"),
        }.items():
            assert response.status_code == 200, (name, response.text)
            seen[name] = response.json()
    return seen


async def test_serving_on_postgresql_after_copy_to_shows_what_sqlite_did(tmp_path):
    sqlite = cli.command_env(SQLITE_PATH=str(tmp_path / "roster.sqlite"))
    cli.check(await asyncio.to_thread(cli.piccolo, "migrations", "forwards", "all", env=sqlite))
    cli.check(
        await asyncio.to_thread(cli.piccolo, "home", "populate", "30", "--seed=3", env=sqlite)
    )
    made = await asyncio.to_thread(
        cli.piccolo, "home", "new_api_key", "door", "--scope=read,sessions:write,members:write",
        env=sqlite,
    )  # fmt: skip
    key = cli.check(made).strip().splitlines()[-1]
    headers = {"authorization": f"Bearer {key}"}
    with Server(sqlite) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
            member = await http.post("/api/members", json={"real_name": "Ada", "tz": "UTC"})
            member_id = member.json()["id"]
            period = {"start_time": "2026-11-02T09:00:00.5Z", "end_time": "2026-11-02T17:00:00Z"}
            made_period = await http.post(f"/api/members/{member_id}/periods", json=period)
            assert made_period.status_code == 201, made_period.text
            started = await http.post(
                f"/api/members/{member_id}/sessions/start", json={"at": "2026-11-30T08:00:00Z"}
            )
            assert started.status_code == 201, started.text
        before = await state(server, key, member_id)
    name = await create_pg_database()
    try:
        target = cli.command_env(DATABASE_URL=pg_url(name))
        cli.check(await asyncio.to_thread(cli.piccolo, "migrations", "forwards", "all", env=target))
        copied = cli.check(
            await asyncio.to_thread(cli.piccolo, "home", "copy_to", pg_url(name), env=sqlite)
        )
        assert "Copied and verified" in copied and "activity_period: 92 rows" in copied
        with Server(target) as server:
            after = await state(server, key, member_id)
            # The key still writes, and the running session can be stopped.
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
                stopped = await http.post(
                    f"/api/members/{member_id}/sessions/stop", json={"at": "2026-11-30T09:00:00Z"}
                )
                assert stopped.status_code == 200, stopped.text
                # A new period gets a new id after the copied ones.
                added = await http.post(
                    f"/api/members/{member_id}/periods",
                    json={"start_time": "2026-11-03T09:00:00Z", "end_time": "2026-11-03T10:00:00Z"},
                )
                assert added.status_code == 201, added.text
                assert added.json()["id"] == 93
    finally:
        await drop_pg_database(name)
    assert after == before


@pytest.fixture
async def source(tmp_path, app):
    """A small roster on SQLite, bound while the test runs; its adapter."""
    previous = piccolo_conf.DB
    database, cleanup = await make_database("sqlite", tmp_path)
    member = await make_member("COPIED")
    await make_period(member)
    try:
        yield app.state.storage.adapter()
    finally:
        bind(previous)
        await cleanup()


async def test_a_target_not_migrated_or_not_empty_is_refused(source):
    bare = await create_pg_database()
    try:
        with pytest.raises(CopyError, match="is not migrated: run `DATABASE_URL=... piccolo"):
            await copy_to(source, pg_url(bare))
    finally:
        await drop_pg_database(bare)
    previous = piccolo_conf.DB
    target, cleanup = await make_database("postgres")
    bind(previous)
    try:
        await copy_to(source, target.env["DATABASE_URL"])
        with pytest.raises(CopyError, match=r"is not empty \(member, activity_period"):
            await copy_to(source, target.env["DATABASE_URL"])
    finally:
        await cleanup()
    with pytest.raises(CopyError, match="'mysql' is not a PostgreSQL URL"):
        await copy_to(source, "mysql://localhost/roster")


async def test_a_target_migrated_otherwise_is_refused(source):
    previous = piccolo_conf.DB
    target, cleanup = await make_database("postgres")
    try:
        back = await run_backwards(
            app_name="home", migration_id="2026-12-04T21:00:00:000000", auto_agree=True
        )
        assert back.success, back.message
        bind(previous)
        with pytest.raises(
            CopyError,
            match=r"not migrated to the same migrations as this database \(it lacks 2026-12-04T21",
        ):
            await copy_to(source, target.env["DATABASE_URL"])
    finally:
        bind(previous)
        await cleanup()


async def test_a_copy_that_does_not_verify_writes_nothing(source, monkeypatch):
    previous = piccolo_conf.DB
    target, cleanup = await make_database("postgres")
    bind(previous)
    sums = iter(range(1000))
    monkeypatch.setattr(copying, "checksum", lambda rows, types: str(next(sums)))
    try:
        with pytest.raises(CopyError, match="member did not verify.*nothing was written"):
            await copy_to(source, target.env["DATABASE_URL"])
        rows = await target.engine.run_ddl("SELECT count(*) AS n FROM member")
        assert rows[0]["n"] == 0
    finally:
        await cleanup()
