"""Import periods from another tracker's export, or the roster's own: all or nothing.

`import_roster` reads the rows as they come, matches each person to a member by name (exactly
first, then ignoring case and surrounding spaces; members are made for the people nobody
matches), turns local times into instants, and checks every rule a period obeys against the
file and the roster: an end before its start, an overlap, a second running session, a time
before the closing. Any bad row refuses the whole file, listing every bad row by its line;
otherwise everything is written in one transaction, audited as one import (who, which file,
the counts), which the change feed shows as one `roster.bulk` change.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import ParamSpec
from zoneinfo import ZoneInfo

from home.roster import closing
from home.roster.timefmt import format_rfc3339
from home.roster.validation import FIRST_YEAR, LAST_YEAR, check_real_name, check_tz
from home.storage.base import Adapter
from home.transfer.formats import (
    DATE_ORDERS,
    BadRow,
    FormatError,
    LocalDate,
    LocalTime,
    RawEntry,
    RosterEntry,
    csv_rows,
    detect,
    parse_date,
    parse_time,
    read_entries,
    read_roster,
)

P = ParamSpec("P")
BATCH = 20_000
# A large import reads and checks its rows on the server's event loop: it lets other requests
# in between every this many rows (a few milliseconds of work).
YIELD_EVERY = 2_000
# How many bad rows a refusal lists (it counts them all).
LISTED = 100
# How many people the summary names in each list (it counts them all).
NAMED = 1_000
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC).timestamp()
EARLIEST = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC).timestamp()


class ImportRefused(ValueError):
    """Nothing was imported: the file as a whole, or some of its rows, are bad."""

    def __init__(self, problems: list[BadRow] | None = None, message: str | None = None):
        self.problems = sorted(problems or [], key=lambda bad: (bad.source, bad.line))
        if message is None:
            count = len(self.problems)
            listed = "\n".join(f"  {bad}" for bad in self.problems[:LISTED])
            more = f"\n  ... and {count - LISTED} more" if count > LISTED else ""
            message = (
                f"nothing was imported: {count} row{'s are' if count != 1 else ' is'} bad; "
                f"fix {'them' if count != 1 else 'it'} and import the file again\n{listed}{more}"
            )
        super().__init__(message)


@dataclass
class Person:
    """A member the import writes periods for: matched or made."""

    name: str
    member_id: str
    tz: str
    created: bool
    # Other spellings seen in the file (None while there is none: most people have one).
    spelled: set[str] | None = None

    def spelled_as(self, name: str) -> None:
        if name != self.name:
            if self.spelled is None:
                self.spelled = set()
            self.spelled.add(name)

    periods: int = 0


@dataclass
class ImportSummary:
    """What an import did (or, dry, would do)."""

    format: str
    source: str
    dry_run: bool
    date_order: str | None
    periods: int
    people: list[Person]
    seconds: float = 0.0

    def as_dict(self) -> dict:
        matched = [p for p in self.people if not p.created]
        created = [p for p in self.people if p.created]

        def shown(person: Person) -> dict:
            return {
                "name": person.name,
                "member_id": person.member_id,
                "tz": person.tz,
                "periods": person.periods,
                **({"also_spelled": sorted(person.spelled)} if person.spelled else {}),
            }

        return {
            "ok": True,
            "dry_run": self.dry_run,
            "format": self.format,
            "file": self.source,
            "date_order": self.date_order,
            "periods": self.periods,
            "members_matched": len(matched),
            "members_created": len(created),
            "matched": [shown(person) for person in matched[:NAMED]],
            "created": [shown(person) for person in created[:NAMED]],
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        """The summary as the command prints it."""
        verb = "Would import" if self.dry_run else "Imported"
        data = self.as_dict()
        out = [
            f"{verb} {self.periods:,} periods from {self.source} ({self.format} export"
            + (f", dates read {self.date_order}" if self.date_order else "")
            + f") in {self.seconds:.2f} s",
            f"  members matched: {data['members_matched']:,}; created: {data['members_created']:,}",
        ]
        for label, people in (("matched", data["matched"]), ("created", data["created"])):
            for person in people[:20]:
                spelled = person.get("also_spelled")
                count = person["periods"]
                out.append(
                    f"  {label}: {person['name']} ({person['tz']}): {count:,} "
                    f"period{'s' if count != 1 else ''}"
                    + (f", also spelled {', '.join(map(repr, spelled))}" if spelled else "")
                )
            if len(people) > 20:
                out.append(f"  ... {len(people) - 20:,} more {label}")
        if self.dry_run:
            out.append("  nothing was written (--dry_run)")
        return out


# A period as checked and written: line, member id, start, end (None: running) in Unix
# seconds, period id, and the file of the export it came from (when it has several).
Span = tuple[int, str, float, float | None, int | None, str]


def _collector_paused(
    function: Callable[P, Awaitable[ImportSummary]],
) -> Callable[P, Awaitable[ImportSummary]]:
    """`function` with the cyclic garbage collector paused while it runs: a large import
    makes hundreds of thousands of small objects that live until it ends, and each full
    collection would walk them all again (about 40% of planning a 300,000-row import). They
    hold no cycles, and are freed by reference counting as usual."""

    @functools.wraps(function)
    async def paused(*args: P.args, **kwargs: P.kwargs) -> ImportSummary:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return await function(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return paused


@_collector_paused
async def import_roster(
    adapter: Adapter,
    lines: Iterable[str],
    *,
    source: str,
    fmt: str = "auto",
    tz: str | None = None,
    date_order: str | None = None,
    dry_run: bool = False,
    actor: str = "cli",
    extra: Iterable[tuple[str, Iterable[str]]] = (),
) -> ImportSummary:
    """Import the CSV text `lines` (named `source`); `extra` adds more files of the same
    export (name, lines), read after it (an export's members.csv, then periods.csv)."""
    started = time.perf_counter()
    if tz is not None:
        try:
            check_tz(tz)
        except ValueError as error:
            raise ImportRefused(message=f"--tz: {error}") from None
    if date_order is not None and date_order not in DATE_ORDERS:
        raise ImportRefused(
            message=f"--date_order={date_order} is not known: use dmy (31/12/2026) or mdy "
            "(12/31/2026)"
        )
    files = [(source, lines), *extra]
    bad: list[BadRow] = []
    members = await _members()
    closed = (await closing.current()).until
    kind = None
    spans: list[Span] = []
    people: dict[str, Person] = {}
    order_used = date_order
    for name, text in files:
        rows = csv_rows(text)
        try:
            header = next(rows)
        except StopIteration:
            raise ImportRefused(message=f"{name} is empty: it needs a header line") from None
        try:
            found = detect(header, fmt if kind is None else kind)
        except FormatError as error:
            raise ImportRefused(message=f"{name}: {error}") from None
        kind = kind or found
        where = name if len(files) > 1 else ""
        if found == "roster":
            await _roster_rows(
                read_roster(rows, header, bad, where), members, people, spans, bad, where
            )
        else:
            order_used = await _tool_rows(
                read_entries(rows, header, found, bad),
                members,
                people,
                spans,
                bad,
                tz,
                date_order,
            )
    assert kind is not None
    await _check_spans(spans, people, closed, bad)
    if bad:
        raise ImportRefused(bad)
    for span in spans:
        people[span[1]].periods += 1
    summary = ImportSummary(
        kind,
        source,
        dry_run,
        order_used if kind != "roster" else None,
        len(spans),
        sorted(people.values(), key=lambda person: (person.name.casefold(), person.member_id)),
    )
    if not dry_run:
        await _write(adapter, summary, spans, actor)
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass
class _Members:
    """The roster's members, found by id, by exact name and by name ignoring case."""

    by_id: dict[str, tuple[str, str]]
    by_name: dict[str, list[str]]
    by_key: dict[str, list[str]]


def _name_key(name: str) -> str:
    return name.strip().casefold()


async def _members() -> _Members:
    from home.roster.tables import Member

    by_id: dict[str, tuple[str, str]] = {}
    by_name: dict[str, list[str]] = {}
    by_key: dict[str, list[str]] = {}
    for row in await Member.select(Member.id, Member.real_name, Member.tz).output(as_list=False):
        member_id = str(row["id"])
        by_id[member_id] = (row["real_name"], row["tz"])
        by_name.setdefault(row["real_name"], []).append(member_id)
        by_key.setdefault(_name_key(row["real_name"]), []).append(member_id)
    return _Members(by_id, by_name, by_key)


def _person(
    name: str, members: _Members, people: dict[str, Person], made: dict[str, str], tz: str | None
) -> Person | str:
    """The member `name` is (a Person), or why none can be (a problem)."""
    for found in (members.by_name.get(name, []), members.by_key.get(_name_key(name), [])):
        if len(found) == 1:
            member_id = found[0]
            person = people.get(member_id)
            if person is None:
                real_name, zone = members.by_id[member_id]
                person = people[member_id] = Person(real_name, member_id, zone, created=False)
            person.spelled_as(name)
            return person
        if len(found) > 1:
            return (
                f"{len(found)} members are named {name!r} (ignoring case): rename all but "
                "one in the admin, or change the name in the file"
            )
    key = _name_key(name)
    member_id = made.get(key)
    if member_id is None:
        try:
            check_real_name(name.strip())
        except ValueError as error:
            return f"the User cannot be a member's name: {error}"
        member_id = made[key] = str(uuid.uuid4())
        people[member_id] = Person(name.strip(), member_id, tz or "UTC", created=True)
    person = people[member_id]
    person.spelled_as(name)
    return person


async def _tool_rows(
    entries: Iterator[RawEntry],
    members: _Members,
    people: dict[str, Person],
    spans: list[Span],
    bad: list[BadRow],
    tz: str | None,
    date_order: str | None,
) -> str | None:
    """Read another tool's entries into `spans`; the day order the file's dates were read in.

    Exports repeat the same people, dates and times on many rows: each distinct text is
    parsed, and each distinct wall-clock time converted, once (the hot path of a large
    import). The rows wait, as their texts, until the file's day order is known."""
    made: dict[str, str] = {}
    persons: dict[str, Person | str] = {}
    dates: dict[str, LocalDate | str] = {}
    times: dict[str, LocalTime | str] = {}
    proof: dict[str, int] = {}
    ambiguous: int | None = None
    pending: list[tuple[int, Person, str, str, str, str]] = []
    shared: dict[str, str] = {}
    for line, name, start_date, start_time, end_date, end_time in entries:
        if not line % YIELD_EVERY:
            await asyncio.sleep(0)
        person = persons.get(name)
        if person is None:
            person = persons[name] = _person(name, members, people, made, tz)
        if isinstance(person, str):
            bad.append(BadRow(line, person))
            continue
        problem = None
        for text in (start_date, end_date):
            date = dates.get(text)
            if date is None:
                try:
                    date = dates[text] = parse_date(text)
                except ValueError as error:
                    date = dates[text] = str(error)
            if isinstance(date, str):
                problem = date
            elif (tells := date.proves) is not None:
                proof.setdefault(tells, line)
            elif ambiguous is None and date.ambiguous:
                ambiguous = line
        for text in (start_time, end_time):
            clock = times.get(text)
            if clock is None:
                try:
                    clock = times[text] = parse_time(text)
                except ValueError as error:
                    clock = times[text] = str(error)
            if isinstance(clock, str):
                problem = problem or clock
        if problem is not None:
            bad.append(BadRow(line, problem))
            continue
        # Equal texts share one string (the first row's): the rows hold no copies.
        texts = shared.setdefault
        pending.append(
            (
                line,
                person,
                texts(start_date, start_date),
                texts(start_time, start_time),
                texts(end_date, end_date),
                texts(end_time, end_time),
            )
        )
    order = _day_order(date_order, proof, ambiguous)
    zones: dict[str, tzinfo] = {}
    # (date text, time text, zone) -> the instant's two readings (fold 0 and 1), or why none.
    instants: dict[tuple[str, str, str], tuple[float, float] | str] = {}
    # Each row becomes its span in place (or None when bad): the file's rows are held once.
    for index, (line, person, start_date, start_time, end_date, end_time) in enumerate(pending):
        if not index % YIELD_EVERY:
            await asyncio.sleep(0)
        pending[index] = None  # type: ignore[call-overload]
        zone_name = tz or person.tz
        readings = []
        for date_text, time_text in ((start_date, start_time), (end_date, end_time)):
            key = (date_text, time_text, zone_name)
            found = instants.get(key)
            if found is None:
                zone = zones.get(zone_name) or zones.setdefault(zone_name, ZoneInfo(zone_name))
                found = instants[key] = _readings(
                    dates[date_text],
                    times[time_text],
                    order,
                    zone,
                    zone_name,  # type: ignore[arg-type]
                )
            readings.append(found)
        start, end = readings
        if isinstance(start, str) or isinstance(end, str):
            bad.append(BadRow(line, start if isinstance(start, str) else end))  # type: ignore[arg-type]
            continue
        # A time the clocks pass twice: the first reading, or for the end the first not
        # before the start.
        pending[index] = (  # type: ignore[call-overload]
            line,
            person.member_id,
            start[0],
            end[0] if end[0] >= start[0] else end[1],
            None,
            "",
        )
    spans.extend(span for span in pending if span is not None)  # type: ignore[misc]
    del pending
    return order


def _day_order(date_order: str | None, proof: dict[str, int], ambiguous: int | None) -> str | None:
    """The day order of the file's slashed dates: as given, or as its dates prove; refused
    when they contradict it, each other, or cannot tell."""
    if date_order is None:
        if len(proof) > 1:
            raise ImportRefused(
                message=f"the dates mix day orders: line {proof['dmy']} has a day first and "
                f"line {proof['mdy']} a month first; export the file again with one date format"
            )
        if proof:
            return next(iter(proof))
        if ambiguous is not None:
            raise ImportRefused(
                message=f"line {ambiguous} has a date that reads as day/month or month/day, and "
                "no date in the file tells which: pass --date_order=dmy (31/12/2026) or "
                "--date_order=mdy (12/31/2026)"
            )
        return None
    if proof and date_order not in proof:
        line = next(iter(proof.values()))
        raise ImportRefused(
            message=f"--date_order={date_order}, but line {line} has a date that can only be "
            f"read {next(iter(proof))}: check the option"
        )
    return date_order


def _readings(
    date: LocalDate, clock: LocalTime, order: str | None, zone: tzinfo, zone_name: str
) -> tuple[float, float] | str:
    """A wall-clock time in `zone` as Unix seconds, read with fold 0 and fold 1 (they differ
    only for a time the clocks pass twice); or why it is no instant."""
    year, month, day = date.resolve(order)
    try:
        naive = datetime(year, month, day, clock.hour, clock.minute, clock.second)
    except ValueError:
        return f"{year:04}-{month:02}-{day:02} is not a date"
    first = naive.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return f"{naive:%Y-%m-%d %H:%M:%S} does not exist in {zone_name} (the clocks skip it)"
    return first.timestamp(), naive.replace(tzinfo=zone, fold=1).timestamp()


async def _roster_rows(
    entries: Iterator[RosterEntry],
    members: _Members,
    people: dict[str, Person],
    spans: list[Span],
    bad: list[BadRow],
    where: str,
) -> None:
    for entry in entries:
        if not entry.line % YIELD_EVERY:
            await asyncio.sleep(0)
        person = people.get(entry.member_id)
        if person is None:
            try:
                uuid.UUID(entry.member_id)
            except ValueError:
                bad.append(
                    BadRow(entry.line, f"member_id {entry.member_id!r} is not a UUID", where)
                )
                continue
            known = members.by_id.get(entry.member_id)
            if known is not None:
                person = Person(known[0], entry.member_id, known[1], created=False)
            else:
                try:
                    check_real_name(entry.real_name)
                    check_tz(entry.tz)
                except ValueError as error:
                    bad.append(BadRow(entry.line, str(error), where))
                    continue
                person = Person(entry.real_name, entry.member_id, entry.tz, created=True)
            people[entry.member_id] = person
        if entry.start is None:
            if entry.end is not None:
                bad.append(BadRow(entry.line, "has an end_time but no start_time", where))
            continue  # a member without this period (members.csv)
        start = entry.start.timestamp()
        end = None if entry.end is None else entry.end.timestamp()
        spans.append((entry.line, entry.member_id, start, end, entry.period_id, where))


async def _check_spans(
    spans: list[Span],
    people: dict[str, Person],
    closed: datetime | None,
    bad: list[BadRow],
) -> None:
    """Every rule a period obeys, for the file's periods among themselves and against the
    roster's: years, order, the closing, overlaps, one running session, unused ids."""
    until = None if closed is None else closed.timestamp()
    kept: list[Span] = []
    for index, span in enumerate(spans):
        if not index % YIELD_EVERY:
            await asyncio.sleep(0)
        line, _, start, end, _, where = span
        problem = None
        for label, moment in (("start", start), ("end", end)):
            if moment is not None and not EARLIEST <= moment < LATEST:
                problem = f"the {label} is not between the years {FIRST_YEAR} and {LAST_YEAR}"
        if problem is None and end is not None and end < start:
            problem = f"ends ({_shown(end)}) before it starts ({_shown(start)})"
        if problem is None and until is not None and start < until:
            problem = (
                f"starts at {_shown(start)}, before the closing at {_shown(until)}: closed "
                "periods cannot be added"
            )
        if problem:
            bad.append(BadRow(line, problem, where))
        else:
            kept.append(span)
    # Each member's periods in order of start (the file's, sorted once, with the roster's).
    kept.sort(key=lambda span: (span[1], span[2]))
    existing = await _existing_periods(
        [member_id for member_id, person in people.items() if not person.created]
    )
    ids = [span[4] for span in spans if span[4] is not None]
    if ids:
        taken = set(await _taken_ids(ids))
        for span in spans:
            if span[4] in taken:
                bad.append(
                    BadRow(span[0], f"period id {span[4]} is in the roster already", span[5])
                )
    for count, (member_id, group) in enumerate(itertools.groupby(kept, key=lambda span: span[1])):
        if not count % YIELD_EVERY:
            await asyncio.sleep(0)
        # start, end (far in the future while running), the file's line (None: the roster's
        # own period), whether it runs, and the file it came from.
        periods = [
            (start, FAR_FUTURE if end is None else end, line, end is None, where)
            for line, _, start, end, _, where in group
        ]
        if member_id in existing:
            periods += existing[member_id]
            periods.sort(key=lambda period: (period[0], period[1]))
        name = people[member_id].name
        reach: tuple[float, int | None, str] | None = None
        running: tuple[int | None, str] | None = None
        for start, end, line, is_running, where in periods:
            if is_running:
                previous, running = running, (line, where)
                if previous is not None:
                    # Blame the file's row: this one, or the earlier one if this is the roster's.
                    blame, other = (
                        ((line, where), previous) if line is not None else (previous, None)
                    )
                    if blame[0] is not None:
                        with_ = (
                            "a session the roster has"
                            if other is None or other[0] is None
                            else f"line {other[0]}"
                        )
                        problem = f"is a second running session of {name!r} (with {with_})"
                        bad.append(BadRow(blame[0], problem, blame[1]))
                        if line is not None:
                            continue
            if end > start and reach is not None and start < reach[0]:
                if line is not None:
                    other = "a period the roster has" if reach[1] is None else f"line {reach[1]}"
                    bad.append(BadRow(line, f"overlaps {other} of {name!r}", where))
                    continue
                if reach[1] is not None:
                    bad.append(
                        BadRow(reach[1], f"overlaps a period the roster has of {name!r}", reach[2])
                    )
            if end > start and (reach is None or end > reach[0]):
                reach = (end, line, where)


async def _existing_periods(
    member_ids: list[str],
) -> dict[str, list[tuple[float, float, None, bool, str]]]:
    """The roster's periods of these members (line None), read in chunks."""
    from home.roster.tables import ActivityPeriod

    found: dict[str, list[tuple[float, float, None, bool, str]]] = {}
    for first in range(0, len(member_ids), 500):
        chunk = member_ids[first : first + 500]
        rows = await ActivityPeriod.select(
            ActivityPeriod.member, ActivityPeriod.start_time, ActivityPeriod.end_time
        ).where(ActivityPeriod.member.is_in(chunk))
        for row in rows:
            start = _as_utc(row["start_time"]).timestamp()
            end = None if row["end_time"] is None else _as_utc(row["end_time"]).timestamp()
            found.setdefault(str(row["member"]), []).append(
                (start, end or FAR_FUTURE, None, end is None, "")
            )
    return found


def _shown(seconds: float) -> str:
    return format_rfc3339(datetime.fromtimestamp(seconds, UTC))


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def _taken_ids(ids: list[int]) -> list[int]:
    from home.roster.tables import ActivityPeriod

    taken: list[int] = []
    for first in range(0, len(ids), 500):
        chunk = ids[first : first + 500]
        rows = await ActivityPeriod.select(ActivityPeriod.id).where(ActivityPeriod.id.is_in(chunk))
        taken.extend(row["id"] for row in rows)
    return taken


async def _write(adapter: Adapter, summary: ImportSummary, spans: list[Span], actor: str) -> None:
    created = [p for p in summary.people if p.created]
    audited = json.dumps(
        {
            "import": summary.format,
            "file": summary.source,
            "members_created": len(created),
            "members_matched": len(summary.people) - len(created),
            "periods": summary.periods,
        }
    )
    async with adapter.audited(actor) as transaction:
        writer = adapter.batch_writer(transaction.connection)
        await writer.start(len(created))
        for first in range(0, len(created), BATCH):
            await writer.write(
                [(p.member_id, p.name, p.tz) for p in created[first : first + BATCH]], []
            )
        for first in range(0, len(spans), BATCH):
            await writer.write_periods(
                [
                    (period_id, member_id, start, end)
                    for _, member_id, start, end, period_id, _ in spans[first : first + BATCH]
                ]
            )
        await writer.finish(audited)
