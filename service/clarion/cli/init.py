"""`clarion init [PATH]`: write the commented example configuration to start from."""

import argparse
from pathlib import Path
from typing import Any

from clarion.cli.common import ClarionCliError
from clarion.settings import DEFAULT_CONFIG_PATH, Settings, example_configuration


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    init = commands.add_parser("init", help="write a commented configuration file to start from")
    init.add_argument(
        "path", nargs="?", type=Path, default=Path(DEFAULT_CONFIG_PATH),
        help=f"where to write it (default: {DEFAULT_CONFIG_PATH}, read by every command run in this directory)",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(command=_init, needs_settings=False)


def _init(_: Settings | None, args: argparse.Namespace) -> int:
    path: Path = args.path
    if path.exists() and not args.force:
        raise ClarionCliError(f"{path}: already exists (--force overwrites it)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(example_configuration())
    except OSError as exc:
        raise ClarionCliError(f"{path}: cannot write: {exc.strerror}") from exc
    print(f"wrote {path}: every key with its default and meaning; edit it, then `clarion migrate`")
    return 0
