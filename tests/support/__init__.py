"""One helper per recurring actor of the tests: the command line (`cli.py`), a served process
and a free port (`servers.py`), an admin session over HTTP (`admin.py`) and a throw-away
PostgreSQL cluster (`pgcluster.py`)."""
