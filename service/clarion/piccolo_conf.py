"""Piccolo's configuration module (`PICCOLO_CONF=clarion.piccolo_conf`), for its migration machinery.

`DB` is the engine the process bound (`clarion.database`), never one of its own.
"""

from typing import Any

from piccolo.conf.apps import AppRegistry

from clarion.db.engine import bound_engine

APP_REGISTRY = AppRegistry(apps=["clarion.piccolo_app"])


def __getattr__(name: str) -> Any:
    if name == "DB":
        return bound_engine()
    raise AttributeError(name)
