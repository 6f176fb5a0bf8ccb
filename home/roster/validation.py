"""Rules for valid members and periods, shared by the admin, the CLI and the API."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import available_timezones

from home.roster.tables import NAME_MAX_LENGTH, TZ_MAX_LENGTH

# Names zoneinfo lists that are not zones a person lives in: `localtime` follows the server's
# own clock setting, `Factory` is a placeholder, posix/ and right/ duplicate the real names.
NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
FIRST_YEAR, LAST_YEAR = 1900, 2999


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """Every IANA zone name Python's `zoneinfo` knows, e.g. `Asia/Kolkata`."""
    return frozenset(
        zone
        for zone in available_timezones()
        if len(zone) <= TZ_MAX_LENGTH
        and zone not in NOT_ZONES
        and not zone.startswith(("posix/", "right/"))
    )


def check_real_name(real_name: object) -> str:
    """Return the name, or raise ValueError saying what is allowed."""
    if not isinstance(real_name, str) or not real_name.strip():
        raise ValueError("real_name must not be empty")
    if "\x00" in real_name:
        raise ValueError("real_name must not contain NUL (\\x00) characters")
    if not _is_unicode_text(real_name):
        raise ValueError(
            "real_name contains a lone UTF-16 surrogate (e.g. \\ud800), which is not text; "
            "send the whole character"
        )
    if len(real_name) > NAME_MAX_LENGTH:
        raise ValueError(
            f"real_name is {len(real_name)} characters long; the limit is {NAME_MAX_LENGTH}"
        )
    return real_name


def _is_unicode_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_tz(tz: object) -> str:
    """Return the zone, or raise ValueError naming the problem."""
    if not isinstance(tz, str) or tz not in known_zones():
        raise ValueError(
            f"tz {tz!r} is not a known IANA time zone; "
            "use a name like 'Asia/Kolkata' or 'US/Pacific'"
        )
    return tz


def check_period(start_time: datetime, end_time: datetime) -> None:
    """Raise ValueError unless the period ends at or after its start, within sane years.

    Times without an offset are taken as UTC; the years are those of the UTC times stored.
    """
    start_time, end_time = as_utc(start_time), as_utc(end_time)
    for label, moment in (("start_time", start_time), ("end_time", end_time)):
        if not FIRST_YEAR <= moment.year <= LAST_YEAR:
            raise ValueError(
                f"{label} is in the year {moment.year} (UTC); use a time between the years "
                f"{FIRST_YEAR} and {LAST_YEAR}"
            )
    if end_time < start_time:
        raise ValueError(
            f"end_time ({end_time.isoformat()}) is before start_time ({start_time.isoformat()}); "
            "a period must end at or after its start"
        )


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a time without an offset is taken as UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{moment.isoformat()} is outside the times this service stores; use a time "
            f"between the years {FIRST_YEAR} and {LAST_YEAR}"
        ) from None
