"""Piccolo Admin at /admin/: the tables as operators see them and the rules their writes obey
(`site.py`), the demo-data form (`forms.py`), the bodies refused before the admin sees them
(`body_guard.py`) and the mount into Litestar (`mount.py`)."""
