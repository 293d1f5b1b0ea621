"""The `apprise` address kind and channel in the running app: created over the API, by `register` and by
the catalog, checked there, redacted wherever shown, and delivered through the dispatcher for real."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from delivery_support import (  # noqa: F401  (fixtures)
    APP_PATH,
    ORG,
    Bed,
    HookSink,
    MailSink,
    bed,
    catalog,
    delivery_config,
    event,
    hook_sink,
    mail_sink,
    notification,
    user,
)
from events_api_support import CHANNEL_KINDS

from clarion.catalog.services import apply_catalog
from clarion.catalog.validation import CatalogError, decode_catalog

SECRET = "hunter2-not-for-your-eyes"
USERS = f"/api/o/{ORG}/u"
CHAT_TEMPLATE = {"subject": "Order {{ order_id }} paid", "text": "Hi {{ recipient.first_name }}, order {{ order_id }}."}


@pytest.fixture
def bed_config(mail_sink: MailSink) -> str:
    return delivery_config(
        mail_sink.port,
        extra="""
[channels.chat]
type = "apprise"
enabled = true
max_concurrency = 4
[channels.chat.options]
allow_private_targets = true
timeout_s = 5
""",
    )


async def apply(bed: Bed, document: dict[str, Any]) -> None:
    kinds = CHANNEL_KINDS | {"chat": frozenset({"apprise"})}
    created = (await apply_catalog(decode_catalog(document), kinds, address_kinds=bed.runtime.channels.address_kinds)).api_keys
    bed.tokens.update({name.split("/", 1)[1]: token for name, token in created.items()})


@pytest.fixture
async def chat_bed(bed: Bed) -> Bed:
    """Alice with an e-mail address only, and the event "order-paid" telling the list "ops" on `chat`."""
    await apply(bed, catalog([user("alice")], [], [event(notifications=[notification(templates={"chat": CHAT_TEMPLATE})])]))
    return bed


def watch_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Clarion's and Apprise's logs at every level, the rest at info (the database driver's debug
    lines echo query parameters, values included)."""
    caplog.set_level(logging.INFO)
    for name in ("clarion", "clarion_channels", "apprise"):
        caplog.set_level(logging.DEBUG, logger=name)


async def post(bed: Bed, path: str, body: Any) -> Any:
    response = await bed.client.post(path, json=body, headers=bed.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def test_an_apprise_address_is_created_shown_redacted_and_delivered_to(
    chat_bed: Bed, hook_sink: HookSink, caplog: pytest.LogCaptureFixture
) -> None:
    bed = chat_bed
    watch_logs(caplog)
    value = f"json://bot:{SECRET}@127.0.0.1:{hook_sink.port}/alice"
    shown = f"json://bot:****@127.0.0.1:{hook_sink.port}/alice"

    created = await post(bed, f"{USERS}/alice/address/", {"name": "chat", "value": value})
    assert (created["kind"], created["value"]) == ("apprise", shown)
    listed = (await bed.client.get(f"{USERS}/alice/address/", headers=bed.headers)).json()
    assert {row["name"]: row["value"] for row in listed}["chat"] == shown
    assignment = await post(bed, f"{USERS}/alice/assignments/", {"address": "chat", "channel": "chat"})
    assert (assignment["value"], assignment["kind"]) == (shown, "apprise")
    lists = (await bed.client.get(f"/api/o/{ORG}/p/web/d/", headers=bed.headers)).json()
    ops = next(row["id"] for row in lists if row["name"] == "ops")
    added = await post(bed, f"/api/o/{ORG}/p/web/d/{ops}/add/", [value])
    assert [member["address"] for member in added["added"]] == [shown]
    members = (await bed.client.get(f"/api/o/{ORG}/p/web/d/{ops}/m/", headers=bed.headers)).json()
    assert [member["address"] for member in members] == [shown]
    preview = await post(bed, f"{APP_PATH}/e/order-paid/preview/", {"context": {"order_id": "A-1"}})
    assert [message["address"] for message in preview["messages"]] == [shown]

    occurrence = await bed.trigger(body={"context": {"order_id": "A-1"}})
    _, deliveries = await bed.settled(occurrence)
    assert [row["status"] for row in deliveries] == ["delivered"], deliveries
    (received,) = await hook_sink.wait_for(1)
    assert received.path == "/alice"
    payload = json.loads(received.body)
    assert (payload["title"], payload["message"]) == ("Order A-1 paid", "Hi Alice, order A-1.")

    detail = (await bed.client.get(f"{APP_PATH}/occurrences/{occurrence}/", headers=bed.headers)).json()
    assert [delivery["address"] for delivery in detail["deliveries"]] == [shown]
    assert not [record.getMessage() for record in caplog.records if SECRET in record.getMessage()]


async def test_a_refused_apprise_delivery_is_retried_and_its_error_shows_no_secret(
    chat_bed: Bed, hook_sink: HookSink, caplog: pytest.LogCaptureFixture
) -> None:
    bed = chat_bed
    watch_logs(caplog)
    hook_sink.script["/down"] = [(503, {})]
    value = f"json://bot:{SECRET}@127.0.0.1:{hook_sink.port}/down"
    await post(bed, f"{USERS}/alice/address/", {"name": "chat", "value": value})
    await post(bed, f"{USERS}/alice/assignments/", {"address": "chat", "channel": "chat"})
    lists = (await bed.client.get(f"/api/o/{ORG}/p/web/d/", headers=bed.headers)).json()
    await post(bed, f"/api/o/{ORG}/p/web/d/{next(r['id'] for r in lists if r['name'] == 'ops')}/add/", [value])

    occurrence = await bed.trigger(body={"context": {"order_id": "A-2"}})
    _, (delivery,) = await bed.settled(occurrence, timeout=30)
    assert delivery["status"] == "failed" and delivery["attempts"] == bed.settings.dispatch.max_attempts
    assert "error=503" in delivery["last_error"] and SECRET not in delivery["last_error"]
    assert len(hook_sink.at("/down")) == bed.settings.dispatch.max_attempts
    detail = (await bed.client.get(f"{APP_PATH}/occurrences/{occurrence}/", headers=bed.headers)).json()
    assert SECRET not in json.dumps(detail)
    assert not [record.getMessage() for record in caplog.records if SECRET in record.getMessage()]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": "chat", "value": "tgarm://123456789:abc/42"}, "value: unknown Apprise scheme 'tgarm' (did you mean tgram"),
        ({"name": "chat", "value": "tgram://x", "kind": "apprise"}, "value: not a valid Telegram URL"),
        ({"name": "chat", "value": "not a url", "kind": "apprise"}, "value: not an Apprise URL"),
        ({"name": "chat", "value": "tgram://1/2", "kind": "fax"}, "kind: unknown address kind 'fax' (known: apprise, email, other, phone, url)"),
    ],
)
async def test_an_invalid_apprise_address_is_a_400_naming_the_field(chat_bed: Bed, body: dict[str, Any], detail: str) -> None:
    response = await chat_bed.client.post(f"{USERS}/alice/address/", json=body, headers=chat_bed.headers)
    assert response.status_code == 400 and response.json()["detail"].startswith(detail), response.text
    listed = (await chat_bed.client.get(f"{USERS}/alice/address/", headers=chat_bed.headers)).json()
    assert [row["name"] for row in listed] == ["email"]


