"""The `clarion` command line.

Exit status: 0 success; 1 a runtime failure (one line naming what failed, the
traceback only with `--debug`); 2 a usage or configuration error (argparse's
own, a bad configuration file, a bad input file). Options common to every
command (`--config`, `--debug`) go before or after the subcommand.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import msgspec

from clarion.cli.common import ClarionCliError, add_common_options, port_problem, run_command
from clarion.settings import Settings
from clarion.console.commands import add_admin_commands


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    return run_command(args)


def _parser() -> argparse.ArgumentParser:
    from clarion.cli import register_operations

    parser = argparse.ArgumentParser(prog="clarion", description="Event-driven notification service.")
    add_common_options(parser, top_level=True)
    commands = parser.add_subparsers(required=True, metavar="COMMAND", parser_class=_CommandParser)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument(
        "--check", action="store_true", help="apply nothing; exit 1 when migrations are pending (deploy scripts)"
    )
    migrate.set_defaults(command=_migrate)

    serve = commands.add_parser("serve", help="serve the API (and the embedded dispatcher)")
    serve.add_argument("--host", help="address to bind (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: server.port, 8000)")
    serve.set_defaults(command=_serve)

    worker = commands.add_parser("worker", help="run the dispatcher only (and /health/, /ready/, /metrics)")
    worker.add_argument("--host", help="address of /health/, /ready/, /metrics (default: worker.host, 127.0.0.1)")
    worker.add_argument(
        "--port", type=int, help="port of /health/, /ready/, /metrics (default: worker.port, 8001; 0: a free one;"
        " -1: none)"
    )
    worker.set_defaults(command=_worker)

    apply = commands.add_parser("apply", help="create or update the catalog in FILE (JSON, TOML or YAML)")
    apply.add_argument("file", type=Path, help="the catalog file (.json, .toml, .yaml)")
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
    register_operations(commands)
    add_admin_commands(commands)
    return parser


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: it takes the common options too (`clarion channels --config X`), and so
    do the parsers of its own subcommands (`clarion config check --config X`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        add_common_options(self)


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from clarion.database import migrate, pending_migrations, running_engine

    async def run() -> list[str]:
        async with running_engine(settings.database) as engine:
            return await (pending_migrations() if args.check else migrate(engine))

    if args.check:
        pending = asyncio.run(run())
        if pending:
            print(f"{len(pending)} migration(s) pending: {', '.join(pending)}: run `clarion migrate`")
            return 1
        print("the database is fully migrated")
        return 0
    applied = asyncio.run(run())
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from clarion.http.app import create_app
    from clarion.logs import configure_logging

    settings = _with_address(settings, "server", args)
    server = settings.server
    if problem := port_problem(server.host, server.port):
        raise OSError(f"{problem} (server.port, or --port)")
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


def _with_address(settings: Settings, section: str, args: argparse.Namespace) -> Settings:
    """`settings` with `--host` / `--port` (when given) in `[section]`."""
    given = {key: getattr(args, key) for key in ("host", "port") if getattr(args, key) is not None}
    if not given:
        return settings
    return msgspec.structs.replace(settings, **{section: msgspec.structs.replace(getattr(settings, section), **given)})


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from clarion.logs import configure_logging
    from clarion.process import run_worker

    settings = _with_address(settings, "worker", args)
    configure_logging(settings.logging)
    asyncio.run(run_worker(settings))
    return 0


def _channel_kinds(settings: Settings) -> dict[str, frozenset[str]]:
    from clarion.channels.registry import channel_address_kinds, load_plugins

    return channel_address_kinds(settings, load_plugins(settings.plugins))


def _apply(settings: Settings, args: argparse.Namespace) -> int:
    from clarion.catalog.services import apply_catalog
    from clarion.catalog.validation import read_catalog
    from clarion.channels.addresses import AddressKinds
    from clarion.channels.registry import channel_address_kinds, channel_secret_checks, load_plugins
    from clarion.errors import BadRequest

    manager = load_plugins(settings.plugins)
    kinds, secret_checks = channel_address_kinds(settings, manager), channel_secret_checks(settings, manager)
    address_kinds = AddressKinds(manager.address_kinds)
    try:
        catalog = read_catalog(args.file)
        result = asyncio.run(
            _with_engine(settings, lambda: apply_catalog(catalog, kinds, secret_checks, address_kinds))
        )
    except BadRequest as exc:  # the catalog's refusals (CatalogError) and the address kinds' alike
        where = f"{args.file}:"
        raise ClarionCliError(exc.detail if exc.detail.startswith(where) else f"{where} {exc.detail}") from exc
    for key in result.revoked_keys:
        print(f"{key}: the key is revoked; apply does not reactivate it (give it another name to mint a new key)",
              file=sys.stderr)
    print(json.dumps({"api_keys": result.api_keys}))
    return 0


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from clarion.catalog.demo import apply_demo, demo_instructions

    kinds = _channel_kinds(settings)
    token = asyncio.run(_with_engine(settings, lambda: apply_demo(kinds)))
    base_url = args.base_url or f"http://{settings.server.host}:{settings.server.port}"
    print(demo_instructions(token, base_url))
    return 0


async def _with_engine(settings: Settings, work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """`work()` on the running engine, once the database is known to be migrated (else nothing is created)."""
    from clarion.database import require_migrated, running_engine

    async with running_engine(settings.database):
        await require_migrated()
        return await work()


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
                    "unavailable": msgspec.to_builtins(manager.unavailable),
                }
            )
        )
        return 0
    print(f"{'CHANNEL':<20} {'TYPE':<12} {'ENABLED':<8} PLUGIN")
    for channel in channels:
        plugin = channel.plugin or (
            f"(not installed: {channel.install})" if channel.install else "(unknown type: no plugin provides it)"
        )
        print(f"{channel.name:<20} {channel.type:<12} {'yes' if channel.enabled else 'no':<8} {plugin}")
    for failure in manager.failures:
        print(f"plugin {failure.name} failed to load: {failure.error}")
    for unavailable in manager.unavailable:
        types = ", ".join(unavailable.channel_types) or "its channel types"
        print(f"plugin {unavailable.name} is unavailable ({types}): {unavailable.reason}; install it with: {unavailable.install}")
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
