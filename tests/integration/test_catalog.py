"""`apply_catalog`: creates and updates everything, idempotently, all or nothing."""

import json
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import pytest
from catalog_fixtures import EVERY_FIELD_CATALOG, SPEC_CATALOG, catalog_copy

from clarion.auth.tables import ApiKey
from clarion.auth.tokens import hash_token
from clarion.catalog.services import apply_catalog
from clarion.catalog.validation import CatalogError, decode_catalog
from clarion.database import running_engine
from clarion.distribution.tables import DistributionList, DistributionListMember
from clarion.notifications.tables import Notification, Subscription, Template
from clarion.events.tables import Event
from clarion.organizations.tables import Application, Project
from clarion.settings import DatabaseSettings
from clarion.users.tables import Address, Assignment, User
from clarion_test_support import stored_rows as snapshot

CHANNEL_KINDS = {"email": frozenset({"email"}), "webhook": frozenset({"url"}), "sms": frozenset({"phone"})}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[None]:
    async with running_engine(DatabaseSettings(url=database_url)):
        yield


async def apply(document: dict[str, Any]) -> dict[str, str]:
    return (await apply_catalog(decode_catalog(document), CHANNEL_KINDS)).api_keys


async def test_spec_example_creates_the_tree_and_a_hashed_key(engine: None) -> None:
    keys = await apply(SPEC_CATALOG)
    assert list(keys) == ["acme/shop-backend"]
    token = keys["acme/shop-backend"]
    stored = await ApiKey.select().first()
    assert stored is not None
    assert stored["token_hash"] == hash_token(token)
    assert token not in json.dumps(await snapshot(), default=str)
    assert await Event.count() == 1
    assert await Assignment.count() == 2
    assert await DistributionListMember.count() == 2
    kinds = {row["name"]: row["kind"] for row in await Address.select(Address.name, Address.kind)}
    assert kinds == {"email": "email", "hook": "url"}


async def test_applying_twice_changes_nothing(engine: None) -> None:
    await apply(SPEC_CATALOG)
    await apply(EVERY_FIELD_CATALOG)
    before = await snapshot()
    assert await apply(SPEC_CATALOG) == {}
    assert await apply(EVERY_FIELD_CATALOG) == {}
    assert await snapshot() == before


async def test_changes_are_applied_in_place(engine: None) -> None:
    await apply(SPEC_CATALOG)
    changed = catalog_copy(SPEC_CATALOG)
    changed["organizations"][0]["projects"][0]["applications"][0]["events"][0]["paused"] = True
    changed["organizations"][0]["users"][0]["first_name"] = "Alicia"
    assert await apply(changed) == {}
    event = await Event.select().first()
    assert event is not None and event["paused"] is True
    assert await Event.count() == 1
    user = await User.select().first()
    assert user is not None and user["first_name"] == "Alicia"


async def test_every_settable_field_is_stored(engine: None) -> None:
    keys = await apply(EVERY_FIELD_CATALOG)
    assert set(keys) == {"globex/org-wide", "globex/project-wide"}
    project = await Project.select().first()
    app = await Application.select().first()
    event = await Event.select().first()
    for row in (project, app, event):
        assert row is not None
        assert (row["active"], row["locked"], row["paused"]) == (False, True, True)
    assert event is not None and event["description"] == "Someone got in."
    user = await User.select().output(load_json=True).first()
    assert user is not None
    assert (user["first_name"], user["last_name"], user["locked"]) == ("Hank", "Scorpio", True)
    assert user["custom_fields"] == {"tier": "gold", "tags": ["a", "b"]}
    kinds = {row["name"]: row["kind"] for row in await Address.select()}
    assert kinds == {"work": "email", "hook": "url", "mobile": "phone"}
    hook = await Assignment.select().where(Assignment.channel == "webhook").first()
    assert hook is not None and (hook["secret"], hook["active"]) == ("whsec_aGFuay1zaWducy1oaXMtd2ViaG9va3Mtd2l0aC1pdCE=", False)
    dl = await DistributionList.select().first()
    assert dl is not None and dl["application"] == app["id"]  # type: ignore[index]
    notification = await Notification.select().output(load_json=True).first()
    assert notification is not None
    assert notification["channels"] == ["email", "webhook"]
    assert notification["environments"] == ["production", "staging"]
    assert notification["context_filter"] == {"severity": "high"}
    assert notification["active"] is False
    assert await Subscription.count() == 1
    templates = {(row["notification"] is None, row["channel"]) for row in await Template.select()}
    assert templates == {(True, "email"), (False, "webhook")}
    org_key = await ApiKey.select().where(ApiKey.name == "org-wide").output(load_json=True).first()
    assert org_key is not None
    assert org_key["project"] is None and org_key["active"] is False
    assert org_key["expires_at"] == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert org_key["grants"] == ["full_access"]
    project_key = await ApiKey.select().where(ApiKey.name == "project-wide").first()
    assert project_key is not None and project_key["project"] == project["id"] and project_key["application"] is None  # type: ignore[index]


