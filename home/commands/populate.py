"""`piccolo home populate N`: seed the roster with demo members."""

from __future__ import annotations

import asyncio
import sys

from home.roster.demo import (
    MAX_DAYS,
    MAX_MEMBERS,
    MAX_PERIODS,
    PopulateError,
    check_days,
    parse_count,
    populate_roster,
)
from home.settings import get_settings
from home.storage import Storage

PROGRESS_FROM = 10_000


async def populate(count: str, periods: str = "3", seed: str = "", days: str = "30") -> None:
    """Create COUNT demo members, each with --periods sessions over the past --days, in one
    transaction. Sessions are in each member's own zone, mostly on working days, starting in
    the morning or the afternoon, 15 minutes to 9 hours long, never overlapping.

    :param count:
        How many members to create, from 1 to 1,000,000.
    :param periods:
        Sessions per member, from 0 to 100 (default 3).
    :param seed:
        A whole number that makes the run reproducible (same names, zones and times that day).
    :param days:
        How many past days the sessions spread over, from 2 to 366 (default 30).

    """
    for flag, value in (("--periods", periods), ("--seed", seed), ("--days", days)):
        if value is True:  # the CLI passes a bare `--seed` (or `--seed 42`) as True
            raise SystemExit(f"populate: {flag} needs its value after '=', e.g. {flag}=42")
    try:
        count_value = parse_count(count, name="count", low=1, high=MAX_MEMBERS)
        periods_value = parse_count(periods, name="--periods", low=0, high=MAX_PERIODS)
        days_value = parse_count(days, name="--days", low=2, high=MAX_DAYS)
        check_days(periods_value, days_value)
        seed_value = (
            None if seed in ("", None) else parse_count(seed, name="--seed", low=0, high=2**63)
        )
    except PopulateError as error:
        raise SystemExit(f"populate: {error}") from None

    def show_progress(done: int, total: int) -> None:
        print(f"\r  {done:,} / {total:,} members", end="", file=sys.stderr, flush=True)

    try:
        result = await populate_roster(
            Storage(get_settings()).adapter(),
            count_value,
            periods_value,
            seed_value,
            progress=show_progress if count_value >= PROGRESS_FROM else None,
            days=days_value,
        )
    except (asyncio.CancelledError, KeyboardInterrupt):
        # The transaction was rolled back on the way out: nothing of this run was kept.
        print("\npopulate: interrupted; the database is as it was before", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as error:
        # The transaction rolled back: say so in one line instead of a traceback and help text.
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        hint = ""
        if "unique" in reason.lower() or "duplicate" in reason.lower():
            hint = " (the same --seed gives the same member ids: use another --seed, or none)"
        raise SystemExit(f"populate: nothing was written: {reason}{hint}") from None
    if count_value >= PROGRESS_FROM:
        print(file=sys.stderr)
    print(
        f"Created {result.members:,} members and {result.periods:,} activity periods "
        f"in {result.seconds:.2f} s"
    )
