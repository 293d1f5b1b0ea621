"""The single Piccolo app holding every Clarion table and its migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from clarion.tables import ALL_TABLES

APP_CONFIG = AppConfig(
    app_name="clarion",
    migrations_folder_path=Path(__file__).parent / "db" / "migrations",
    table_classes=list(ALL_TABLES),
)