def _break(path: list[Any], value: Any) -> dict[str, Any]:
    document = catalog_copy(SPEC_CATALOG)
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


ORG = ["organizations", 0]
EVENT = [*ORG, "projects", 0, "applications", 0, "events", 0]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_break([*ORG, "api_keys", 0, "grants"], ["event:explode"]), "organizations[0].api_keys[0].grants: unknown grant 'event:explode'"),
        (_break([*EVENT, "notifications", 0, "distribution_list"], "nope"), "organizations[0].projects[0].applications[0].events[0].notifications[0].distribution_list: unknown distribution list 'nope'"),
        (_break([*ORG, "projects", 0, "distribution_lists", 0, "members", 0, "channel"], "pager"), "members[0].channel: channel 'pager' is not configured"),
        (_break([*ORG, "projects", 0, "distribution_lists", 0, "members", 0, "channel"], "webhook"), "members[0].channel: channel 'webhook' cannot reach a email address"),
        (_break([*ORG, "projects", 0, "distribution_lists", 0, "members", 0, "user"], "mallory"), "members[0].user: unknown user 'mallory'"),
        (_break([*EVENT, "slug"], "Not A Slug"), "organizations[0].projects[0].applications[0].events[0].slug"),
        (_break([*EVENT, "colour"], "red"), "organizations[0].projects[0].applications[0].events[0].colour: unknown key"),
        (_break([*ORG, "api_keys", 0, "application"], "other"), "organizations[0].api_keys[0].application: unknown application 'other'"),
        (_break([*ORG, "users", 0, "email"], "alice"), "organizations[0].users[0].email: not an e-mail address (expected local@domain): 'alice'"),
    ],
)
async def test_a_bad_catalog_changes_nothing_and_names_the_entry(
    engine: None, document: dict[str, Any], message: str
) -> None:
    await apply(EVERY_FIELD_CATALOG)
    before = await snapshot()
    with pytest.raises(CatalogError) as caught:
        await apply(document)
    assert message in caught.value.detail
    assert await snapshot() == before


async def test_a_failure_mid_write_rolls_everything_back(engine: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything before the failing step (the whole tree) is rolled back with it."""
    import clarion.catalog.services as services

    async def fail(*_: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "_apply_api_keys", fail)
    before = await snapshot()
    with pytest.raises(RuntimeError, match="disk on fire"):
        await apply(SPEC_CATALOG)
    assert await snapshot() == before


async def test_a_webhook_secret_that_cannot_sign_is_refused_naming_its_path(engine: None) -> None:
    from clarion_channels.webhook import WebhookChannel

    document = catalog_copy(EVERY_FIELD_CATALOG)
    document["organizations"][0]["users"][0]["assignments"][0]["secret"] = "whsec_aGFuaw=="
    before = await snapshot()
    with pytest.raises(CatalogError) as caught:
        await apply_catalog(decode_catalog(document), CHANNEL_KINDS, {"webhook": WebhookChannel.check_secret})
    assert caught.value.detail == (
        "organizations[0].users[0].assignments[0].secret: expected 'whsec_' followed by the base64 of a 24 to 64"
        " byte key (it decodes to 4 bytes)"
    )
    assert await snapshot() == before
    # the shipped fixture's secret is a good one
    await apply_catalog(decode_catalog(EVERY_FIELD_CATALOG), CHANNEL_KINDS, {"webhook": WebhookChannel.check_secret})
