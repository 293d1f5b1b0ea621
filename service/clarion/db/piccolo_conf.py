"""Piccolo's configuration module (`PICCOLO_CONF=clarion.db.piccolo_conf`).

Piccolo's migration machinery finds the engine here. `DB` is built from the
Clarion settings on import; `clarion.db.engine.use_engine` replaces it with the
running process's engine so there is only ever one.
"""

from piccolo.conf.apps import AppRegistry

from clarion.db.engine import create_engine
from clarion.settings import load_settings

DB = create_engine(load_settings().database)
APP_REGISTRY = AppRegistry(apps=["clarion.db.piccolo_app"])
