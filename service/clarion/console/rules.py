"""The API's rules applied to the console's edits: Piccolo Admin hooks that refuse with the API's message.

Piccolo Admin saves a row it was given (`pre_save`) or the columns an edit
changed (`pre_patch`). Both hooks check the row as it would be after the write
against the API's body Struct for that table (the same msgspec decode, so the
same `field: problem` message), then the table's extra checks (a configured
channel, a template that compiles in the render sandbox). A refusal is a 400
whose `detail` the console shows.

Columns the API never changes (a slug, the parent) are refused when an edit
changes them. Timestamps the API's body does not carry (`created`, a key's
`expires_at`) and `ignored` columns (secrets the console never reads, so its
form sends them blank) are left as they are: the console's form edits
timestamps with one-second resolution, which would otherwise look like a change.
A value typed into an ignored column is refused.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from piccolo.columns import JSON, Column, Timestamptz
from piccolo.table import Table
from piccolo_api.crud.hooks import Hook, HookType
from starlette.exceptions import HTTPException

from clarion.catalog.notifications import check_channel, check_template
from clarion.decoding import decode_fields
from clarion.errors import ClarionError
from clarion.events.tables import Event
from clarion.membership.assignments import check_assignment
from clarion.notifications.schemas import TemplateIn
from clarion.process import Runtime
from clarion.users.tables import Address

ExtraCheck = Callable[[Runtime, Mapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ApiRules:
    """How the API checks `table`'s rows: its create body `shape`, the columns it never changes, extra checks."""

    table: type[Table]
    shape: type[msgspec.Struct] | None
    fixed: tuple[str, ...] = ()
    extra: tuple[ExtraCheck, ...] = field(default=())
    ignored: tuple[str, ...] = ()

    def hooks(self, runtime: Callable[[], Runtime]) -> list[Hook]:
        async def pre_save(row: Table) -> Table:
            await self.check(runtime(), {column._meta.name: getattr(row, column._meta.name) for column in self._columns})
            return row

        async def pre_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
            return await self.check_patch(runtime(), row_id, values)

        return [Hook(HookType.pre_save, pre_save), Hook(HookType.pre_patch, pre_patch)]

    @property
    def _columns(self) -> list[Column]:
        return list(self.table._meta.columns)

    @property
    def _shape_fields(self) -> tuple[str, ...]:
        return self.shape.__struct_fields__ if self.shape is not None else ()

    async def check(self, runtime: Runtime, row: Mapping[str, Any]) -> None:
        try:
            if self.shape is not None:
                fields = self.shape.__struct_fields__
                body = {name: _plain(self.table, name, row[name]) for name in fields if name in row}
                decode_fields(msgspec.json.encode(body), self.shape)
            for check in self.extra:
                await check(runtime, row)
        except ClarionError as exc:
            raise HTTPException(status_code=exc.status_code, detail=exc.detail) from None

    async def check_patch(self, runtime: Runtime, row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
        table = self.table
        current = await table.select().where(table._meta.primary_key == row_id).first()
        if current is None:
            raise HTTPException(status_code=404, detail=f"{table._meta.tablename} {row_id} does not exist")
        kept: dict[Any, Any] = {}
        for column, value in values.items():
            name = column._meta.name
            if name in self.ignored:
                if value not in (None, ""):  # the form shows secrets blank; typing one in is an attempt to write it
                    raise HTTPException(status_code=400, detail=f"{name}: cannot be changed")
                continue
            if isinstance(column, Timestamptz) and name not in self._shape_fields:
                continue
            if name in self.fixed and _same(table, name, value) != _same(table, name, current[name]):
                raise HTTPException(status_code=400, detail=f"{name}: cannot be changed")
            kept[column] = value
        await self.check(runtime, {**current, **{column._meta.name: value for column, value in kept.items()}})
        return kept


def _same(table: type[Table], name: str, value: Any) -> Any:
    """`value` in a form two writings of one value compare equal in (JSON text decoded)."""
    try:
        return _plain(table, name, value)
    except ClarionError:
        return value


def _plain(table: type[Table], name: str, value: Any) -> Any:
    """A column value as the API's JSON body would carry it (JSON columns hold encoded text)."""
    column = table._meta.get_column_by_name(name)
    if isinstance(column, JSON) and isinstance(value, str | bytes):
        try:
            return msgspec.json.decode(value)
        except msgspec.DecodeError:
            raise ClarionError(f"{name}: not valid JSON") from None
    return value


async def configured_channels(runtime: Runtime, row: Mapping[str, Any]) -> None:
    """Every channel the row names is configured (as for the API)."""
    if "channel" in row:
        check_channel(runtime.channels, row["channel"], "channel")
    channels = row.get("channels")
    for index, channel in enumerate(_plain_list(channels)):
        check_channel(runtime.channels, channel, f"channels[{index}]")


def _plain_list(value: Any) -> list[Any]:
    if isinstance(value, str | bytes):
        value = msgspec.json.decode(value)
    return list(value or ())


async def compilable_template(runtime: Runtime, row: Mapping[str, Any]) -> None:
    """Size limits and the sandboxed compile, in a render worker of the event's organization."""
    organization = (
        await Event.select(Event.application.project.organization.slug.as_alias("slug"))
        .where(Event.id == row["event"])
        .first()
    )
    if organization is None:
        raise ClarionError(f"event: unknown event {row['event']}")
    parts = TemplateIn(subject=row.get("subject"), text=row.get("text"), html=row.get("html"))
    await check_template(runtime.renderer, organization["slug"], parts)


async def reachable_address(runtime: Runtime, row: Mapping[str, Any]) -> None:
    """An assignment's channel is configured, reaches its address's kind and accepts its (webhook) secret."""
    address = await Address.select(Address.kind).where(Address.id == row["address"]).first()
    if address is None:
        raise ClarionError(f"address: unknown address {row['address']}")
    check_assignment(runtime.channels, row["channel"], address["kind"], row.get("secret") or None)
