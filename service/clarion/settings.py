"""Clarion's configuration: TOML decoded into msgspec Structs.

`load_settings()` is the one entry point. It reads the file named by
`--config` or `CLARION_CONFIG`, else `config/clarion.toml` when it exists, else the
built-in defaults (`clarion/defaults.toml`, the repository's `config/clarion.toml`,
with the database in the data directory: `$CLARION_DATA_DIR`, else
`$XDG_DATA_HOME/clarion`, else `~/.local/share/clarion`). It resolves `{"$env": NAME}` and
`{"$file": PATH}` secrets, applies the `CLARION_DATABASE_URL` / `CLARION_HOST` /
`CLARION_PORT` overrides and decodes the result. Every error names the key.
"""

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from importlib import resources

import msgspec
from clarion_plugins.manager import name_validation_error
from msgspec import Meta
from typing import Annotated

DEFAULT_CONFIG_PATH = "config/clarion.toml"
BUILT_IN_DEFAULTS = "(built-in defaults)"
REDACTED = "********"

PositiveInt = Annotated[int, Meta(ge=1)]
PositiveFloat = Annotated[float, Meta(gt=0)]
Port = Annotated[int, Meta(ge=0, le=65535)]


class SettingsError(Exception):
    """The configuration file cannot be used; the message names the key."""


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: Port = 8000
    max_body_bytes: PositiveInt = 524288
    public_url: str | None = None
    """The URL clients reach the API at (e.g. behind a proxy); links the API sends start with it."""

    def __post_init__(self) -> None:
        if self.public_url is not None and not _PUBLIC_URL.fullmatch(self.public_url):
            raise ValueError(
                "public_url: expected an absolute http(s) URL without query or fragment,"
                " e.g. https://clarion.example.com or https://example.com/clarion"
            )


def data_directory(environ: Mapping[str, str] | None = None) -> Path:
    """Where Clarion keeps its data when no configuration names a place (the SQLite database)."""
    environ = os.environ if environ is None else environ
    if environ.get("CLARION_DATA_DIR"):
        return Path(environ["CLARION_DATA_DIR"])
    base = Path(environ["XDG_DATA_HOME"]) if environ.get("XDG_DATA_HOME") else Path.home() / ".local" / "share"
    return base / "clarion"


def default_database_url() -> str:
    return f"sqlite:///{(data_directory() / 'clarion.db').absolute()}"


class DatabaseSettings(_Section):
    url: str = msgspec.field(default_factory=default_database_url)
    """Default: `clarion.db` in the data directory (`data_directory()`)."""
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    pool_size: PositiveInt = 10


class DispatchSettings(_Section):
    embedded: bool = True
    max_attempts: PositiveInt = 8
    backoff_base_s: PositiveFloat = 2.0
    backoff_max_s: PositiveFloat = 3600.0
    lease_s: PositiveFloat = 60.0
    poll_interval_s: PositiveFloat = 0.5


class WorkerSettings(_Section):
    """`clarion worker`'s own HTTP port: `/health/`, `/ready/`, `/metrics` (no API)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=-1, le=65535)] = 8001
    """0: a free port (logged); -1: no probe server."""


class PluginSettings(_Section):
    disabled: list[str] = []
    strict: bool = False


class TemplateSettings(_Section):
    max_bytes: PositiveInt = 65536
    max_output_bytes: PositiveInt = 262144
    render_timeout_s: PositiveFloat = 2.0
    workers: PositiveInt = 2
    """Render worker processes; one organization holds at most all but one of them."""
    worker_memory_mb: Annotated[int, Meta(ge=0)] = 256
    """The address-space limit of each render worker (0: none)."""


class RetentionSettings(_Section):
    occurrences_days: PositiveInt = 30
    idempotency_hours: PositiveInt = 24


class LoggingSettings(_Section):
    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = False
    """One line per HTTP request of `clarion serve` (logger `clarion.access`): method, path, status, time."""


class CacheSettings(_Section):
    """How long the API may serve a lookup from memory: a change in the database is seen within this."""

    api_keys_s: Annotated[float, Meta(ge=0)] = 1.0
    """API keys by token (a revoked, expired or deleted key stops working within this); 0: no cache."""
    directory_s: Annotated[float, Meta(ge=0)] = 1.0
    """Organizations, projects, applications and events by slug (locked, paused, inactive); 0: no cache."""


class AdminSettings(_Section):
    """The operator's console at /admin/ (Piccolo Admin); see docs/admin.md."""

    enabled: bool = False
    secure_cookies: bool = False
    """Behind TLS: the session cookie is `Secure` and CSRF also checks the `Referer` against `allowed_hosts`."""
    allowed_hosts: list[str] = []
    session_minutes: PositiveInt = 60
    """A session ends after this long unused (each use near the end extends it by 20 minutes)."""
    max_session_days: PositiveInt = 7
    login_attempts: PositiveInt = 20
    """Login requests one client may make per `login_window_s`; more are answered 429."""
    login_window_s: PositiveInt = 300


