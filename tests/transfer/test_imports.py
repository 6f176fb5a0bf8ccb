"""Imports from Toggl Track and Clockify exports (home/transfer/imports.py): people matched by
name, times read in the right zone and day order, every bad row listed with nothing written,
dry runs, one audited change; the command and POST /api/imports."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import pytest

from home.roster import closing
from home.roster.tables import ActivityPeriod, AuditEntry, Member
from home.tooling import cli
from home.transfer import imports
from home.transfer.imports import ImportRefused, import_roster
from tests.factories import make_member, make_period
from tests.support.client_system import ClientSystem
from tests.support.exports import TimeEntry, clockify_csv, toggl_csv


async def run_import(adapter, text: str, **options):
    return await import_roster(adapter, io.StringIO(text), source="export.csv", **options)


async def periods_of(name: str) -> list[tuple[datetime, datetime | None]]:
    member = await Member.select(Member.id).where(Member.real_name == name).first()
    rows = await (
        ActivityPeriod.select(ActivityPeriod.start_time, ActivityPeriod.end_time)
        .where(ActivityPeriod.member == member["id"])
        .order_by(ActivityPeriod.start_time)
    )
    return [(row["start_time"].astimezone(UTC), row["end_time"].astimezone(UTC)) for row in rows]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


async def stored() -> list[object]:
    return [
        await Member.select().order_by(Member.id),
        await ActivityPeriod.select().order_by(ActivityPeriod.id),
        await AuditEntry.count(),
    ]


async def test_a_toggl_export_lands_on_its_people_matched_by_name(db, adapter):
    ada = await make_member("Ada Lovelace", tz="Europe/London")
    text = toggl_csv(
        [
            # Across midnight, in Ada's own zone (British Summer Time from March 29).
            TimeEntry("Ada Lovelace", "2026-03-27", "22:00:00", "2026-03-28", "01:30:00"),
            # The same person, spelled with other case and spaces.
            TimeEntry(" ada lovelace ", "2026-03-30", "09:00:00", "2026-03-30", "17:00:00"),
            TimeEntry("Grace Hopper", "2026-03-30", "08:00:00", "2026-03-30", "12:00:00"),
        ]
    )
    summary = await run_import(adapter, text)
    assert summary.format == "toggl" and summary.periods == 3
    assert await periods_of("Ada Lovelace") == [
        (utc(2026, 3, 27, 22), utc(2026, 3, 28, 1, 30)),
        (utc(2026, 3, 30, 8), utc(2026, 3, 30, 16)),
    ]
    # Grace is new: a member in UTC (no --tz given).
    assert await periods_of("Grace Hopper") == [(utc(2026, 3, 30, 8), utc(2026, 3, 30, 12))]
    assert await Member.count() == 2
    shown = summary.as_dict()
    assert (shown["members_matched"], shown["members_created"]) == (1, 1)
    [matched] = shown["matched"]
    assert matched == {
        "name": "Ada Lovelace",
        "member_id": str(ada.id),
        "tz": "Europe/London",
        "periods": 2,
        "also_spelled": ["ada lovelace"],  # as written, spaces aside
    }
    assert shown["created"][0]["name"] == "Grace Hopper" and shown["created"][0]["tz"] == "UTC"


async def test_a_clockify_export_with_a_12_hour_clock_and_day_first_dates(db, adapter):
    text = clockify_csv(
        [
            TimeEntry("Linus", "25/03/2026", "09:00:00 AM", "25/03/2026", "05:30:00 PM"),
            # Reads either way alone; the line above shows the file puts the day first.
            TimeEntry("Linus", "03/04/2026", "12:15 AM", "03/04/2026", "12:45 PM"),
        ]
    )
    summary = await run_import(adapter, text, tz="Asia/Kolkata")
    assert (summary.format, summary.date_order) == ("clockify", "dmy")
    assert await periods_of("Linus") == [
        (utc(2026, 3, 25, 3, 30), utc(2026, 3, 25, 12)),
        (utc(2026, 4, 2, 18, 45), utc(2026, 4, 3, 7, 15)),  # 3 April, 00:15 to 12:45 IST
    ]
    [created] = summary.as_dict()["created"]
    assert created["tz"] == "Asia/Kolkata"  # new members take --tz


async def test_times_across_a_clock_change_have_their_real_length(db, adapter):
    text = toggl_csv(
        [
            # Clocks go forward at 02:00 on March 29 in Berlin: this is one hour.
            TimeEntry("Otto", "2026-03-29", "01:30:00", "2026-03-29", "03:30:00", "01:00:00"),
            # Clocks go back at 03:00 on October 25: 02:15 comes twice; 02:30 to the second
            # 02:15 is 45 minutes.
            TimeEntry("Otto", "2026-10-25", "02:30:00", "2026-10-25", "02:15:00", "00:45:00"),
        ]
    )
    await run_import(adapter, text, tz="Europe/Berlin")
    assert await periods_of("Otto") == [
        (utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30)),
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 15)),
    ]


async def test_dates_that_read_either_way_need_the_order_given(db, adapter):
    text = toggl_csv([TimeEntry("Ana", "03/04/2026", "09:00", "03/04/2026", "10:00")])
    with pytest.raises(ImportRefused, match="--date_order=dmy .* or --date_order=mdy"):
        await run_import(adapter, text)
    assert await Member.count() == 0
    await run_import(adapter, text, date_order="mdy")
    assert await periods_of("Ana") == [(utc(2026, 3, 4, 9), utc(2026, 3, 4, 10))]


async def test_a_file_that_mixes_day_orders_is_refused(db, adapter):
    text = toggl_csv(
        [
            TimeEntry("Ana", "25/03/2026", "09:00", "25/03/2026", "10:00"),
            TimeEntry("Ana", "03/26/2026", "09:00", "03/26/2026", "10:00"),
        ]
    )
    with pytest.raises(ImportRefused, match="line 2 has a day first and line 3 a month first"):
        await run_import(adapter, text)
    with pytest.raises(ImportRefused, match="dmy, but line 2 has a date that can only be read mdy"):
        await run_import(adapter, text.replace("25/03", "03/25"), date_order="dmy")


async def test_every_bad_row_is_listed_by_its_line_and_nothing_is_written(db, adapter):
    known = await make_member("Known", tz="UTC")
    await make_period(known, utc(2026, 3, 2, 9), utc(2026, 3, 2, 17))
    before = await stored()
    text = toggl_csv(
        [
            TimeEntry("Ana", "2026-03-02", "9 o'clock", "2026-03-02", "10:00"),  # line 2
            TimeEntry("Ana", "2026-03-02", "11:00", "2026-03-02", "10:00"),  # line 3
            TimeEntry("Ana", "2026-03-03", "09:00", "2026-03-03", "12:00"),  # line 4
            TimeEntry("ana", "2026-03-03", "11:00", "2026-03-03", "13:00"),  # line 5
            TimeEntry("Known", "2026-03-02", "16:00", "2026-03-02", "18:00"),  # line 6
            TimeEntry("Ana", "2026-02-30", "09:00", "2026-02-30", "10:00"),  # line 7
            TimeEntry("Ana", "2026-03-29", "02:30", "2026-03-29", "04:00"),  # line 8
            TimeEntry("Ana", "2026-03-05", "09:00", "2026-03-05", "10:00"),  # line 9: fine
        ]
    )
    text += "Ana,ana@example.com,Acme\n"  # line 10: columns missing
    with pytest.raises(ImportRefused) as refused:
        await run_import(adapter, text, tz="Europe/Berlin")
    problems = {bad.line: bad.problem for bad in refused.value.problems}
    assert sorted(problems) == [2, 3, 5, 6, 7, 8, 10]
    assert "o'clock" in problems[2] and "is not a time like 09:30" in problems[2]
    assert problems[3].startswith("ends (2026-03-02T09:00:00Z) before it starts")
    assert problems[5] == "overlaps line 4 of 'Ana'"
    assert problems[6] == "overlaps a period the roster has of 'Known'"
    assert problems[7] == "2026-02-30 is not a date"
    assert problems[8] == "2026-03-29 02:30:00 does not exist in Europe/Berlin (the clocks skip it)"
    assert problems[10] == "has 3 columns; the header has 14"
    assert str(refused.value).startswith("nothing was imported: 7 rows are bad")
    assert "  line 5: overlaps line 4 of 'Ana'" in str(refused.value)
    assert await stored() == before


async def test_a_second_running_session_and_closed_periods_are_refused(db, adapter):
    member = await make_member("Runner")
    await ActivityPeriod(member=member.id, start_time=utc(2026, 3, 1, 9), end_time=None).save()
    await closing.close(adapter, utc(2026, 3, 1), "test", datetime.now(UTC))
    text = (
        "id,member_id,real_name,tz,start_time,end_time\n"
        f",{member.id},Runner,UTC,2026-03-02T09:00:00Z,\n"
        f",{member.id},Runner,UTC,2026-02-27T09:00:00Z,2026-02-27T10:00:00Z\n"
    )
    with pytest.raises(ImportRefused) as refused:
        await run_import(adapter, text)
    assert [(bad.line, bad.problem) for bad in refused.value.problems] == [
        (2, "is a second running session of 'Runner' (with a session the roster has)"),
        (
            3,
            "starts at 2026-02-27T09:00:00Z, before the closing at 2026-03-01T00:00:00Z: "
            "closed periods cannot be added",
        ),
    ]


async def test_a_dry_run_says_what_would_happen_and_writes_nothing(db, adapter):
    before = await stored()
    text = toggl_csv([TimeEntry("Ana", "2026-03-02", "09:00", "2026-03-02", "10:00")])
    summary = await run_import(adapter, text, dry_run=True)
    assert summary.as_dict()["dry_run"] is True
    assert summary.as_dict()["members_created"] == 1 and summary.periods == 1
    assert summary.lines()[-1] == "  nothing was written (--dry_run)"
    assert await stored() == before


async def test_an_import_is_one_audited_change(db, adapter, client):
    text = toggl_csv(
        [TimeEntry(f"P{n}", "2026-03-02", "09:00", "2026-03-02", "10:00") for n in range(3)]
    )
    await import_roster(adapter, io.StringIO(text), source="march.csv", actor="api key hr")
    [entry] = await AuditEntry.select().where(AuditEntry.action == "bulk insert")
    assert entry["actor"] == "api key hr"
    assert '"import": "toggl"' in entry["after"] and '"file": "march.csv"' in entry["after"]
    assert '"members_created": 3' in entry["after"] and '"periods": 3' in entry["after"]
    changes = (await client.get("/api/changes")).json()["changes"]
    assert [change["type"] for change in changes] == ["roster.bulk"]
    assert changes[0]["data"]["import"] == "toggl"


async def test_a_file_of_no_known_format_says_which_it_reads(db, adapter):
    with pytest.raises(ImportRefused, match="is not one of a Toggl Track detailed export"):
        await run_import(adapter, "name,start,end\nAna,1,2\n")
    with pytest.raises(ImportRefused, match="has no 'User', 'Email'"):
        await run_import(adapter, "name,start,end\n", fmt="clockify")
    with pytest.raises(ImportRefused, match="--tz: tz 'Mars/Olympus' is not a known"):
        await run_import(adapter, toggl_csv([]), tz="Mars/Olympus")


async def test_the_command_imports_and_refuses_as_the_function_does(db, tmp_path, cli_env):
    path = tmp_path / "toggl.csv"
    path.write_text(toggl_csv([TimeEntry("Ana", "2026-03-02", "09:00", "2026-03-02", "10:00")]))
    dry = await asyncio.to_thread(
        cli.piccolo, "home", "import", str(path), "--dry_run", env=cli_env
    )
    assert "Would import 1 periods from toggl.csv (toggl export" in cli.check(dry)
    assert await Member.count() == 0
    done = cli.check(
        await asyncio.to_thread(cli.piccolo, "home", "import", str(path), "--tz=UTC", env=cli_env)
    )
    assert "Imported 1 periods" in done and "created: Ana (UTC): 1 period" in done
    again = await asyncio.to_thread(cli.piccolo, "home", "import", str(path), env=cli_env)
    assert again.returncode != 0
    assert "import: nothing was imported: 1 row is bad" in again.stderr
    assert "line 2: overlaps a period the roster has of 'Ana'" in again.stderr
    assert "Traceback" not in again.stderr


async def test_the_api_imports_a_csv_body(db, adapter, client):
    writer = await ClientSystem.register(
        client, adapter, scopes=["members:write", "sessions:write"]
    )
    text = toggl_csv([TimeEntry("Ana", "2026-03-02", "09:00", "2026-03-02", "10:00")])
    headers = {**writer.headers(), "content-type": "text/csv"}
    dry = await client.post("/api/imports?dry_run=true", content=text, headers=headers)
    assert dry.status_code == 200 and dry.json()["dry_run"] is True
    assert await Member.count() == 0
    done = await client.post("/api/imports?name=ana.csv", content=text, headers=headers)
    assert done.status_code == 201, done.text
    assert done.json()["members_created"] == 1 and done.json()["file"] == "ana.csv"
    again = await client.post("/api/imports", content=text, headers=headers)
    assert again.status_code == 400
    assert again.json()["ok"] is False
    assert again.json()["error"].startswith("nothing was imported: 1 row is bad")
    assert "line 2: overlaps a period the roster has of 'Ana'" in again.json()["error"]
    assert await ActivityPeriod.count() == 1


async def test_a_key_limited_to_members_cannot_import(db, adapter, client):
    mine = await make_member("MINE")
    limited = await ClientSystem.register(
        client, adapter, scopes=["members:write", "sessions:write"], members=[str(mine.id)]
    )
    text = toggl_csv([TimeEntry("MINE", "2026-03-02", "09:00", "2026-03-02", "10:00")])
    refused = await client.post(
        "/api/imports", content=text, headers={**limited.headers(), "content-type": "text/csv"}
    )
    assert refused.status_code == 403 and "limited to some members" in refused.json()["error"]
    assert await ActivityPeriod.count() == 0


async def test_a_large_import_lets_other_requests_in_as_it_reads(db, adapter, monkeypatch):
    """The rows are read and checked on the server's event loop: it yields at least every
    YIELD_EVERY rows in each pass, so other requests do not wait for the whole file."""
    rows = 10_000
    text = toggl_csv(
        [TimeEntry(f"P{n}", "2026-03-02", "09:00", "2026-03-02", "10:00") for n in range(rows)]
    )
    yields = []
    real_sleep = asyncio.sleep

    async def counting(delay, *args):
        if delay == 0:
            yields.append(1)
        return await real_sleep(delay, *args)

    monkeypatch.setattr(imports.asyncio, "sleep", counting)
    await run_import(adapter, text, dry_run=True)
    passes = 4  # reading, converting times, checking rules, checking overlaps per member
    assert len(yields) >= passes * (rows // imports.YIELD_EVERY)
