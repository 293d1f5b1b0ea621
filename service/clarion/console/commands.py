"""`clarion admin create-user | list-users | delete-user`: the console's operator accounts."""

import argparse
import asyncio
import getpass
import json
import secrets
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import msgspec

from clarion.errors import BadRequest
from clarion.settings import Settings

T = TypeVar("T")


def add_admin_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `clarion admin …` on the `clarion` command's subcommands."""
    admin = commands.add_parser("admin", help="operator accounts of the web console at /admin/")
    admin_commands = admin.add_subparsers(required=True, metavar="SUBCOMMAND")

    create = admin_commands.add_parser("create-user", help="create an operator who can log into the console")
    create.add_argument("username", help="the operator's login name")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input (else: prompt)"
    )
    create.set_defaults(command=_create_user)

    listing = admin_commands.add_parser("list-users", help="list operators")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(command=_list_users)

    delete = admin_commands.add_parser("delete-user", help="delete an operator and end their sessions")
    delete.add_argument("username", help="the operator to delete")
    delete.set_defaults(command=_delete_user)


def _create_user(settings: Settings, args: argparse.Namespace) -> int:
    from clarion.operators.services import create_operator

    password = _read_password(args.password_stdin)
    _with_database(settings, lambda: create_operator(args.username, password))
    print(f"operator {args.username!r} created: log in at /admin/")
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise BadRequest("password: no terminal to prompt on; pipe it in with --password-stdin")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != password:
        raise BadRequest("password: the two entries differ")
    return password


def _list_users(settings: Settings, args: argparse.Namespace) -> int:
    from clarion.operators.services import list_operators

    operators = _with_database(settings, list_operators)
    if args.json:
        print(json.dumps({"operators": msgspec.to_builtins(operators)}))
        return 0
    print(f"{'USERNAME':<32} {'ACTIVE':<7} LAST LOGIN")
    for operator in operators:
        last_login = operator.last_login.isoformat(sep=" ", timespec="seconds") if operator.last_login else "never"
        print(f"{operator.username:<32} {'yes' if operator.active else 'no':<7} {last_login}")
    return 0


def _delete_user(settings: Settings, args: argparse.Namespace) -> int:
    from clarion.operators.services import delete_operator

    _with_database(settings, lambda: delete_operator(args.username))
    print(f"operator {args.username!r} deleted; their sessions ended")
    return 0


DEVELOPMENT_OPERATOR = "dev"


def development_login(settings: Settings) -> str:
    """`make run`: a fresh password for the operator "dev" (created if needed), and where to use it."""
    from clarion.operators.services import reset_operator

    password = secrets.token_urlsafe(12)
    _with_database(settings, lambda: reset_operator(DEVELOPMENT_OPERATOR, password))
    url = f"http://{settings.server.host}:{settings.server.port}/admin/"
    return f"Console: {url} (log in as {DEVELOPMENT_OPERATOR} / {password}; a new password each run)"


def _with_database(settings: Settings, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work()` with the (migrated) database bound; the coroutine is only created once it will be awaited."""
    from clarion.database import require_migrated, running_engine

    async def run() -> T:
        async with running_engine(settings.database):
            await require_migrated()
            return await work()

    return asyncio.run(run())
