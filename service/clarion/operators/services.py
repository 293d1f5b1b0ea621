"""Create, list and delete operators (`clarion admin create-user | list-users | delete-user`)."""

import re
from datetime import datetime

import msgspec

from clarion.db.engine import write_transaction
from clarion.errors import BadRequest, Conflict, NotFound
from clarion.operators.tables import Operator, OperatorSession

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")


class OperatorView(msgspec.Struct, kw_only=True):
    username: str
    active: bool
    last_login: datetime | None


async def create_operator(username: str, password: str) -> None:
    """A new active operator allowed into the console; refuses a taken name or a weak password."""
    _check(username, password)
    if await Operator.exists().where(Operator.username == username):
        raise Conflict(f"operator {username!r} already exists")
    # `email` is unique and required by Piccolo's user table; operators log in by name only.
    await Operator.create_user(
        username=username, password=password, email=f"{username}@operators.invalid", active=True, admin=True
    )


async def reset_operator(username: str, password: str) -> None:
    """Give `username` this password, creating the operator if needed (`make run`'s development login)."""
    _check(username, password)
    if not await Operator.exists().where(Operator.username == username):
        await create_operator(username, password)
        return
    await Operator.update_password(username, password)
    await Operator.update({Operator.active: True, Operator.admin: True}).where(Operator.username == username)


def _check(username: str, password: str) -> None:
    if not USERNAME.match(username):
        raise BadRequest(
            f"username {username!r}: 1 to 100 letters, digits, '_', '.', '@' or '-', starting with a letter or digit"
        )
    try:
        Operator._validate_password(password)
    except ValueError as exc:
        raise BadRequest(f"password: {exc}") from None


async def list_operators() -> list[OperatorView]:
    rows = await Operator.select(Operator.username, Operator.active, Operator.last_login).order_by(Operator.username)
    return [OperatorView(**row) for row in rows]


async def delete_operator(username: str) -> None:
    """Delete the operator and end their sessions at once."""
    operator = await Operator.select(Operator.id).where(Operator.username == username).first()
    if operator is None:
        raise NotFound(f"operator {username!r} does not exist")
    async with write_transaction():
        await OperatorSession.delete().where(OperatorSession.user_id == operator["id"])
        await Operator.delete().where(Operator.id == operator["id"])
