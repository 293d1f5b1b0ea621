"""docs/plugins.md documents every hook, every public name and the built-in options, and shows real code."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import clarion_plugins
from clarion_channels.email import EmailOptions
from clarion_channels.webhook import WebhookOptions
from clarion_plugins import hookspecs

pytestmark = pytest.mark.no_db

REPO = Path(__file__).resolve().parents[2]
GUIDE = (REPO / "docs" / "plugins.md").read_text()
SPEC_PUBLIC_NAMES = [
    "hookimpl",
    "Channel",
    "OutboundMessage",
    "Delivered",
    "PermanentFailure",
    "TransientFailure",
]
SERVICE_PUBLIC_NAMES = [
    "PluginManager",
    "SendResult",
    "ChannelConfigError",
    "PluginLoadFailure",
    "PluginLoadError",
    "AddressKind",
    "PluginUnavailable",
    "UnavailablePlugin",
]


def hookspec_names() -> list[str]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return [
        name
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, marker)
    ]


def code_block_after(heading: str, language: str) -> str:
    section = GUIDE.split(heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no ```{language} block after {heading!r}"
    return match.group(1)


def test_there_are_hooks() -> None:
    assert "register_channel_types" in hookspec_names()


@pytest.mark.parametrize("hook", hookspec_names())
def test_every_hook_is_documented(hook: str) -> None:
    assert re.search(rf"^#+ `{hook}\(", GUIDE, re.M), f"docs/plugins.md has no heading for the hook {hook}"
    function = getattr(hookspecs, hook)
    assert function.__doc__ and "Called" in function.__doc__, f"hookspec {hook} must say when it is called"
    assert function.__annotations__, f"hookspec {hook} must be typed"


@pytest.mark.parametrize("name", SPEC_PUBLIC_NAMES + SERVICE_PUBLIC_NAMES)
def test_public_names_exist_and_are_documented(name: str) -> None:
    assert name in clarion_plugins.__all__
    assert getattr(clarion_plugins, name) is not None
    assert f"`{name}" in GUIDE


def test_public_api_is_exactly_what_is_documented() -> None:
    assert sorted(clarion_plugins.__all__) == sorted(SPEC_PUBLIC_NAMES + SERVICE_PUBLIC_NAMES)


@pytest.mark.parametrize("field", clarion_plugins.OutboundMessage.__struct_fields__)
def test_every_message_field_is_documented(field: str) -> None:
    assert f"`{field}`" in GUIDE


@pytest.mark.parametrize(
    "field",
    [f"email:{name}" for name in EmailOptions.__struct_fields__]
    + [f"webhook:{name}" for name in WebhookOptions.__struct_fields__],
)
def test_every_builtin_option_is_documented(field: str) -> None:
    channel_type, name = field.split(":")
    section = GUIDE.split(f"### `{channel_type}`", 1)[1].split("\n### ", 1)[0]
    assert f"`{name}`" in section


def test_the_complete_example_is_the_example_package() -> None:
    package = REPO / "examples" / "clarion-sms-example"
    heading = "## A complete example"
    assert (
        code_block_after(heading, "python") == (package / "clarion_sms_example" / "__init__.py").read_text()
    )
    assert code_block_after(heading, "toml") == (package / "pyproject.toml").read_text()
