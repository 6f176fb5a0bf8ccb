"""The roster domain: the tables, the rules a valid member and period obey, how times are
written, and demo data (`demo.py`, behind `piccolo home populate`)."""
