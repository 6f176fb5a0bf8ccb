"""Piccolo's configuration under test (PICCOLO_CONF=tests.piccolo_conf, set by conftest.py).

No engine is built from the environment: `tests.conftest.bind()` sets DB to a test database.
"""

from piccolo.conf.apps import AppRegistry

DB = None

APP_REGISTRY = AppRegistry(
    apps=[
        "home.piccolo_app",
        # What piccolo_admin.piccolo_app declares (it has no tables of its own), without
        # importing the admin (FastAPI) into every `piccolo` command: 0.24 s of each start.
        "piccolo_api.session_auth.piccolo_app",
        "piccolo.apps.user.piccolo_app",
    ]
)
