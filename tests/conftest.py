"""Suite-wide fixtures: the database under test, settings, the app over HTTP.

The suite runs once per engine: `CLARION_TEST_DATABASE=sqlite` (default) or
`postgresql` (with `CLARION_TEST_POSTGRES_URL`). Every test that uses `database_url`
gets a freshly migrated database of its own.
"""

import asyncio
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from clarion.http.app import create_app
from clarion.db.engine import create_engine
from clarion.database import migrate
from clarion.settings import DatabaseSettings, Settings, parse_settings
from clarion_test_support import BASE_CONFIG, ENGINE, POSTGRES_URL


if ENGINE not in ("sqlite", "postgresql"):
    raise pytest.UsageError(f"CLARION_TEST_DATABASE must be sqlite or postgresql, not {ENGINE!r}")


@pytest.fixture(scope="session", autouse=True)
def data_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The data directory of every Clarion this run starts without a database URL (never the user's own)."""
    directory = tmp_path_factory.mktemp("data")
    previous = os.environ.get("CLARION_DATA_DIR")
    os.environ["CLARION_DATA_DIR"] = str(directory)
    yield directory
    if previous is None:
        os.environ.pop("CLARION_DATA_DIR", None)
    else:
        os.environ["CLARION_DATA_DIR"] = previous


def pytest_report_header() -> str:
    return f"clarion database engine under test: {ENGINE}" + (
        f" ({POSTGRES_URL})" if ENGINE == "postgresql" else ""
    )


def _server_url(url: str, database: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + database


async def _migrate_url(url: str) -> None:
    engine = create_engine(DatabaseSettings(url=url))
    await engine.start()
    try:
        await migrate(engine)
    finally:
        await engine.close()


class DatabaseFactory:
    """Hands out freshly migrated databases, cloned from one migrated template."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.counter = itertools.count()
        self.prefix = f"clarion_test_{os.getpid()}"
        self.template: str | None = None
        self.created: list[str] = []

    def template_url(self) -> str:
        if self.template is None:
            if ENGINE == "sqlite":
                path = self.workdir / "template.db"
                url = f"sqlite:///{path}"
                asyncio.run(_migrate_url(url))
                self.template = str(path)
            else:
                name = f"{self.prefix}_template"
                asyncio.run(self._create_postgres(name, template=None))
                asyncio.run(_migrate_url(_server_url(POSTGRES_URL, name)))
                self.template = name
        return self.template

    def new_url(self) -> str:
        template = self.template_url()
        number = next(self.counter)
        if ENGINE == "sqlite":
            path = self.workdir / f"db{number}.db"
            shutil.copyfile(template, path)
            return f"sqlite:///{path}"
        name = f"{self.prefix}_{number}"
        asyncio.run(self._create_postgres(name, template=template))
        return _server_url(POSTGRES_URL, name)

    async def _create_postgres(self, name: str, template: str | None) -> None:
        connection = await asyncpg.connect(POSTGRES_URL)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            clause = f' TEMPLATE "{template}"' if template else ""
            await connection.execute(f'CREATE DATABASE "{name}"{clause}')
        finally:
            await connection.close()
        self.created.append(name)

    def drop(self, url: str) -> None:
        """Drop the PostgreSQL database of `url` now (a test's own, once it is over)."""
        name = url.rsplit("/", 1)[1]
        if ENGINE == "postgresql" and name in self.created:
            self.created.remove(name)
            asyncio.run(self._drop_postgres([name]))

    def drop_all(self) -> None:
        if ENGINE == "postgresql" and self.created:
            asyncio.run(self._drop_postgres(list(reversed(self.created))))

    @staticmethod
    async def _drop_postgres(names: list[str]) -> None:
        connection = await asyncpg.connect(POSTGRES_URL)
        try:
            for name in names:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.drop_all()


@pytest.fixture
def database_url(database_factory: DatabaseFactory) -> Iterator[str]:
    """A freshly migrated database of the engine under test, dropped (PostgreSQL) when the test is over.

    Dropped one by one, not all at the end: hundreds of DROP DATABASE in the session's teardown
    outlast the last test's timeout on a loaded machine."""
    url = database_factory.new_url()
    yield url
    database_factory.drop(url)




@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    """Settings on the test database; `toml` replaces the base config, `overrides` patch sections."""

    def build(toml: str = BASE_CONFIG, **sections: Any) -> Settings:
        settings = parse_settings(toml, environ={"CLARION_DATABASE_URL": database_url})
        for section, values in sections.items():
            current = getattr(settings, section)
            settings = msgspec.structs.replace(
                settings, **{section: msgspec.structs.replace(current, **values)}
            )
        return settings

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    """The app over HTTP (in-process ASGI), lifespan included."""
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client
