"""Piccolo's configuration: the engine comes from the settings, read from the environment."""

from piccolo.conf.apps import AppRegistry

from home.settings import get_settings
from home.storage import build_engine

DB = build_engine(get_settings())

APP_REGISTRY = AppRegistry(
    apps=[
        "home.piccolo_app",
        # What piccolo_admin.piccolo_app declares (it has no tables of its own), without
        # importing the admin (FastAPI) into every `piccolo` command: 0.24 s of each start.
        "piccolo_api.session_auth.piccolo_app",
        "piccolo.apps.user.piccolo_app",
    ]
)
