"""Piccolo's configuration: the engine comes from the settings, read from the environment."""

from piccolo.conf.apps import AppRegistry

from home.engine import build_engine
from home.settings import settings

DB = build_engine(settings)

APP_REGISTRY = AppRegistry(apps=["home.piccolo_app", "piccolo_admin.piccolo_app"])
