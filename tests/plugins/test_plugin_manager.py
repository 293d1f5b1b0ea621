"""PluginManager: built-ins, entry points from real dist-info on sys.path, failures, channel creation."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from clarion_channels.email import EmailChannel, EmailOptions
from clarion_plugins import ChannelConfigError, PluginLoadError, PluginLoadFailure, PluginManager
from clarion_plugins.manager import PluginInfo, UnavailablePlugin

pytestmark = pytest.mark.no_db

BUILTINS = ("clarion_channels.email", "clarion_channels.webhook")

ECHO_PLUGIN = """
    from clarion_plugins import Channel, Delivered, hookimpl

    class EchoChannel(Channel):
        type_name = "echo"
        address_kinds = frozenset({"other"})

        async def send(self, message):
            return Delivered(provider_id=message.address)

    @hookimpl
    def register_channel_types(register):
        register(EchoChannel)
"""

BROKEN_PLUGINS = {
    "import_error": "import clarion_no_such_module\n",
    "register_raises": """
        from clarion_plugins import hookimpl

        @hookimpl
        def register_channel_types(register):
            raise RuntimeError("cannot register today")
    """,
    "not_a_channel": """
        from clarion_plugins import hookimpl

        class NotAChannel:
            type_name = "nope"

        @hookimpl
        def register_channel_types(register):
            register(NotAChannel)
    """,
    "no_type_name": """
        from clarion_plugins import Channel, Delivered, hookimpl

        class Nameless(Channel):
            address_kinds = frozenset({"other"})

            async def send(self, message):
                return Delivered()

        @hookimpl
        def register_channel_types(register):
            register(Nameless)
    """,
    "takes_email": """
        from clarion_plugins import Channel, Delivered, hookimpl

        class OtherEmail(Channel):
            type_name = "email"
            address_kinds = frozenset({"email"})

            async def send(self, message):
                return Delivered()

        @hookimpl
        def register_channel_types(register):
            register(OtherEmail)
    """,
    "misspelt_hook": """
        from clarion_plugins import Channel, Delivered, hookimpl

        class Quiet(Channel):
            type_name = "quiet"
            address_kinds = frozenset({"other"})

            async def send(self, message):
                return Delivered()

        @hookimpl
        def register_channel_type(register):
            register(Quiet)
    """,
    "unknown_kind": """
        from clarion_plugins import Channel, Delivered, hookimpl

        class Pigeon(Channel):
            type_name = "pigeon"
            address_kinds = frozenset({"loft"})

            async def send(self, message):
                return Delivered()

        @hookimpl
        def register_channel_types(register):
            register(Pigeon)
    """,
    "builtin_kind": """
        from clarion_plugins import AddressKind, hookimpl

        class Mailbox(AddressKind):
            name = "email"

            def check(self, value):
                pass

        @hookimpl
        def register_address_kinds(register):
            register(Mailbox())
    """,
    "half_valid": """
        from clarion_plugins import Channel, Delivered, hookimpl

        class Fine(Channel):
            type_name = "fine"
            address_kinds = frozenset({"other"})

            async def send(self, message):
                return Delivered()

        class Unsendable(Channel):
            type_name = "unsendable"
            address_kinds = frozenset({"other"})

        @hookimpl
        def register_channel_types(register):
            register(Fine)
            register(Unsendable)
    """,
}


class PluginSite:
    """A directory on sys.path holding plugin modules and their `*.dist-info`, as pip would install them."""

    def __init__(self, path: Path, prefix: str) -> None:
        self.path = path
        self.prefix = prefix

    def install(self, dist: str, version: str, modules: dict[str, str]) -> dict[str, str]:
        """Install one distribution whose entry points are named like its modules; returns name -> module."""
        module_names = {name: f"{self.prefix}_{name}" for name in modules}
        for name, source in modules.items():
            (self.path / f"{module_names[name]}.py").write_text(textwrap.dedent(source))
        info = self.path / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        entry_points = "".join(f"{name} = {module}\n" for name, module in module_names.items())
        (info / "entry_points.txt").write_text(f"[clarion]\n{entry_points}")
        return module_names


@pytest.fixture
def plugin_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[PluginSite]:
    prefix = f"clarion_test_{request.node.name.split('[')[0].removeprefix('test_')}"
    site = PluginSite(tmp_path / "site-packages", prefix)
    site.path.mkdir()
    monkeypatch.syspath_prepend(str(site.path))
    yield site
    for name in [name for name in sys.modules if name.startswith(prefix)]:
        del sys.modules[name]


def test_builtins_load_like_plugins() -> None:
    manager = PluginManager(builtins=BUILTINS, entry_points=False)
    manager.load()

    assert set(manager.channel_types) == {"email", "webhook"}
    assert manager.channel_types["email"] is EmailChannel
    assert manager.type_sources == {"email": "clarion_channels.email", "webhook": "clarion_channels.webhook"}
    assert manager.failures == []
    assert manager.plugins == [
        PluginInfo(name="clarion_channels.email", source="clarion_channels.email", channel_types=("email",)),
        PluginInfo(
            name="clarion_channels.webhook", source="clarion_channels.webhook", channel_types=("webhook",)
        ),
    ]


def test_load_twice_changes_nothing() -> None:
    manager = PluginManager(builtins=BUILTINS, entry_points=False)
    manager.load()
    manager.load()

    assert len(manager.plugins) == 2 and manager.failures == []


def test_entry_point_plugin_is_discovered_with_its_distribution(plugin_site: PluginSite) -> None:
    plugin_site.install("clarion-echo", "1.2.3", {"echo": ECHO_PLUGIN})

    manager = PluginManager(builtins=BUILTINS)
    manager.load()

    assert manager.type_sources["echo"] == "echo (clarion-echo 1.2.3)"
    assert manager.channel_types["echo"].__name__ == "EchoChannel"
    assert (
        PluginInfo(name="echo", source="echo (clarion-echo 1.2.3)", channel_types=("echo",))
        in manager.plugins
    )


def test_entry_points_can_be_switched_off(plugin_site: PluginSite) -> None:
    plugin_site.install("clarion-echo", "1.2.3", {"echo": ECHO_PLUGIN})

    manager = PluginManager(builtins=BUILTINS, entry_points=False)
    manager.load()

    assert "echo" not in manager.channel_types


def test_broken_plugins_are_recorded_and_the_rest_load(
    plugin_site: PluginSite, caplog: pytest.LogCaptureFixture
) -> None:
    modules = plugin_site.install("clarion-broken", "0.1", BROKEN_PLUGINS | {"echo": ECHO_PLUGIN})
    caplog.set_level(logging.ERROR, logger="clarion_plugins.manager")

    manager = PluginManager(builtins=BUILTINS)
    manager.load()

    failures = {failure.name: failure for failure in manager.failures}
    assert set(BROKEN_PLUGINS) <= set(failures)
    assert all(failures[name].source == f"{name} (clarion-broken 0.1)" for name in BROKEN_PLUGINS)
    assert failures["import_error"].error == "ModuleNotFoundError: No module named 'clarion_no_such_module'"
    assert failures["register_raises"].error == "RuntimeError: cannot register today"
    assert "is not a subclass of clarion_plugins.Channel" in failures["not_a_channel"].error
    assert "type_name must be" in failures["no_type_name"].error
    assert (
        "channel type 'email' is already registered by clarion_channels.email"
        in failures["takes_email"].error
    )
    assert "abstract methods not implemented: ['send']" in failures["half_valid"].error
    assert failures["misspelt_hook"].error.startswith("UnknownHook: unknown hook 'register_channel_type' in plugin")
    assert "(known hooks: register_address_kinds, register_channel_types)" in failures["misspelt_hook"].error
    assert "address_kinds has unknown values ['loft']" in failures["unknown_kind"].error
    assert "address kind 'email' is built in" in failures["builtin_kind"].error
    # A plugin is registered whole or not at all.
    assert "fine" not in manager.channel_types
    assert manager.channel_types["email"] is EmailChannel
    assert manager.type_sources["echo"] == "echo (clarion-broken 0.1)"
    loaded = {plugin.name for plugin in manager.plugins}
    assert loaded.isdisjoint(BROKEN_PLUGINS)
    assert not any(manager.hooks.get_plugin(name) for name in BROKEN_PLUGINS)
    assert sys.modules[modules["echo"]] in manager.hooks.get_plugins()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert all(f"plugin {name} (" in logged for name in BROKEN_PLUGINS)


def test_strict_mode_raises_on_the_first_broken_plugin(plugin_site: PluginSite) -> None:
    plugin_site.install("clarion-broken", "0.1", {"register_raises": BROKEN_PLUGINS["register_raises"]})

    manager = PluginManager(builtins=BUILTINS, strict=True)
    with pytest.raises(PluginLoadError) as raised:
        manager.load()

    assert raised.value.failure == PluginLoadFailure(
        name="register_raises",
        source="register_raises (clarion-broken 0.1)",
        error="RuntimeError: cannot register today",
    )
    assert "register_raises" in str(raised.value)


def test_disabled_plugin_is_never_imported(plugin_site: PluginSite) -> None:
    modules = plugin_site.install(
        "clarion-disabled",
        "0.1",
        {"explodes": "raise SystemExit('imported a disabled plugin')\n", "echo": ECHO_PLUGIN},
    )

    manager = PluginManager(builtins=BUILTINS, disabled=["explodes", "echo"])
    manager.load()

    assert modules["explodes"] not in sys.modules and modules["echo"] not in sys.modules
    assert "echo" not in manager.channel_types
    assert not any(failure.name in ("explodes", "echo") for failure in manager.failures)


def test_a_builtin_can_be_disabled_by_module_path() -> None:
    manager = PluginManager(builtins=BUILTINS, disabled=["clarion_channels.webhook"], entry_points=False)
    manager.load()

    assert set(manager.channel_types) == {"email"}


def test_a_plugin_exposed_twice_is_registered_once(plugin_site: PluginSite) -> None:
    plugin_site.install(
        "clarion-email-again", "0.1", {"email_again": "from clarion_channels.email import *\n"}
    )
    (plugin_site.path / "clarion_email_again-0.1.dist-info" / "entry_points.txt").write_text(
        "[clarion]\nemail-again = clarion_channels.email\n"
    )

    manager = PluginManager(builtins=BUILTINS)
    manager.load()

    assert manager.type_sources["email"] == "clarion_channels.email"
    assert not any(failure.name == "email-again" for failure in manager.failures)


def test_create_channel_decodes_options(builtin_plugins: PluginManager) -> None:
    channel = builtin_plugins.create_channel(
        "mail", "email", {"host": "smtp.example.com", "sender": "a@example.com"}
    )

    assert isinstance(channel, EmailChannel)
    assert channel.name == "mail"
    assert channel.options == EmailOptions(host="smtp.example.com", sender="a@example.com")


def test_unknown_type_names_the_known_ones(builtin_plugins: PluginManager) -> None:
    with pytest.raises(ChannelConfigError) as raised:
        builtin_plugins.create_channel("pager", "pagerduty", {})

    assert (
        str(raised.value) == "channels.pager.type: unknown channel type 'pagerduty' (known: apprise, email, webhook)"
    )


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"host": "h", "sender": "a@b", "port": "25"}, "channels.mail.options.port: expected int, got str"),
        ({"host": "h", "sender": "a@b", "hots": "h"}, "channels.mail.options.hots: unknown key"),
        ({"sender": "a@b"}, "channels.mail.options.host: required key missing"),
    ],
)
def test_option_errors_name_channels_name_options_field(
    builtin_plugins: PluginManager, options: dict[str, object], error: str
) -> None:
    with pytest.raises(ChannelConfigError) as raised:
        builtin_plugins.create_channel("mail", "email", options)

    assert str(raised.value) == error


def test_an_exception_in_the_channel_constructor_is_a_config_error(plugin_site: PluginSite) -> None:
    plugin_site.install(
        "clarion-fussy",
        "0.1",
        {"fussy": """
                from clarion_plugins import Channel, Delivered, hookimpl

                class Fussy(Channel):
                    type_name = "fussy"
                    address_kinds = frozenset({"other"})

                    def __init__(self, name, options):
                        raise ValueError("needs a licence key")

                    async def send(self, message):
                        return Delivered()

                @hookimpl
                def register_channel_types(register):
                    register(Fussy)
            """},
    )
    manager = PluginManager()
    manager.load()

    with pytest.raises(ChannelConfigError, match=r"^channels\.f: ValueError: needs a licence key$"):
        manager.create_channel("f", "fussy", None)


def test_strict_mode_refuses_a_misspelt_hook(plugin_site: PluginSite) -> None:
    plugin_site.install("clarion-typo", "0.1", {"misspelt_hook": BROKEN_PLUGINS["misspelt_hook"]})

    with pytest.raises(PluginLoadError, match="unknown hook 'register_channel_type'"):
        PluginManager(builtins=BUILTINS, strict=True).load()


LOFT_PLUGIN = """
    from clarion_plugins import AddressKind, hookimpl

    class Loft(AddressKind):
        name = "loft"

        def recognises(self, value):
            return value.startswith("loft:")

        def check(self, value):
            if not value.removeprefix("loft:").isdigit():
                raise ValueError("a loft number is digits")

    @hookimpl
    def register_address_kinds(register):
        register(Loft())
