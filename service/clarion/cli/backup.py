"""`clarion backup PATH`: a consistent copy of the SQLite database, taken while Clarion keeps running.

SQLite's online backup API copies the database in one step under one read
transaction: in WAL mode (Clarion's) writers go on committing meanwhile, and
the copy is the database as of the moment the step began — every occurrence
acknowledged (201) before then is in it. The copy is written next to PATH and
renamed into place once it passed `PRAGMA integrity_check`, so PATH is never
a half-written file. PostgreSQL is backed up with `pg_dump` (docs/operations.md).
"""

import argparse
import os
import sqlite3
from pathlib import Path
from typing import Any

from clarion.cli.common import ClarionCliError
from clarion.settings import Settings


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    parser = commands.add_parser(
        "backup", help="copy the SQLite database to PATH while Clarion runs (PostgreSQL: use pg_dump)"
    )
    parser.add_argument("path", type=Path, help="the file to write (it must not exist, unless --force)")
    parser.add_argument("--force", action="store_true", help="replace an existing PATH")
    parser.set_defaults(command=_backup)


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.database.url
    if not url.startswith("sqlite:///"):
        raise ClarionCliError(
            "backup: the database is not SQLite: back PostgreSQL up with pg_dump (docs/operations.md, Backups)"
        )
    source = Path(url.removeprefix("sqlite:///"))
    if not source.is_file():
        raise ClarionCliError(f"backup: {source}: no such database (database.url)")
    target: Path = args.path
    if target.exists() and not args.force:
        raise ClarionCliError(f"{target}: already exists (--force replaces it)")
    pages = backup_sqlite(source, target)
    print(f"backed up {source} to {target} ({pages} pages)")
    return 0


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy `source` to `target` atomically; returns the number of pages copied."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    reader = sqlite3.connect(source, timeout=30)
    try:
        writer = sqlite3.connect(partial)
        try:
            reader.backup(writer, pages=-1)  # all pages in one step: one consistent snapshot
            writer.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
            (verdict,) = writer.execute("PRAGMA integrity_check").fetchone()
            (pages,) = writer.execute("PRAGMA page_count").fetchone()
        finally:
            writer.close()
    finally:
        reader.close()
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"the copy failed its integrity check: {verdict}")
    os.replace(partial, target)
    return int(pages)
