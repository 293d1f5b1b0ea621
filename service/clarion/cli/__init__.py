"""`clarion` subcommands for operators: init, doctor, occurrences, backup (the others are in `__main__`)."""

import argparse
from typing import Any

from clarion.cli import backup, doctor, init, occurrences


def register_operations(commands: "argparse._SubParsersAction[Any]") -> None:
    for module in (init, doctor, occurrences, backup):
        module.register(commands)