"""

PIGEON_PLUGIN = BROKEN_PLUGINS["unknown_kind"]


def test_a_plugin_adds_an_address_kind_that_later_channel_types_may_reach(plugin_site: PluginSite) -> None:
    plugin_site.install("clarion-loft", "0.1", {"a_loft": LOFT_PLUGIN, "b_pigeon": PIGEON_PLUGIN})

    manager = PluginManager(builtins=BUILTINS)
    manager.load()

    assert manager.failures == []
    assert set(manager.address_kinds) == {"loft"}
    assert manager.channel_types["pigeon"].address_kinds == frozenset({"loft"})
    with pytest.raises(ValueError, match="a loft number is digits"):
        manager.address_kinds["loft"].check("loft:x")


def test_an_address_kind_is_registered_once(plugin_site: PluginSite) -> None:
    plugin_site.install("clarion-lofts", "0.1", {"a_loft": LOFT_PLUGIN, "b_loft": LOFT_PLUGIN})

    manager = PluginManager(builtins=BUILTINS)
    manager.load()

    assert [failure.name for failure in manager.failures] == ["b_loft"]
    assert "address kind 'loft' is already registered" in manager.failures[0].error


UNAVAILABLE_PLUGIN = """
    from clarion_plugins import PluginUnavailable

    try:
        import clarion_no_such_sdk
    except ImportError as exc:
        raise PluginUnavailable(
            "the pager channel needs the Pager SDK", install="pip install 'clarion-pager[sdk]'", channel_types=("pager",)
        ) from exc