class MetricsSettings(_Section):
    enabled: bool = True
    per_event_labels: bool = False


class RateLimitSettings(_Section):
    """Requests per API key (GCRA: a steady rate and a burst); see docs/operations.md."""

    per_minute: Annotated[int, Meta(ge=0)] = 0
    """Each key's default rate; 0: no limit unless the key sets its own (`rate_limit` on the key)."""
    burst: PositiveInt = 60
    """Requests a key may send at once after a quiet spell (the bucket's size)."""
    store: str = "memory"
    """`memory` (one process) or `redis://HOST:PORT/DB` (shared by every `serve` process)."""
    redis_prefix: str = "clarion:rate:"
    """Prefix of the Redis keys (one per API key id): give each Clarion database its own."""
    fail_closed: bool = False
    """When the store cannot be reached: false lets requests through (logged), true answers 503."""

    def __post_init__(self) -> None:
        if self.store != "memory" and not self.store.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("store: expected 'memory' or a redis://HOST:PORT/DB URL")


class ChannelSettings(_Section):
    """One `[channels.NAME]` table. `options` are decoded later by the channel's plugin."""

    type: str
    enabled: bool = True
    max_concurrency: PositiveInt = 8
    options: dict[str, Any] = {}
    # Paths inside `options` ("password", "hosts[0]") of values that came from `$env` / `$file`.
    secret_options: frozenset[str] = frozenset()

    def hide_secrets(self, text: str) -> str:
        """`text` (an error about these options) with every secret option value masked.

        Secret: a value from `$env` / `$file`, or one under a key named like a secret
        (`password`, `secret`, `token`, …) even when written literally.
        """
        return hide_secrets(
            text,
            (
                value
                for path, key, value in _leaves(self.options, "")
                if isinstance(value, str) and (path in self.secret_options or _SECRET_KEY.search(key))
            ),
        )


