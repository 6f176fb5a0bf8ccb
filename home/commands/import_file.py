"""`piccolo home import FILE`: bring periods in from another tracker's export, or the roster's."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from home.settings import get_settings
from home.storage import Storage
from home.transfer.imports import ImportRefused, import_roster

# An export of the roster (a directory or a .zip) holds these, read in this order.
EXPORT_FILES = ("members.csv", "periods.csv")


async def import_file(
    file: str,
    format: str = "auto",
    tz: str = "",
    date_order: str = "",
    dry_run: bool = False,
) -> None:
    """Import the periods in FILE, all or nothing: a Toggl Track or Clockify detailed CSV
    export, or the roster's own export (its directory, .zip or periods.csv). People are
    matched to members by name (exactly, then ignoring case and surrounding spaces); unknown
    people become members. Any bad row imports nothing, and every bad row is listed.

    :param file:
        The CSV file, or an export's directory or .zip.
    :param format:
        auto (told apart by the header, default), toggl, clockify or roster.
    :param tz:
        The zone the file's times are in, e.g. Europe/Berlin (default: each member's own; UTC
        for new members). New members get this zone.
    :param date_order:
        dmy (31/12/2026) or mdy (12/31/2026), for dates like 03/04/2026 that read either way.
    :param dry_run:
        Say what would be imported, and write nothing.

    """
    for flag, value in (("--format", format), ("--tz", tz), ("--date_order", date_order)):
        if value is True:  # the CLI passes a bare `--tz` (or `--tz X`) as True
            raise SystemExit(f"import: {flag} needs its value after '=', e.g. {flag}=...")
    path = Path(file)
    if not os.path.exists(file):  # noqa: ASYNC240 - a command, not a server
        raise SystemExit(f"import: {file!r}: no such file or directory")
    with ExitStack() as stack:
        try:
            files = list(_files(path, stack))
        except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as error:
            raise SystemExit(f"import: cannot read {file}: {error}") from None
        (_, first), *extra = files
        try:
            summary = await import_roster(
                Storage(get_settings()).adapter(),
                first,
                source=path.name,
                fmt=format,
                tz=tz or None,
                date_order=date_order or None,
                dry_run=bool(dry_run),
                extra=extra,
            )
        except ImportRefused as error:
            raise SystemExit(f"import: {error}") from None
        except UnicodeDecodeError as error:
            raise SystemExit(f"import: {file} is not UTF-8 text ({error})") from None
    print("\n".join(summary.lines()))


def _files(path: Path, stack: ExitStack) -> Iterator[tuple[str, Iterator[str]]]:
    """The CSV texts to read: the file, or an export's files in order."""
    if path.is_dir():
        found = [path / name for name in EXPORT_FILES if (path / name).exists()]
        if not found:
            raise OSError(f"the directory has neither {' nor '.join(EXPORT_FILES)}")
        for member in found:
            yield member.name, stack.enter_context(_open(member))
    elif zipfile.is_zipfile(path):
        archive = stack.enter_context(zipfile.ZipFile(path))
        names = [name for name in EXPORT_FILES if name in archive.namelist()]
        if not names:
            raise OSError(f"the archive has neither {' nor '.join(EXPORT_FILES)}")
        for name in names:
            raw = stack.enter_context(archive.open(name))
            yield name, iter(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
    else:
        yield path.name, stack.enter_context(_open(path))


def _open(path: Path):
    return path.open(encoding="utf-8-sig", newline="")
