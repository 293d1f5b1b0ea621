"""Classifying SQL statements for the SQLite engine, and reading SQLite error codes."""

from __future__ import annotations

import re
import sqlite3
from typing import Optional

from piccolo.engine.exceptions import TransactionError

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8


# --- statement classification -------------------------------------------------

_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?(?:\*/|\Z)|\()*", re.S)
_KEYWORD = re.compile(r"[A-Za-z_]+")
_DML_WORD = re.compile(r"\b(?:INSERT|UPDATE|DELETE|REPLACE|UPSERT)\b", re.I)
_PRAGMA = re.compile(r"\s*(?:\w+\s*\.\s*)?(?P<name>\w+)\s*(?P<arg>\([^()]*\))?\s*;?\s*\Z", re.S)
_ROLLBACK_TO = re.compile(r"\s*(?:TRANSACTION\s+)?TO\b", re.I)
# Introspection pragmas that take an object name and never change anything.
_READ_PRAGMAS_WITH_ARG = frozenset(
    {
        "table_info",
        "table_xinfo",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
    }
)
# Pragmas that only report a value when given no argument.
_READ_PRAGMAS_BARE = _READ_PRAGMAS_WITH_ARG | frozenset(
    {
        "application_id",
        "collation_list",
        "compile_options",
        "data_version",
        "database_list",
        "encoding",
        "foreign_keys",
        "freelist_count",
        "function_list",
        "journal_mode",
        "module_list",
        "page_count",
        "page_size",
        "pragma_list",
        "schema_version",
        "table_list",
        "user_version",
    }
)


def _split_keyword(sql: str) -> tuple[str, str]:
    """The statement's first keyword (upper case) and the text after it."""
    start = _LEADING_NOISE.match(sql)
    position = start.end() if start else 0
    keyword = _KEYWORD.match(sql, position)
    if keyword is None:
        return "", sql[position:]
    return keyword.group().upper(), sql[keyword.end() :]


def is_read_only_sql(sql: str) -> bool:
    """Whether `sql` certainly only reads, so it may run on a `query_only` reader.

    Conservative: anything doubtful counts as a write and goes to the writer.
    (A misjudged write is harmless too: readers refuse it and it is re-run on
    the writer.)
    """
    keyword, rest = _split_keyword(sql)
    if keyword in ("SELECT", "VALUES", "EXPLAIN"):
        return True
    if keyword == "WITH":
        return _DML_WORD.search(rest) is None
    if keyword == "PRAGMA":
        pragma = _PRAGMA.match(rest)
        if pragma is None:
            return False
        name = pragma.group("name").lower()
        if pragma.group("arg") is None:
            return name in _READ_PRAGMAS_BARE
        return name in _READ_PRAGMAS_WITH_ARG
    return False


def reject_transaction_control(sql: str) -> None:
    """Raw BEGIN/COMMIT/END/ROLLBACK would break the shared batch transaction."""
    keyword, rest = _split_keyword(sql)
    if keyword in ("BEGIN", "COMMIT", "END") or (keyword == "ROLLBACK" and not _ROLLBACK_TO.match(rest)):
        raise TransactionError(
            f"{keyword} is managed by ClarionSQLiteEngine: use `async with "
            "engine.write()`, `tx.savepoint()` or `tx.rollback()` instead"
        )


def sqlite_code(exc: BaseException) -> Optional[int]:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = sqlite_code(exc)
    if code is not None:
        return code in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "database is locked" in str(exc) or "database table is locked" in str(exc)


def is_read_only_refusal(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = sqlite_code(exc)
    if code is not None:
        return code == _SQLITE_READONLY
    return "readonly database" in str(exc)


