"""A separate OS process writing to a SQLite file through its own ClarionSQLiteEngine.

Used by tests/integration/test_sqlite_engine.py:

    python sqlite_engine_writer.py load PATH TAG START_AT SECONDS WRITERS
        From wall-clock time START_AT, WRITERS concurrent writers insert rows
        named "<TAG>-<writer>-<n>" for SECONDS; prints one JSON line
        {"acked": [...names...], "errors": [...]} at the end.

    python sqlite_engine_writer.py ack PATH TAG WRITERS
        Writers insert rows forever; each name is printed (and flushed) only
        after `write()` returned, i.e. after its COMMIT. Meant to be SIGKILLed.

The table `engine_item(name VARCHAR UNIQUE, writer INTEGER)` must exist.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from piccolo.columns import Integer, Varchar
from piccolo.table import Table

try:
    from clarion.db.sqlite import ClarionSQLiteEngine
except ModuleNotFoundError:  # run from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "service"))
    from clarion.db.sqlite import ClarionSQLiteEngine


class EngineItem(Table, tablename="engine_item"):
    name = Varchar(length=100, unique=True)
    writer = Integer()


async def load(path: str, tag: str, start_at: float, seconds: float, writers: int) -> None:
    engine = ClarionSQLiteEngine(path)
    EngineItem._meta._db = engine
    await engine.start()
    acked: list[str] = []
    errors: list[str] = []
    await asyncio.sleep(max(0.0, start_at - time.time()))
    deadline = time.monotonic() + seconds

    async def writer(number: int) -> None:
        sequence = 0
        while time.monotonic() < deadline:
            sequence += 1
            name = f"{tag}-{number}-{sequence}"
            try:
                if sequence % 2:
                    await EngineItem.insert(EngineItem(name=name, writer=number))
                else:
                    async with engine.write():
                        await EngineItem.insert(EngineItem(name=name, writer=number))
                        await EngineItem.count()
            except Exception as exc:  # noqa: BLE001 - reported to the test
                errors.append(f"{type(exc).__name__}: {exc}")
            else:
                acked.append(name)

    try:
        await asyncio.gather(*(writer(number) for number in range(writers)))
    finally:
        await engine.close()
    print(json.dumps({"acked": acked, "errors": errors, "stats": vars(engine.stats)}))


async def ack(path: str, tag: str, writers: int) -> None:
    engine = ClarionSQLiteEngine(path)
    EngineItem._meta._db = engine
    await engine.start()

    async def writer(number: int) -> None:
        sequence = 0
        while True:
            sequence += 1
            name = f"{tag}-{number}-{sequence}"
            async with engine.write():
                await EngineItem.insert(EngineItem(name=name, writer=number))
            sys.stdout.write(name + "\n")
            sys.stdout.flush()

    try:
        await asyncio.gather(*(writer(number) for number in range(writers)))
    finally:
        await engine.close()


def main() -> None:
    mode, path, tag, *rest = sys.argv[1:]
    if mode == "load":
        start_at, seconds, writers = rest
        asyncio.run(load(path, tag, float(start_at), float(seconds), int(writers)))
    elif mode == "ack":
        (writers,) = rest
        asyncio.run(ack(path, tag, int(writers)))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
