"""`clarion occurrences [--event] [--status] [--limit] [--follow]`: recent occurrences and their deliveries."""

import argparse
import asyncio
from typing import Any

from clarion.settings import Settings

FOLLOW_INTERVAL_S = 1.0


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    from clarion.occurrences.statuses import OccurrenceStatus

    parser = commands.add_parser("occurrences", help="show recent occurrences and their deliveries")
    parser.add_argument("--event", metavar="SLUG", help="only occurrences of events with this slug")
    parser.add_argument(
        "--status", choices=[status.value for status in OccurrenceStatus], help="only occurrences in this status"
    )
    parser.add_argument("--limit", type=int, default=20, help="how many of the newest to show (default: 20)")
    parser.add_argument(
        "--follow", action="store_true",
        help="keep watching: print new occurrences and changed ones every second, until interrupted",
    )
    parser.set_defaults(command=_occurrences)


def _occurrences(settings: Settings, args: argparse.Namespace) -> int:
    if args.limit < 1:
        from clarion.cli.common import ClarionCliError

        raise ClarionCliError("--limit: expected a positive number")
    asyncio.run(_show(settings, args))
    return 0


async def _show(settings: Settings, args: argparse.Namespace) -> None:
    from clarion.database import require_migrated, running_engine
    from clarion.occurrences.recent import recent_occurrences

    shown: dict[str, Any] = {}
    async with running_engine(settings.database):
        await require_migrated()
        while True:
            for occurrence in await recent_occurrences(event=args.event, status=args.status, limit=args.limit):
                if shown.get(occurrence.id) != occurrence:
                    shown[occurrence.id] = occurrence
                    print(format_occurrence(occurrence), flush=True)
            if not args.follow:
                if not shown:
                    print("no occurrences")
                return
            await asyncio.sleep(FOLLOW_INTERVAL_S)


def format_occurrence(occurrence: Any) -> str:
    lines = [
        f"{occurrence.id}  {occurrence.created:%Y-%m-%d %H:%M:%S}  {occurrence.event}  {occurrence.status}"
        f"  recipients={occurrence.recipients}" + (f"  error={occurrence.error}" if occurrence.error else "")
    ]
    for delivery in occurrence.deliveries:
        why = delivery.reason or delivery.last_error
        lines.append(
            f"    {delivery.channel:<12} {delivery.address:<40} {delivery.status:<10} attempts={delivery.attempts}"
            + (f"  {why}" if why else "")
        )
    return "\n".join(lines)
