"""Data in and out: imports from other trackers' exports and the roster's own (`imports.py`,
reading `formats.py`), the full export and backup (`export.py`), and the copy of a roster
into a PostgreSQL database (`copy.py`)."""
