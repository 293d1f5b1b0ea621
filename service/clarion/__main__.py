"""The `clarion` command line."""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from clarion.console.commands import add_admin_commands
from clarion.errors import ClarionError
from clarion.settings import Settings, SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        return int(args.command(settings, args) or 0)
    except (SettingsError, ClarionCliError) as exc:
        print(f"clarion: {exc}", file=sys.stderr)
        return 2
    except ClarionError as exc:
        print(f"clarion: {exc.detail}", file=sys.stderr)
        return 2


class ClarionCliError(Exception):
    """A command failed in a way the user can fix; printed without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clarion", description="Event-driven notification service.")
    parser.add_argument("--config", help="configuration file (default: $CLARION_CONFIG or config/clarion.toml)")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(command=_migrate)

    serve = commands.add_parser("serve", help="serve the API (and the embedded dispatcher)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(command=_serve)

    worker = commands.add_parser("worker", help="run the dispatcher only")
    worker.set_defaults(command=_worker)

    apply = commands.add_parser("apply", help="create or update the catalog in FILE (JSON, TOML or YAML)")
    apply.add_argument("file", type=Path)
    apply.set_defaults(command=_apply)

    demo = commands.add_parser("demo", help="apply the demo catalog and mint a fresh demo key")
    demo.add_argument("--base-url", help="URL printed in the example (default: from server.host/port)")
    demo.set_defaults(command=_demo)

    channels = commands.add_parser("channels", help="list configured channels and plugin load failures")
    channels.add_argument("--json", action="store_true", help="print JSON")
    channels.set_defaults(command=_channels)

    config = commands.add_parser("config", help="configuration commands")
    config_commands = config.add_subparsers(required=True, metavar="SUBCOMMAND")
    check = config_commands.add_parser("check", help="validate the configuration file")
    check.set_defaults(command=_config_check)

    add_admin_commands(commands)
    return parser


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    from clarion.database import migrate, running_engine

    async def run() -> list[str]:
        async with running_engine(settings.database) as engine:
            return await migrate(engine)

    applied = asyncio.run(run())
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from clarion.http.app import create_app
    from clarion.logs import configure_logging

    server = settings.server
    if args.host is not None or args.port is not None:
        server = msgspec.structs.replace(
            server,
            host=args.host if args.host is not None else server.host,
            port=args.port if args.port is not None else server.port,
        )
        settings = msgspec.structs.replace(settings, server=server)
    configure_logging(settings.logging)
    uvicorn.run(
        create_app(settings),
        host=server.host,
        port=server.port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    return 0


def _worker(settings: Settings, _: argparse.Namespace) -> int:
    from clarion.logs import configure_logging
    from clarion.process import run_worker

    configure_logging(settings.logging)
    asyncio.run(run_worker(settings))
    return 0


def _channel_kinds(settings: Settings) -> dict[str, frozenset[str]]:
    from clarion.channels.registry import channel_address_kinds, load_plugins

    return channel_address_kinds(settings, load_plugins(settings.plugins))


def _apply(settings: Settings, args: argparse.Namespace) -> int:
    from clarion.catalog.services import apply_catalog
    from clarion.catalog.validation import read_catalog
    from clarion.channels.registry import channel_address_kinds, channel_secret_checks, load_plugins

    manager = load_plugins(settings.plugins)
    kinds, secret_checks = channel_address_kinds(settings, manager), channel_secret_checks(settings, manager)
    try:
        catalog = read_catalog(args.file)
        result = asyncio.run(_with_engine(settings, apply_catalog(catalog, kinds, secret_checks)))
    except ClarionError as exc:
        raise ClarionCliError(f"{args.file}: {exc.detail}") from exc
    for key in result.revoked_keys:
        print(f"{key}: the key is revoked; apply does not reactivate it (give it another name to mint a new key)",
              file=sys.stderr)
    print(json.dumps({"api_keys": result.api_keys}))
    return 0


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from clarion.catalog.demo import apply_demo, demo_instructions

    token = asyncio.run(_with_engine(settings, apply_demo(_channel_kinds(settings))))
    base_url = args.base_url or f"http://{settings.server.host}:{settings.server.port}"
    print(demo_instructions(token, base_url))
    return 0


async def _with_engine(settings: Settings, work):  # type: ignore[no-untyped-def]
    from clarion.database import require_migrated, running_engine

    async with running_engine(settings.database):
        await require_migrated()
        return await work


def _channels(settings: Settings, args: argparse.Namespace) -> int:
    from clarion.channels.registry import describe_channels, load_plugins

    manager = load_plugins(settings.plugins)
    channels = describe_channels(settings, manager)
    if args.json:
        print(
            json.dumps(
                {
                    "channels": msgspec.to_builtins(channels),
                    "failures": msgspec.to_builtins(manager.failures),
                }
            )
        )
        return 0
    print(f"{'CHANNEL':<20} {'TYPE':<12} {'ENABLED':<8} PLUGIN")
    for channel in channels:
        plugin = channel.plugin or "(unknown type: no plugin provides it)"
        print(f"{channel.name:<20} {channel.type:<12} {'yes' if channel.enabled else 'no':<8} {plugin}")
    for failure in manager.failures:
        print(f"plugin {failure.name} failed to load: {failure.error}")
    return 0


def _config_check(settings: Settings, _: argparse.Namespace) -> int:
    from clarion_plugins import ChannelConfigError

    from clarion.channels.registry import create_channel, load_plugins
    from clarion.db.engine import create_engine

    create_engine(settings.database)
    manager = load_plugins(settings.plugins)
    try:
        for name, channel in settings.channels.items():
            create_channel(manager, name, channel)
    except ChannelConfigError as exc:
        raise ClarionCliError(f"{settings.source}: {exc}") from exc
    for failure in manager.failures:
        print(f"warning: plugin {failure.name} failed to load: {failure.error}", file=sys.stderr)
    print(f"{settings.source}: ok ({len(settings.channels)} channel(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
