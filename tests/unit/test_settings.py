import os
from pathlib import Path

import msgspec
import pytest

from clarion.settings import (
    BUILT_IN_DEFAULTS,
    REDACTED,
    SettingsError,
    data_directory,
    default_database_url,
    load_settings,
    parse_settings,
    redacted,
)

pytestmark = pytest.mark.no_db

REPO = Path(__file__).resolve().parents[2]


def error_of(text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(SettingsError) as caught:
        parse_settings(text, environ=environ or {})
    return str(caught.value)


def test_shipped_default_file_decodes_with_spec_defaults() -> None:
    settings = load_settings(REPO / "config" / "clarion.toml", environ={})
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8000
    assert settings.server.max_body_bytes == 524288
    assert settings.database.url == default_database_url()  # clarion.db in the data directory
    assert settings.dispatch.max_attempts == 8
    assert settings.templates.render_timeout_s == 2.0
    assert settings.retention.idempotency_hours == 24
    assert {"email", "webhook"} <= set(settings.channels)


def test_the_data_directory_follows_clarion_data_dir_then_xdg_then_home() -> None:
    assert data_directory({"CLARION_DATA_DIR": "/srv/clarion", "XDG_DATA_HOME": "/x"}) == Path("/srv/clarion")
    assert data_directory({"XDG_DATA_HOME": "/x"}) == Path("/x/clarion")
    assert data_directory({}) == Path.home() / ".local" / "share" / "clarion"


def test_without_a_configuration_file_the_built_in_defaults_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config/clarion.toml here
    monkeypatch.delenv("CLARION_CONFIG", raising=False)
    monkeypatch.setenv("CLARION_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert settings.source == BUILT_IN_DEFAULTS
    assert settings.database.url == f"sqlite:///{tmp_path}/data/clarion.db"
    shipped = load_settings(REPO / "config" / "clarion.toml")
    assert msgspec.structs.replace(settings, source="") == msgspec.structs.replace(shipped, source="")
    # A file that is named but missing is an error, not a silent fallback.
    monkeypatch.setenv("CLARION_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="missing.toml: cannot read configuration"):
        load_settings()


def test_example_file_has_every_key_and_decodes() -> None:
    settings = load_settings(
        REPO / "config" / "clarion.example.toml", environ={"CLARION_WEBHOOK_SECRET": "whsec_AAAA"}
    )
    assert settings.channels["webhook"].options["secret"] == "whsec_AAAA"
    text = (REPO / "config" / "clarion.example.toml").read_text()
    from clarion.settings import Settings

    for section in Settings.__struct_fields__:
        if section in ("secret_paths", "source", "channels"):
            continue
        assert f"[{section}]" in text
        for key in getattr(Settings(), section).__struct_fields__:
            assert f"\n{key} =" in text or f"\n# {key} =" in text, f"{section}.{key} missing"


def test_empty_file_gives_defaults() -> None:
    settings = parse_settings("", environ={})
    assert settings.dispatch.lease_s == 60
    assert settings.channels == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nport = 'x'\n", "server.port: expected int, got str"),
        ("[server]\nprot = 1\n", "server.prot: unknown key"),
        ("[dispatch]\nlease_s = -1\n", "dispatch.lease_s: expected float > 0.0"),
        ("[logging]\nformat = 'xml'\n", "logging.format:"),
        (
            "[channels.email]\ntype = 'email'\nmax_concurrency = 'lots'\n",
            "channels.email.max_concurrency: expected int, got str",
        ),
        ("[channels.email]\nenabled = true\n", "channels.email.type: required key missing"),
        ("[channels.Bad]\ntype = 'email'\n", "channels.Bad: a channel name"),
        ("[server\n", "invalid TOML"),
        ("[database]\nurl = { '$env' = 'NOPE' }\n", "database.url: environment variable 'NOPE' is not set"),
    ],
)
def test_bad_files_name_the_key(text: str, message: str) -> None:
    assert message in error_of(text)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read configuration"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_config_environment_variable_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "other.toml"
    file.write_text("[server]\nport = 9123\n")
    monkeypatch.setenv("CLARION_CONFIG", str(file))
    assert load_settings().server.port == 9123


def test_environment_overrides() -> None:
    settings = parse_settings(
        "[server]\nport = 1\n",
        environ={
            "CLARION_DATABASE_URL": "postgresql://u:p@h/db",
            "CLARION_HOST": "0.0.0.0",
            "CLARION_PORT": "8123",
        },
    )
    assert (settings.database.url, settings.server.host, settings.server.port) == (
        "postgresql://u:p@h/db",
        "0.0.0.0",
        8123,
    )
    assert "CLARION_PORT: expected int" in error_of("", {"CLARION_PORT": "eighty"})


def test_secrets_from_env_and_file_are_resolved_and_redacted(tmp_path: Path) -> None:
    secret_file = tmp_path / "smtp-password"
    secret_file.write_text("s3cret-from-file\n")
    settings = parse_settings(
        f"""
[database]
url = "postgresql://clarion:dbpass@db/clarion"
[channels.email]
type = "email"
[channels.email.options]
password = {{ "$file" = "{secret_file}" }}
[channels.webhook]
type = "webhook"
[channels.webhook.options]
secret = {{ "$env" = "HOOK_SECRET" }}
""",
        environ={"HOOK_SECRET": "whsec_c2VjcmV0"},
    )
    assert settings.channels["email"].options["password"] == "s3cret-from-file"
    assert settings.channels["webhook"].options["secret"] == "whsec_c2VjcmV0"
    shown = redacted(settings)
    assert shown["channels"]["email"]["options"]["password"] == REDACTED
    assert shown["channels"]["webhook"]["options"]["secret"] == REDACTED
    assert "dbpass" not in str(shown)
    assert "s3cret" not in str(shown) and "c2VjcmV0" not in str(shown)


def test_unreadable_secret_file_names_the_key(tmp_path: Path) -> None:
    message = error_of(f'[channels.e]\ntype="email"\n[channels.e.options]\npassword = {{ "$file" = "{tmp_path}/none" }}\n')
    assert message.startswith("channels.e.options.password: cannot read secret file")


def test_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARION_PORT", "8765")
    assert parse_settings("").server.port == 8765
    assert os.environ["CLARION_PORT"] == "8765"


# errors never carry a secret value ---------------------------------------------------------------

SMTP_PASSWORD = "smtp-pass-9f2c1e77"


def test_a_settings_error_does_not_echo_a_secret() -> None:
    message = error_of("[logging]\nlevel = { '$env' = 'LEVEL' }\n", {"LEVEL": SMTP_PASSWORD})
    assert message == f"logging.level: invalid enum value '{REDACTED}'"


def _channels_with_secrets(tmp_path: Path, sender_file_text: str) -> "Settings":
    from clarion.settings import Settings  # noqa: F401

    secret_file = tmp_path / "smtp-password"
    secret_file.write_text(sender_file_text + "\n")
    return parse_settings(
        f"""
[channels.email]
type = "email"
[channels.email.options]
host = "127.0.0.1"
sender = {{ "$file" = "{secret_file}" }}
username = "clarion"
password = "literal-password-77"
[channels.webhook]
type = "webhook"
[channels.webhook.options]
secret = {{ "$env" = "HOOK_SECRET" }}
""",
        environ={"HOOK_SECRET": "whsec_not-a-real-secret"},
    )


def test_secret_option_paths_are_recorded_per_channel(tmp_path: Path) -> None:
    settings = _channels_with_secrets(tmp_path, SMTP_PASSWORD)
    assert settings.channels["email"].secret_options == frozenset({"sender"})
    assert settings.channels["webhook"].secret_options == frozenset({"secret"})
    hidden = settings.channels["email"].hide_secrets(f"x {SMTP_PASSWORD!r} literal-password-77 127.0.0.1")
    assert hidden == f"x '{REDACTED}' {REDACTED} 127.0.0.1"
    assert "secret_options" not in str(redacted(settings))
    assert error_of("[channels.e]\ntype = 'email'\nsecret_options = ['x']\n") == "channels.e.secret_options: unknown key"


@pytest.mark.parametrize("name", ["email", "webhook"])
async def test_a_channel_option_error_does_not_echo_a_secret(tmp_path: Path, name: str) -> None:
    from clarion_plugins import ChannelConfigError

    from clarion.channels.registry import load_plugins
    from clarion.channels.runtime import ChannelSet
    from clarion.settings import PluginSettings

    settings = _channels_with_secrets(tmp_path, SMTP_PASSWORD)
    channels = ChannelSet(load_plugins(PluginSettings()))
    with pytest.raises(ChannelConfigError) as raised:
        await channels.apply({name: settings.channels[name]})
    expected = {
        "email": f"channels.email.options: sender is not a mailbox: '{REDACTED}'",
        "webhook": "channels.webhook.options.secret: expected 'whsec_' followed by the base64 of a 24 to 64 byte key"
        " (what follows 'whsec_' is not base64)",
    }
    assert str(raised.value) == expected[name]
    assert raised.value.__suppress_context__  # the original message (with the secret) is not chained either
    assert SMTP_PASSWORD not in str(raised.value) and "not-a-real-secret" not in str(raised.value)
    await channels.aclose()


# server.public_url --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://clarion.example.com", "http://10.0.0.5:8000/", "https://example.com/clarion"])
def test_public_url_takes_an_absolute_http_url(url: str) -> None:
    assert parse_settings(f"[server]\npublic_url = '{url}'\n", environ={}).server.public_url == url
    assert parse_settings("", environ={}).server.public_url is None


@pytest.mark.parametrize("url", ["clarion.example.com", "ftp://x", "https://x/?a=1", "https://x/#f", "https://u@x/", "https://"])
def test_a_bad_public_url_names_the_key(url: str) -> None:
    assert error_of(f"[server]\npublic_url = '{url}'\n") == (
        "server.public_url: expected an absolute http(s) URL without query or fragment,"
        " e.g. https://clarion.example.com or https://example.com/clarion"
    )
