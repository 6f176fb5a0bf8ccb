"""Piccolo's configuration: the engine comes from the settings, read from the environment."""

from piccolo.conf.apps import AppRegistry

from home.settings import get_settings
from home.storage import build_engine

DB = build_engine(get_settings())

APP_REGISTRY = AppRegistry(apps=["home.piccolo_app", "piccolo_admin.piccolo_app"])
