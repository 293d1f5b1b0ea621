"""Migrations run forwards on the engine under test and the schema enforces uniqueness."""

import pytest
from piccolo.apps.migrations.tables import Migration

from clarion.db.engine import create_engine
from clarion.database import bind_tables, migrate
from clarion.tables import ALL_TABLES
from clarion.notifications.tables import Notification, Template
from clarion.events.tables import Event
from clarion.organizations.tables import Application, Organization, Project
from clarion.settings import DatabaseSettings


@pytest.fixture
async def engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = create_engine(DatabaseSettings(url=database_url))
    bind_tables(engine)
    await engine.start()
    yield engine
    await engine.close()


async def test_every_table_exists_and_migrations_are_recorded(engine) -> None:  # type: ignore[no-untyped-def]
    for table in ALL_TABLES:
        assert await table.table_exists(), table._meta.tablename
    ran = await Migration.get_migrations_which_ran(app_name="clarion")
    assert len(ran) >= 2


async def test_migrating_again_applies_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    assert await migrate(engine) == []


async def _event_tree() -> dict[str, int]:
    org = (await Organization.insert(Organization(slug="acme", name="Acme")).returning(Organization.id))[0]["id"]
    project = (await Project.insert(Project(organization=org, slug="web", name="Web")).returning(Project.id))[0]["id"]
    app = (
        await Application.insert(Application(project=project, slug="shop", name="Shop")).returning(Application.id)
    )[0]["id"]
    event = (await Event.insert(Event(application=app, slug="paid", name="Paid")).returning(Event.id))[0]["id"]
    return {"org": org, "project": project, "app": app, "event": event}


async def test_composite_uniqueness_is_enforced(engine) -> None:  # type: ignore[no-untyped-def]
    ids = await _event_tree()
    with pytest.raises(Exception, match="(?i)unique"):
        await Project.insert(Project(organization=ids["org"], slug="web", name="Again"))
    other = (await Organization.insert(Organization(slug="other", name="Other")).returning(Organization.id))[0]["id"]
    await Project.insert(Project(organization=other, slug="web", name="Same slug, other org"))
    with pytest.raises(Exception, match="(?i)unique"):
        await Event.insert(Event(application=ids["app"], slug="paid", name="Again"))


async def test_event_level_template_is_unique_per_channel(engine) -> None:  # type: ignore[no-untyped-def]
    ids = await _event_tree()
    await Template.insert(Template(event=ids["event"], channel="email", subject="a"))
    with pytest.raises(Exception, match="(?i)unique"):
        await Template.insert(Template(event=ids["event"], channel="email", subject="b"))
    notification = (
        await Notification.insert(Notification(event=ids["event"], name="n")).returning(Notification.id)
    )[0]["id"]
    await Template.insert(Template(event=ids["event"], notification=notification, channel="email"))
    with pytest.raises(Exception, match="(?i)unique"):
        await Template.insert(Template(event=ids["event"], notification=notification, channel="email"))