"""


@pytest.mark.parametrize("strict", [False, True])
def test_a_plugin_missing_an_optional_dependency_is_unavailable_not_failed(
    plugin_site: PluginSite, strict: bool
) -> None:
    plugin_site.install("clarion-pager", "0.3", {"pager": UNAVAILABLE_PLUGIN})

    manager = PluginManager(builtins=BUILTINS, strict=strict)
    manager.load()

    assert manager.failures == []
    assert manager.unavailable == [
        UnavailablePlugin(
            name="pager",
            source="pager (clarion-pager 0.3)",
            reason="the pager channel needs the Pager SDK",
            install="pip install 'clarion-pager[sdk]'",
            channel_types=("pager",),
        )
    ]
    with pytest.raises(ChannelConfigError) as refused:
        manager.create_channel("oncall", "pager", {})
    assert str(refused.value) == (
        "channels.oncall.type: channel type 'pager' is not available: the pager channel needs the Pager SDK"
        " (install it with: pip install 'clarion-pager[sdk]')"
    )


def test_the_apprise_channel_is_unavailable_without_apprise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "clarion_channels.apprise", raising=False)
    for name in [name for name in sys.modules if name == "apprise" or name.startswith("apprise.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "apprise", None)  # what `import apprise` finds without the extra

    manager = PluginManager(builtins=(*BUILTINS, "clarion_channels.apprise"), entry_points=False)
    manager.load()

    assert manager.failures == [] and set(manager.channel_types) == {"email", "webhook"}
    (unavailable,) = manager.unavailable
    assert (unavailable.name, unavailable.install, unavailable.channel_types) == (
        "clarion_channels.apprise",
        "pip install 'clarion[apprise]'",
        ("apprise",),
    )
