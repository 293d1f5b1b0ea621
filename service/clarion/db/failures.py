"""Which database errors mean the database cannot serve requests now (503), as opposed to a bug (500).

`storage_problem(exc)` looks at the error and what caused it (the SQLite engine wraps a
failed COMMIT in `BatchNotCommittedError`) and says what is wrong in words an operator
acts on, or None when the error is not about the database being full, read-only or gone.
"""

import sqlite3

import asyncpg

FULL = "the database is full: nothing can be written until space is freed"
READ_ONLY = "the database is read-only: nothing can be written"
UNREACHABLE = "the database is unreachable"

_SQLITE_CODES = {
    8: READ_ONLY,  # SQLITE_READONLY
    10: "the database cannot be written: disk I/O error",  # SQLITE_IOERR
    13: FULL,  # SQLITE_FULL: the disk, or PRAGMA max_page_count
    14: "the database file cannot be opened",  # SQLITE_CANTOPEN
}
_POSTGRES_ERRORS: tuple[tuple[type[BaseException], str], ...] = (
    (asyncpg.ReadOnlySQLTransactionError, READ_ONLY),
    (asyncpg.DiskFullError, FULL),
    (asyncpg.InsufficientResourcesError, "the database is out of resources (memory or connections)"),
    (asyncpg.PostgresConnectionError, UNREACHABLE),
    (asyncpg.CannotConnectNowError, "the database is starting up or shutting down"),
    (asyncpg.AdminShutdownError, "the database is shutting down"),
    (ConnectionError, UNREACHABLE),
)


def storage_problem(exc: BaseException) -> str | None:
    """What is wrong with the database when `exc` (or its cause) says it is full, read-only or gone."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        problem = _problem_of(current)
        if problem:
            return problem
        current = current.__cause__ or current.__context__
    return None


def _problem_of(exc: BaseException) -> str | None:
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        return _SQLITE_CODES.get(code & 0xFF) if isinstance(code, int) else None
    for kind, problem in _POSTGRES_ERRORS:
        if isinstance(exc, kind):
            return problem
    return None
