"""The operator's console in a real browser (chromium) against a real `clarion serve`.

An operator logs in, creates an event, locks it (its trigger is refused within a
second), mints a key and triggers with it, opens the occurrence and its
deliveries, and is refused an invalid template with the API's message.
Screenshots land in var/screenshots/.
"""

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By

from browser_support import WAIT_S, Console, browser  # noqa: F401  (the fixture)
from clarion.database import running_engine
from clarion.events.tables import Event
from clarion.settings import DatabaseSettings
from clarion_test_support import clarion_command
from console_support import OPERATOR, PASSWORD
from delivery_support import catalog, delivery_config, event, mail_sink, member, user, wait_until  # noqa: F401
from served_clarion import Server, clarion_server, seed_database

pytestmark = pytest.mark.slow

SHOP = "/api/o/acme/p/web/a/shop"
CACHE_BOUND_S = 1.05  # a locked event is refused within one second (the event cache's bound)


@pytest.fixture
async def served(tmp_path: Path, database_url: str, mail_sink) -> AsyncIterator[tuple[Server, str]]:  # type: ignore[no-untyped-def]
    """`clarion serve` with the console on, a catalog (one user on the "ops" list), an operator; and the key "all"."""
    tokens = await seed_database(database_url, catalog([user("ann")], [member("ann")], [event("order-paid")]))
    config = delivery_config(mail_sink.port, extra='\n[admin]\nenabled = true\n\n[logging]\nlevel = "warning"\n')
    env = {**os.environ, "CLARION_DATABASE_URL": database_url}
    (tmp_path / "clarion-cli.toml").write_text(config)
    created = subprocess.run(
        clarion_command("--config", str(tmp_path / "clarion-cli.toml"), "admin", "create-user", OPERATOR, "--password-stdin"),
        input=f"{PASSWORD}\n", env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert created.returncode == 0, created.stderr
    async with clarion_server(tmp_path, database_url, config_text=config) as server:
        yield server, tokens["acme/all"]


async def _event_id(database_url: str, slug: str) -> int:
    async with running_engine(DatabaseSettings(url=database_url)):
        row = await Event.select(Event.id).where(Event.slug == slug).first()
    assert row is not None, slug
    return int(row["id"])


async def _delivered(client: httpx.AsyncClient, occurrence: str) -> bool:
    return (await _occurrence(client, occurrence))["status"] == "completed"


async def _occurrence(client: httpx.AsyncClient, occurrence: str) -> dict[str, Any]:
    return (await client.get(f"{SHOP}/occurrences/{occurrence}/")).json()  # type: ignore[no-any-return]


async def test_an_operators_day_in_the_console(served, browser, database_url: str, mail_sink) -> None:  # type: ignore[no-untyped-def]
    server, token = served
    console = Console(browser, server.url)
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Key {token}"}, timeout=30) as api:
        await asyncio.to_thread(console.login, OPERATOR, PASSWORD)

        # Create an event.
        def create_event() -> None:
            console.open("event/add/")
            console.pick("application", "shop")
            console.fill("slug", "invoice-sent")
            console.fill("name", "Invoice sent")
            console.click("create_button")
            console.wait_for_text("Successfully added row")

        await asyncio.to_thread(create_event)
        assert (await api.post(f"{SHOP}/e/invoice-sent/trigger/", json={"context": {}})).status_code == 201

        # Lock it: its trigger is refused within a second.
        event_id = await _event_id(database_url, "invoice-sent")

        def lock_event() -> None:
            console.open(f"event/{event_id}/")
            console.wait(lambda b: console.element('input[name="slug"]').get_property("value") == "invoice-sent", "the event")
            console.choose("locked", "True")
            console.click("save_button")
            console.wait_for_text("Successfully saved row")

        await asyncio.to_thread(lock_event)
        await asyncio.sleep(CACHE_BOUND_S)
        refused = await api.post(f"{SHOP}/e/invoice-sent/trigger/", json={"context": {}})
        assert refused.status_code == 400
        assert refused.json()["detail"] == "event 'invoice-sent' is locked: it cannot be triggered"

        # Mint a key in its form and trigger with it.
        def mint_key() -> str:
            console.open("forms/mint-an-api-key/")
            console.fill("organization", "acme")
            console.fill("name", "from-the-console")
            console.fill("grants", "event:trigger occurrence:read")
            console.click("submit_custom_form_button")
            message = console.element("#success_message").text
            console.screenshot("console-mint-key")
            return message.rsplit(" ", 1)[1]

        minted = await asyncio.to_thread(mint_key)
        triggered = await api.post(
            f"{SHOP}/e/order-paid/trigger/", json={"context": {"order_id": "A-1"}},
            headers={"Authorization": f"Key {minted}"},
        )
        assert triggered.status_code == 201, triggered.text
        occurrence = triggered.json()["occurrence"]
        await wait_until(
            lambda: _delivered(api, occurrence), timeout=WAIT_S, what=f"occurrence {occurrence} delivered"
        )
        deliveries = (await _occurrence(api, occurrence))["deliveries"]
        assert [(d["address"], d["status"]) for d in deliveries] == [("ann@example.com", "delivered")]

        # Open the occurrence, then its deliveries.
        def open_occurrence() -> str:
            console.open(f"occurrence/{occurrence}/")
            console.wait(
                lambda b: console.element('[name="status"]').get_property("value") == "completed", "the occurrence"
            )
            console.screenshot("console-occurrence")
            console.browser.find_element(By.PARTIAL_LINK_TEXT, "Show referencing tables").click()
            console.browser.find_element(By.PARTIAL_LINK_TEXT, "Delivery").click()
            console.wait_for_text("ann@example.com")
            console.screenshot("console-deliveries")
            return console.text()

        listing = await asyncio.to_thread(open_occurrence)
        assert deliveries[0]["id"] in listing

        # The dashboard, from the sidebar's link: the delivery is counted, by status and by channel.
        def open_dashboard() -> str:
            console.open("")
            console.browser.find_element(By.LINK_TEXT, "Dashboard").click()
            console.wait_for_text("Deliveries per channel")
            console.screenshot("console-dashboard")
            return console.text()

        dashboard = await asyncio.to_thread(open_dashboard)
        assert "last 24 hours (1)" in dashboard and "delivered" in dashboard and "email" in dashboard

        # An invalid template is refused with the API's message.
        broken = "Order {{ order_id "
        through_api = await api.put(f"{SHOP}/e/order-paid/templates/webhook/", json={"subject": broken})
        assert through_api.status_code == 400

        def add_broken_template() -> str:
            console.open("template/add/")
            console.pick("event", "order-paid")
            console.fill("channel", "webhook")
            console.fill("subject", broken)
            console.click("create_button")
            console.wait_for_text(through_api.json()["detail"])
            console.screenshot("console-template-refused")
            return console.text()

        await asyncio.to_thread(add_broken_template)