async def test_values_no_kind_claims_stay_other(chat_bed: Bed) -> None:
    created = await post(chat_bed, f"{USERS}/alice/address/", {"name": "sip", "value": "sip://alice@pbx.example.com"})
    assert (created["kind"], created["value"]) == ("other", "sip://alice@pbx.example.com")


async def test_register_checks_redacts_and_assigns_apprise_addresses(chat_bed: Bed, hook_sink: HookSink) -> None:
    bed = chat_bed
    value = f"ntfy://alice:{SECRET}@ntfy.example.com/orders"
    bad = {"username": "carol", "addresses": [{"value": "ntfy://ok.example.com/t"}, {"value": "tgram://x", "kind": "apprise"}]}
    refused = await bed.client.post(f"{APP_PATH}/register/", json=bad, headers=bed.headers)
    assert refused.status_code == 400, refused.text
    assert refused.json()["detail"].startswith("addresses[1].value: not a valid Telegram URL")
    assert (await bed.client.get(f"{USERS}/carol/", headers=bed.headers)).status_code == 404

    body = {"username": "carol", "addresses": [{"value": value, "assign_to_preferred_channel": True}], "distribution_list": "chat-fans"}
    registered = await post(bed, f"{APP_PATH}/register/", body)
    (address,) = registered["addresses"]
    shown = "ntfy://alice:****@ntfy.example.com/orders"
    assert (address["kind"], address["value"], address["name"]) == ("apprise", shown, shown)
    assert [(a["channel"], a["value"]) for a in registered["assignments"]] == [("chat", shown)]
    assert SECRET not in json.dumps(registered)


async def test_the_catalog_checks_and_derives_apprise_addresses(chat_bed: Bed) -> None:
    bad_user = user("dave") | {"addresses": [{"name": "chat", "value": "tgarm://123:abc/1"}]}
    with pytest.raises(CatalogError) as refused:
        await apply(chat_bed, catalog([bad_user], [], [event()]))
    assert str(refused.value.detail).startswith(
        "organizations[0].users[0].addresses[0].value: unknown Apprise scheme 'tgarm'"
    )

    value = "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js"
    dave = user("dave") | {"addresses": [{"name": "email", "value": "dave@example.com"}, {"name": "chat", "value": value}]}
    await apply(chat_bed, catalog([dave], [{"user": "dave", "address": "chat", "channel": "chat"}], [event()]))
    (chat,) = [row for row in (await chat_bed.client.get(f"{USERS}/dave/address/", headers=chat_bed.headers)).json() if row["name"] == "chat"]
    assert chat["kind"] == "apprise" and "JHMHI8qBe7bk2ZwO5U711o3dV_js" not in chat["value"]

    mismatch = user("erin") | {"addresses": [{"name": "chat", "value": "erin@example.com"}]}
    with pytest.raises(CatalogError, match=r"members\[0\]\.channel: channel 'chat' cannot reach a email address \(accepts apprise\)"):
        await apply(chat_bed, catalog([mismatch], [{"user": "erin", "address": "chat", "channel": "chat"}], [event()]))
