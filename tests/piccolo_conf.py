"""Piccolo's configuration under test (PICCOLO_CONF=tests.piccolo_conf, set by conftest.py).

No engine is built from the environment: `tests.conftest.bind()` sets DB to a test database.
"""

from piccolo.conf.apps import AppRegistry

DB = None

APP_REGISTRY = AppRegistry(apps=["home.piccolo_app", "piccolo_admin.piccolo_app"])
