"""The console's forms for daily work: trigger an event, preview its messages, mint an API key.

Each form calls the service the API calls, with the same body, so it accepts and
refuses exactly what the API does, with the API's message. The console acts for
the whole organization named in the form, with every grant (an operator is not a
key: nothing is recorded against a key, and the console's trigger takes no
`Idempotency-Key`).
"""

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import msgspec
from piccolo_admin.endpoints import FormConfig
from pydantic import BaseModel, Field
from starlette.requests import Request

from clarion.auth.grants import ALL_GRANTS
from clarion.auth.keys import KeyIn, create_key
from clarion.auth.services import ApiPrincipal
from clarion.decoding import decode_body
from clarion.errors import ClarionError
from clarion.events.directory import EventDirectory
from clarion.events.services import EventPath
from clarion.occurrences.services import preview_trigger
from clarion.occurrences.trigger import decode_trigger_request, trigger_event
from clarion.organizations.services import TenantDirectory
from clarion.organizations.tables import Organization
from clarion.process import Runtime

EVENT_PATH_HELP = "organization/project/application/event, as in the API's path, e.g. acme/web/shop/order-paid"


class TriggerForm(BaseModel):
    event: str = Field(description=EVENT_PATH_HELP)
    context: str = Field(default="{}", description="the trigger's context: a JSON object")
    correlation_id: str | None = Field(default=None, description="optional, at most 255 characters")


class MintKeyForm(BaseModel):
    organization: str = Field(description="the organization's slug")
    name: str = Field(description="unique within the organization")
    grants: str = Field(description="space- or comma-separated, e.g. event:trigger occurrence:read")
    project: str | None = Field(default=None, description="narrow the key to this project (slug)")
    application: str | None = Field(default=None, description="and to this application of it (slug)")
    expires_at: datetime | None = None


def console_forms(runtime: Callable[[], Runtime]) -> list[FormConfig]:
    events = EventDirectory(TenantDirectory())

    async def trigger(request: Request, form: TriggerForm) -> str:
        path, body = _event_path(form.event), _trigger_body(form.context)

        async def run() -> Any:
            return await trigger_event(
                events, _operator_principal(0, path.org), path, decode_trigger_request(body),
                channels=runtime().channels, work=runtime().work, settings=runtime().settings,
                cid=form.correlation_id, idempotency_key=None,
            )

        outcome = await _as_form_error(run())
        occurrence = msgspec.json.decode(outcome.body)["occurrence"]
        return (
            f"Occurrence {occurrence} accepted: #/occurrence/{occurrence}/ shows it, and its deliveries under"
            " 'Show referencing tables'."
        )

    async def preview(request: Request, form: TriggerForm) -> str:
        path, body = _event_path(form.event), _trigger_body(form.context)

        async def run() -> Any:
            event = await events.event(path.org, path.prj, path.app, path.evt)
            return await preview_trigger(
                event, decode_trigger_request(body), form.correlation_id,
                channels=runtime().channels, renderer=runtime().renderer,
            )

        result = await _as_form_error(run())
        lines = [f"{result.recipients} message(s) for {result.event}" + (" (paused: held)" if result.paused else "")]
        for message in result.messages:
            lines.append(
                f"• {message.channel} to {message.address} ({message.username}): {message.status}"
                + (f" [{message.reason}]" if message.reason else "")
                + (f" — subject {message.subject!r}" if message.subject else "")
                + (f" — text {message.text!r}" if message.text else "")
            )
        return "\n".join(lines)

    async def mint(request: Request, form: MintKeyForm) -> str:
        organization = await Organization.select(Organization.id).where(Organization.slug == form.organization).first()
        if organization is None:
            raise ValueError(f"organization: unknown organization {form.organization!r}")
        body = {
            "name": form.name,
            "grants": [grant for grant in form.grants.replace(",", " ").split() if grant],
            "project": form.project or None,
            "application": form.application or None,
            "expires_at": form.expires_at.isoformat() if form.expires_at else None,
        }
        principal = _operator_principal(organization["id"], form.organization)

        async def run() -> Any:
            return await create_key(principal, decode_body(msgspec.json.encode(body), KeyIn))

        key = await _as_form_error(run())
        return f"Key {key.name!r} minted. Its token, shown this once: {key.token}"

    return [
        FormConfig(name="Trigger an event", pydantic_model=TriggerForm, endpoint=trigger,
                   description="Trigger an event as the API does; the occurrence's id leads to its deliveries."),
        FormConfig(name="Preview an event", pydantic_model=TriggerForm, endpoint=preview,
                   description="Who would receive what if the event were triggered now; nothing is stored or sent."),
        FormConfig(name="Mint an API key", pydantic_model=MintKeyForm, endpoint=mint,
                   description="A new key of the organization; its token is shown once. Revoke: API Key → active."),
    ]


def _event_path(text: str) -> EventPath:
    parts = text.strip().strip("/").split("/")
    if len(parts) != 4 or not all(parts):
        raise ValueError(f"event: expected {EVENT_PATH_HELP}")
    return EventPath(*parts)


def _trigger_body(context: str) -> bytes:
    try:
        value = json.loads(context or "{}")
    except ValueError:
        raise ValueError("context: not valid JSON") from None
    return msgspec.json.encode({"context": value})


def _operator_principal(organization_id: int, organization: str) -> ApiPrincipal:
    """The console acting for `organization` with every grant (no key: id 0 matches none)."""
    return ApiPrincipal(
        key_id=0, name="console", organization_id=organization_id, organization=organization,
        project_id=None, project=None, application_id=None, application=None, grants=ALL_GRANTS,
    )


async def _as_form_error(work: Awaitable[Any]) -> Any:
    """`work`'s result; the API's refusal becomes the form's error message (Piccolo Admin shows a ValueError)."""
    try:
        return await work
    except ClarionError as exc:
        raise ValueError(exc.detail) from None
