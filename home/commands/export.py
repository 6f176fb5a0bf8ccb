"""`piccolo home export PATH`: a consistent snapshot of the roster, as CSV files and a manifest."""

from __future__ import annotations

from pathlib import Path

from home.settings import get_settings
from home.storage import Storage
from home.transfer.export import export_roster


async def export(path: str) -> None:
    """Write the roster to PATH, read in one transaction: a directory, or a .zip when PATH
    ends in .zip. It holds members.csv, periods.csv (RFC 3339 UTC), audit.csv, api_keys.csv
    (never the keys' hashes) and manifest.json (counts, each file's SHA-256, the schema's
    migration, the time). `piccolo home import PATH` brings it into an empty roster as it was.

    :param path:
        Where to write: a new or empty directory, or a file name ending in .zip.

    """
    target = Path(path)
    if _unusable(target):
        raise SystemExit(
            f"export: {path} exists and is not an empty directory: name a new directory, "
            "or a file ending in .zip"
        )
    try:
        exported = await export_roster(Storage(get_settings()).adapter(), target)
    except OSError as error:
        raise SystemExit(f"export: cannot write {path}: {error}") from None
    counts = ", ".join(f"{rows:,} {name}" for name, rows in exported.counts.items())
    print(f"Exported to {path}: {counts}")


def _unusable(target: Path) -> bool:
    """Whether `target` is a directory path that holds something already."""
    if target.suffix.lower() == ".zip" or not target.exists():
        return False
    return not target.is_dir() or any(target.iterdir())
