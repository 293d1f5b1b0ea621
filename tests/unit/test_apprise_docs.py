"""docs/channels/apprise.md shows working examples: every service URL is one the `apprise` kind accepts,
and the configuration and catalog of the complete example load, create their channels and validate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clarion.catalog.validation import decode_catalog, validate_catalog
from clarion.channels.addresses import AddressKinds
from clarion.channels.registry import channel_address_kinds, create_channel, load_plugins
from clarion.settings import parse_settings
from clarion_channels.apprise import AppriseAddress

pytestmark = pytest.mark.no_db

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "channels" / "apprise.md").read_text()


def blocks_after(heading: str, language: str) -> list[str]:
    section = GUIDE.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


SERVICE_URLS = [line for block in blocks_after("## Service examples", "text") for line in block.split()]


def test_every_service_named_by_the_issue_has_an_example() -> None:
    for service in ("### Slack", "### Telegram", "### Discord", "### Microsoft Teams", "### ntfy", "### Matrix"):
        assert service in GUIDE
    assert len(SERVICE_URLS) >= 10


@pytest.mark.parametrize("url", SERVICE_URLS)
def test_service_examples_are_apprise_addresses(url: str) -> None:
    kind = AppriseAddress()
    kind.check(url)
    assert kind.recognises(url) or url.startswith("https://")  # an https URL needs "kind": "apprise"
    assert kind.redact(url) != url


def test_the_complete_example_loads_and_validates() -> None:
    (config,) = blocks_after("## A complete example", "toml")
    (catalog,) = blocks_after("## A complete example", "json")
    settings = parse_settings(config, environ={})
    manager = load_plugins(settings.plugins)
    for name, channel in settings.channels.items():
        create_channel(manager, name, channel)
    kinds = validate_catalog(
        decode_catalog(json.loads(catalog)),
        channel_address_kinds(settings, manager),
        address_kinds=AddressKinds(manager.address_kinds),
    )
    assert kinds[("acme", "alice", "telegram")] == "apprise" and kinds[("acme", "bob", "teams")] == "apprise"
    assert kinds[("acme", "alice", "email")] == "email"


def test_the_configuration_example_loads() -> None:
    (config,) = blocks_after("## Configuration", "toml")
    settings = parse_settings(config, environ={})
    create_channel(load_plugins(settings.plugins), "chat", settings.channels["chat"])
