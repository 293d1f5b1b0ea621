"""`clarion doctor`: is this installation able to run? A table of checks; exit 1 when one fails.

Checks, in order: the configuration (already loaded, so valid; every channel's
options decode), plugins that failed to load, the database (reachable, fully
migrated), and every enabled channel's `probe()` (SMTP connect and EHLO; the
webhook channel's resolver). A check that cannot run because an earlier one
failed is not run.
"""

import argparse
import asyncio
from dataclasses import dataclass
from typing import Any

from clarion.cli.common import one_line
from clarion.settings import Settings

PROBE_TIMEOUT_S = 10.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    doctor = commands.add_parser(
        "doctor", help="check the configuration, database, plugins and channels; exit 1 when something is wrong"
    )
    doctor.set_defaults(command=_doctor)


def _doctor(settings: Settings, _: argparse.Namespace) -> int:
    checks = asyncio.run(run_checks(settings))
    width = max(len(check.name) for check in checks)
    print(f"{'CHECK':<{width}}  {'STATUS':<6}  DETAIL")
    for check in checks:
        print(f"{check.name:<{width}}  {'ok' if check.ok else 'FAIL':<6}  {check.detail}")
    failed = [check for check in checks if not check.ok]
    print(f"{len(failed)} problem(s)" if failed else "everything is ready")
    return 1 if failed else 0


async def run_checks(settings: Settings) -> list[Check]:
    from clarion_plugins import ChannelConfigError

    from clarion.channels.registry import create_channel, load_plugins

    checks = [Check("configuration", True, settings.source)]
    manager = load_plugins(settings.plugins)
    for failure in manager.failures:
        checks.append(Check(f"plugin {failure.name}", False, f"failed to load: {failure.error}"))
    checks.append(await _database_check(settings))
    for name, channel_settings in sorted(settings.channels.items()):
        label = f"channel {name}"
        if not channel_settings.enabled:
            checks.append(Check(label, True, "disabled (not checked)"))
            continue
        try:
            channel = create_channel(manager, name, channel_settings)
        except ChannelConfigError as exc:
            checks.append(Check(label, False, str(exc)))
            continue
        try:
            detail = await asyncio.wait_for(channel.probe(), PROBE_TIMEOUT_S)
        except Exception as exc:  # any failure of the probe is the finding
            checks.append(Check(label, False, channel_settings.hide_secrets(one_line(exc))))
        else:
            checks.append(Check(label, True, detail))
    return checks


async def _database_check(settings: Settings) -> Check:
    from clarion.database import pending_migrations, running_engine
    from clarion.settings import redacted

    where = redacted(settings)["database"]["url"]
    try:
        async with running_engine(settings.database):
            pending = await pending_migrations()
    except Exception as exc:
        return Check("database", False, f"{where}: unreachable: {one_line(exc)}")
    if pending:
        return Check("database", False, f"{where}: {len(pending)} migration(s) pending: run `clarion migrate`")
    return Check("database", True, f"{where}: reachable, fully migrated")

