"""Piccolo's configuration module (`PICCOLO_CONF=clarion.piccolo_conf`), for its migration machinery.

`DB` is the engine the process bound (`clarion.database`). Only Piccolo's own
command line (`piccolo migrations new …`), which binds nothing, gets an engine
built from the configuration, when it first asks for `DB` (never on import).
"""

from typing import Any

from piccolo.conf.apps import AppRegistry

from clarion.db.engine import bound_engine, create_engine, has_bound_engine
from clarion.settings import load_settings

APP_REGISTRY = AppRegistry(apps=["clarion.piccolo_app"])


def __getattr__(name: str) -> Any:
    if name != "DB":
        raise AttributeError(name)
    return bound_engine() if has_bound_engine() else create_engine(load_settings().database)
