"""Other trackers' exports as the tests write them, from the column sets their documentation
gives: Toggl Track's detailed report CSV and Clockify's detailed report CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

TOGGL_COLUMNS = [
    "User", "Email", "Client", "Project", "Task", "Description", "Billable", "Start date",
    "Start time", "End date", "End time", "Duration", "Tags", "Amount ()",
]  # fmt: skip
CLOCKIFY_COLUMNS = [
    "Project", "Client", "Description", "Task", "User", "Group", "Email", "Tags", "Billable",
    "Start Date", "Start Time", "End Date", "End Time", "Duration (h)", "Duration (decimal)",
    "Billable Rate (USD)", "Billable Amount (USD)",
]  # fmt: skip


@dataclass(frozen=True)
class TimeEntry:
    """One entry as a tracker shows it: who, and local dates and times as its export writes
    them (already in the export's date and clock format)."""

    user: str
    start_date: str
    start_time: str
    end_date: str
    end_time: str
    duration: str = ""
    email: str = ""


def toggl_csv(entries: list[TimeEntry]) -> str:
    """A Toggl Track detailed export of `entries`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TOGGL_COLUMNS)
    for entry in entries:
        email = entry.email or f"{entry.user.strip().lower().replace(' ', '.')}@example.com"
        writer.writerow(
            [
                entry.user, email, "Acme", "Roster", "", "Work", "No", entry.start_date,
                entry.start_time, entry.end_date, entry.end_time, entry.duration, "", "",
            ]
        )  # fmt: skip
    return out.getvalue()


def clockify_csv(entries: list[TimeEntry]) -> str:
    """A Clockify detailed export of `entries`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CLOCKIFY_COLUMNS)
    for entry in entries:
        email = entry.email or f"{entry.user.strip().lower().replace(' ', '.')}@example.com"
        writer.writerow(
            [
                "Roster", "Acme", "Work", "", entry.user, "", email, "", "No", entry.start_date,
                entry.start_time, entry.end_date, entry.end_time, entry.duration, "", "0", "0",
            ]
        )  # fmt: skip
    return out.getvalue()
