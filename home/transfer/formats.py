"""The files an import reads: Toggl Track's and Clockify's detailed CSV exports, and the
roster's own export. Each is told apart by its header; rows are read one at a time.

Other tools write local times without an offset, and dates in the form their workspace is set
to: ISO `YYYY-MM-DD`, or `MM/DD/YYYY` and `DD/MM/YYYY`, with times on a 24-hour or a 12-hour
(`AM`/`PM`) clock. A row keeps its date's parts until the file's day order is known (the
importer decides it for the whole file, never row by row).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

FORMATS = ("toggl", "clockify", "roster")
DATE_ORDERS = ("dmy", "mdy")

# Columns each format needs, as its export names them (matched ignoring case and spaces).
NEEDED = {
    "toggl": ("User", "Email", "Start date", "Start time", "End date", "End time"),
    "clockify": ("User", "Email", "Start Date", "Start Time", "End Date", "End Time"),
    "roster": ("member_id", "real_name", "tz"),
}
# The roster's periods.csv adds these to the member's columns; its members.csv has none.
ROSTER_PERIOD_COLUMNS = ("id", "start_time", "end_time")
# What tells the formats apart: Toggl names its columns in sentence case ("Start date"),
# Clockify in title case ("Start Date") and has a "Duration (h)" column; the roster's own
# export has `member_id`.
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SLASHED = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")


class FormatError(ValueError):
    """The file as a whole cannot be read: the message says what to change."""


@dataclass(frozen=True)
class LocalDate:
    """A date as written: ISO, or two numbers whose order the file decides, and the year."""

    first: int
    second: int
    year: int
    iso: bool

    def resolve(self, order: str | None) -> tuple[int, int, int]:
        """(year, month, day) in `order` (ISO dates need none)."""
        if self.iso:
            return self.year, self.first, self.second
        if order == "dmy":
            return self.year, self.second, self.first
        return self.year, self.first, self.second

    @property
    def proves(self) -> str | None:
        """The day order this date can only be read in, if it tells."""
        if self.iso or self.first == self.second:
            return None
        if self.first > 12:
            return "dmy"
        if self.second > 12:
            return "mdy"
        return None

    @property
    def ambiguous(self) -> bool:
        return not self.iso and self.first != self.second and max(self.first, self.second) <= 12


@dataclass(frozen=True)
class LocalTime:
    """A wall-clock time: hour (0-23), minute, second."""

    hour: int
    minute: int
    second: int


@dataclass(frozen=True)
class RosterEntry:
    """One row of the roster's own export: a period (or a member without periods, when the
    times are empty) with its member, in UTC."""

    line: int
    period_id: int | None
    member_id: str
    real_name: str
    tz: str
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class BadRow:
    line: int
    problem: str
    source: str = ""  # the file within an export, when there are several

    def __str__(self) -> str:
        return f"{self.source + ' ' if self.source else ''}line {self.line}: {self.problem}"


def _key(column: str) -> str:
    return "".join(column.split()).casefold()


def detect(header: list[str], asked: str = "auto") -> str:
    """The format of a file with `header`; `asked` (auto or a format) is checked against it."""
    columns = [column.strip().lstrip("\ufeff") for column in header]
    keys = {_key(column) for column in columns}
    if asked not in ("auto", *FORMATS):
        raise FormatError(f"--format={asked} is not known: use auto, {', '.join(FORMATS)}")
    candidates = [name for name in FORMATS if all(_key(column) in keys for column in NEEDED[name])]
    if "toggl" in candidates and "clockify" in candidates:
        # Both read alike; the exports differ in case and in Clockify's decimal durations.
        clockify = "Start Date" in columns or "durationdecimal" in keys or "duration(h)" in keys
        candidates = ["clockify" if clockify else "toggl"]
    if asked != "auto":
        if asked not in candidates and not all(_key(c) in keys for c in NEEDED[asked]):
            missing = [c for c in NEEDED[asked] if _key(c) not in keys]
            raise FormatError(
                f"the header has no {', '.join(repr(c) for c in missing)} column"
                f"{'s' if len(missing) > 1 else ''}, which a {asked} export has: check the "
                "file, or its --format"
            )
        return asked
    if not candidates:
        raise FormatError(
            "the header is not one of a Toggl Track detailed export ("
            + ", ".join(NEEDED["toggl"])
            + "), a Clockify detailed export ("
            + ", ".join(NEEDED["clockify"])
            + ") or the roster's own export ("
            + ", ".join(NEEDED["roster"])
            + "); the first line of the file must be its header"
        )
    return candidates[0]


def parse_date(text: str) -> LocalDate:
    text = text.strip()
    if match := _ISO.match(text):
        return LocalDate(int(match[2]), int(match[3]), int(match[1]), iso=True)
    if match := _SLASHED.match(text):
        return LocalDate(int(match[1]), int(match[2]), int(match[3]), iso=False)
    raise ValueError(f"{text!r} is not a date like 2026-03-29, 03/29/2026 or 29/03/2026")


def parse_time(text: str) -> LocalTime:
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"{text.strip()!r} is not a time like 09:30, 09:30:15 or 9:30 AM")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if match[4]:
        if not 1 <= hour <= 12:
            raise ValueError(f"{text.strip()!r} has hour {hour} on a 12-hour clock")
        hour = hour % 12 + (12 if match[4].lower() == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{text.strip()!r} is not a time of day")
    return LocalTime(hour, minute, second)


def _columns(header: list[str], names: Iterable[str]) -> list[int]:
    positions = {_key(column.strip().lstrip("\ufeff")): n for n, column in enumerate(header)}
    return [positions[_key(name)] for name in names]


# A row of another tool's export as read: line, person, start date, start time, end date,
# end time (the texts as written; the importer parses each distinct text once).
RawEntry = tuple[int, str, str, str, str, str]


def read_entries(
    rows: Iterator[list[str]], header: list[str], fmt: str, bad: list[BadRow]
) -> Iterator[RawEntry]:
    """Rows of a Toggl or Clockify export, one per row after the header (line 2 on); rows
    that cannot be read go to `bad`."""
    user, _, start_date, start_time, end_date, end_time = _columns(header, NEEDED[fmt])
    width = max(user, start_date, start_time, end_date, end_time) + 1
    for line, row in enumerate(rows, start=2):
        if len(row) < width:
            if row and any(cell.strip() for cell in row):
                bad.append(BadRow(line, f"has {len(row)} columns; the header has {len(header)}"))
            continue  # or a blank line
        person = row[user].strip()
        if not person:
            bad.append(BadRow(line, "has no User"))
            continue
        yield line, person, row[start_date], row[start_time], row[end_date], row[end_time]


def read_roster(
    rows: Iterator[list[str]], header: list[str], bad: list[BadRow], source: str = ""
) -> Iterator[RosterEntry]:
    """Rows of the roster's own export: periods.csv (a period and its member each), or
    members.csv (members only, also those without periods)."""
    keys = {_key(column.strip().lstrip("\ufeff")) for column in header}
    has_periods = all(_key(column) in keys for column in ROSTER_PERIOD_COLUMNS)
    names = NEEDED["roster"] + (ROSTER_PERIOD_COLUMNS if has_periods else ())
    columns = _columns(header, names)
    width = max(columns) + 1
    for line, row in enumerate(rows, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) < width:
            bad.append(
                BadRow(line, f"has {len(row)} columns; the header has {len(header)}", source)
            )
            continue
        cells = [row[n] for n in columns]
        member_id, real_name, tz = cells[:3]
        period_id, start, end = cells[3:] if has_periods else ("", "", "")
        try:
            yield RosterEntry(
                line,
                int(period_id) if period_id.strip() else None,
                member_id.strip(),
                real_name,
                tz.strip(),
                _instant(start, "start_time"),
                _instant(end, "end_time"),
            )
        except ValueError as error:
            bad.append(BadRow(line, str(error), source))


def _instant(text: str, name: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} {text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{name} {text!r} has no UTC offset")
    return moment


def csv_rows(lines: Iterable[str]) -> Iterator[list[str]]:
    """CSV rows of `lines` (a text stream), read as they come."""
    return csv.reader(lines)
