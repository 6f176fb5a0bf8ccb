"""Time formatting that does not depend on the server's locale."""

from datetime import datetime, timezone

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def format_seed(moment: datetime) -> str:
    """`June 05 2020 09:07`: the moment in UTC, as the seed document shows it."""
    utc = moment.astimezone(timezone.utc)
    return f"{MONTHS[utc.month - 1]} {utc.day:02d} {utc.year:04d} {utc.hour:02d}:{utc.minute:02d}"