class Settings(_Section):
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    dispatch: DispatchSettings = msgspec.field(default_factory=DispatchSettings)
    worker: WorkerSettings = msgspec.field(default_factory=WorkerSettings)
    plugins: PluginSettings = msgspec.field(default_factory=PluginSettings)
    templates: TemplateSettings = msgspec.field(default_factory=TemplateSettings)
    retention: RetentionSettings = msgspec.field(default_factory=RetentionSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    cache: CacheSettings = msgspec.field(default_factory=CacheSettings)
    admin: AdminSettings = msgspec.field(default_factory=AdminSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    rate_limit: RateLimitSettings = msgspec.field(default_factory=RateLimitSettings)
    channels: dict[str, ChannelSettings] = {}
    # Dotted paths of values that came from `$env` / `$file`; redacted when shown.
    secret_paths: frozenset[str] = frozenset()
    source: str = ""


_CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_PUBLIC_URL = re.compile(r"https?://[^/?#\s@]+(/[^?#\s]*)?")
_SECRET_KEY = re.compile(r"password|secret|token|api_?key|credential", re.I)
_ENV_OVERRIDES = {
    "CLARION_DATABASE_URL": ("database", "url", str),
    "CLARION_HOST": ("server", "host", str),
    "CLARION_PORT": ("server", "port", int),
}


def config_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The configuration file to read; None: none is named and `config/clarion.toml` does not exist."""
    named = path or os.environ.get("CLARION_CONFIG")
    if named:
        return Path(named)
    return Path(DEFAULT_CONFIG_PATH) if Path(DEFAULT_CONFIG_PATH).is_file() else None


def built_in_defaults() -> str:
    """The defaults file shipped in the package (the repository's `config/clarion.toml`)."""
    return resources.files("clarion").joinpath("defaults.toml").read_text()


def example_configuration() -> str:
    """Every key, commented (`clarion init` writes it)."""
    return resources.files("clarion").joinpath("clarion.example.toml").read_text()


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read, resolve and decode the configuration file (or the built-in defaults when there is none)."""
    environ = os.environ if environ is None else environ
    file = config_path(path)
    if file is None:
        return parse_settings(built_in_defaults(), source=BUILT_IN_DEFAULTS, environ=environ)
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{file}: cannot read configuration: {exc.strerror}") from exc
    return parse_settings(text, source=str(file), environ=environ)


def parse_settings(
    text: bytes | str, *, source: str = "<string>", environ: Mapping[str, str] | None = None
) -> Settings:
    environ = os.environ if environ is None else environ
    try:
        raw = msgspec.toml.decode(text)
    except msgspec.DecodeError as exc:
        raise SettingsError(f"{source}: invalid TOML: {exc}") from exc
    secret_paths: dict[str, Any] = {}  # path -> the value it resolved to
    raw = _resolve_secrets(raw, "", secret_paths, environ, Path(source).parent)
    secrets = list(secret_paths.values())
    for variable, (section, key, kind) in _ENV_OVERRIDES.items():
        if variable in environ:
            try:
                value = kind(environ[variable])
            except ValueError as exc:
                raise SettingsError(f"{variable}: expected {kind.__name__}") from exc
            raw.setdefault(section, {})
            if not isinstance(raw[section], dict):
                raise SettingsError(f"{section}: expected a table")
            raw[section][key] = value
    for reserved in ("secret_paths", "source"):
        if reserved in raw:
            raise SettingsError(f"{reserved}: unknown key")
    raw_channels = raw.pop("channels", {})
    if not isinstance(raw_channels, dict):
        raise SettingsError("channels: expected a table")
    settings = _convert(raw, Settings, "", secrets)
    channels = {}
    for name, table in raw_channels.items():
        if not _CHANNEL_NAME.match(name):
            raise SettingsError(
                f"channels.{name}: a channel name is lowercase letters, digits, '-' and '_'"
            )
        if isinstance(table, dict) and "secret_options" in table:
            raise SettingsError(f"channels.{name}.secret_options: unknown key")
        channel = _convert(table, ChannelSettings, f"channels.{name}", secrets)
        options = f"channels.{name}.options."
        hidden = frozenset(path.removeprefix(options) for path in secret_paths if path.startswith(options))
        channels[name] = msgspec.structs.replace(channel, secret_options=hidden)
    return msgspec.structs.replace(
        settings, channels=channels, secret_paths=frozenset(secret_paths), source=source
    )


def _convert(raw: Any, kind: type[msgspec.Struct], prefix: str, secrets: list[Any]) -> Any:
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise SettingsError(hide_secrets(name_validation_error(str(exc), prefix), secrets)) from None


def hide_secrets(text: str, secrets: Iterable[Any]) -> str:
    """`text` with every occurrence of a secret value replaced by `REDACTED` (longest first).

    Every configuration and channel-option error goes through here before it is
    raised, logged or printed: an error message never carries a secret.
    """
    for secret in sorted({str(value) for value in secrets if str(value)}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _leaves(value: Any, path: str, key: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) of every scalar in `value`: paths spelled as `secret_paths` spells them,
    `key` the name of the innermost table key above the scalar."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _leaves(item, f"{path}.{name}" if path else str(name), str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]", key)
    else:
        yield path, key, value


def _resolve_secrets(
    value: Any, path: str, secret_paths: dict[str, Any], environ: Mapping[str, str], base: Path
) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$env"}:
            name = value["$env"]
            if not isinstance(name, str) or name not in environ:
                raise SettingsError(f"{path}: environment variable {name!r} is not set")
            secret_paths[path] = environ[name]
            return environ[name]
        if set(value) == {"$file"}:
            file = Path(value["$file"])
            try:
                secret = (file if file.is_absolute() else Path.cwd() / file).read_text()
            except OSError as exc:
                raise SettingsError(f"{path}: cannot read secret file {file}: {exc.strerror}") from exc
            secret_paths[path] = secret.strip()
            return secret.strip()
        return {
            key: _resolve_secrets(item, f"{path}.{key}" if path else key, secret_paths, environ, base)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _resolve_secrets(item, f"{path}[{index}]", secret_paths, environ, base)
            for index, item in enumerate(value)
        ]
    return value


def redacted(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret (and database password) masked."""
    data = msgspec.to_builtins(settings)
    data.pop("secret_paths", None)
    data.pop("source", None)
    for channel in data["channels"].values():
        channel.pop("secret_options", None)
    for path in settings.secret_paths:
        _mask(data, path.split("."))
    data["database"]["url"] = re.sub(r"://([^:/@]+):[^@]*@", rf"://\1:{REDACTED}@", data["database"]["url"])
    return data


def _mask(data: Any, keys: list[str]) -> None:
    for key in keys[:-1]:
        if not isinstance(data, dict) or key not in data:
            return
        data = data[key]
    if isinstance(data, dict) and keys[-1] in data:
        data[keys[-1]] = REDACTED
