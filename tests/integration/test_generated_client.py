"""A client generated from the served schema works (issue 11 §4a).

`openapi-python-client` generates a Python client from `/schema/openapi.json`
of a real `clarion serve`, with no warning about the schema; through that
client only, the test builds a project, an application, an event, a
notification with a template, a user with an address and an assignment that
subscribes to the notification, and a narrowed API key; with that key it
triggers the event and reads the occurrence until its delivery is delivered
to a real SMTP server. Every answer is parsed into the client's models
(`raise_on_unexpected_status`: a status the schema does not list fails).
"""

import asyncio
import importlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from delivery_support import MailSink, delivery_config, mail_sink  # noqa: F401
from events_api_support import CATALOG
from served_clarion import clarion_server, seed_database

PACKAGE = "clarion_generated_client"
GENERATOR_CONFIG = "post_hooks: []\n"  # no formatter runs: the test checks the generator's own output

pytestmark = pytest.mark.slow


def generate_client(schema_url: str, workdir: Path) -> str:
    """Generate the client package into `workdir`; the generator's output (which must hold no warning)."""
    config = workdir / "generator.yml"
    config.write_text(GENERATOR_CONFIG)
    generator = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run(
        [str(generator), "generate", "--url", schema_url, "--meta", "none",
         "--output-path", str(workdir / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@pytest.fixture
def client_package(tmp_path: Path) -> Iterator[tuple[Path, list[ModuleType]]]:
    """Where the generated package goes; imported modules are dropped again afterwards."""
    sys.path.insert(0, str(tmp_path))
    yield tmp_path, []
    sys.path.remove(str(tmp_path))
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def _api(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


async def test_a_generated_client_drives_the_api_end_to_end(
    tmp_path: Path, database_url: str, mail_sink: MailSink, client_package: tuple[Path, list[ModuleType]]
) -> None:
    tokens = await seed_database(database_url, CATALOG)
    config = delivery_config(mail_sink.port) + '\n[logging]\nlevel = "warning"\n'
    async with clarion_server(tmp_path, database_url, config_text=config) as server:
        output = generate_client(f"{server.url}/schema/openapi.json", tmp_path)
        assert "Warning" not in output and "Cannot parse" not in output, output
        await asyncio.to_thread(_drive, server.url, tokens["acme/org-all"], mail_sink)
    assert [mail.rcpt_tos for mail in mail_sink.received] == [["ann@example.com"]]
    assert mail_sink.received[0].message["Subject"] == "Order A-1 is down"


def _drive(url: str, admin_token: str, mail_sink: MailSink) -> None:
    """Everything through the generated client (run in a thread: it is synchronous)."""
    client_module = importlib.import_module(PACKAGE)
    models = importlib.import_module(f"{PACKAGE}.models")

    def client(token: str) -> Any:
        return client_module.AuthenticatedClient(
            base_url=url, token=token, prefix="Key", raise_on_unexpected_status=True
        )

    with client(admin_token) as admin:
        project = _api("organizations.create_project").sync(
            "acme", client=admin, body=models.FlaggedIn(slug="ops", name="Ops")
        )
        assert isinstance(project, models.ProjectOut) and project.slug == "ops"
        application = _api("organizations.create_application").sync(
            "acme", "ops", client=admin, body=models.FlaggedIn(slug="pager", name="Pager")
        )
        assert isinstance(application, models.ApplicationOut)
        assert _api("organizations.read_application").sync("acme", "ops", "pager", client=admin) == application
        event = _api("events.create_event").sync(
            "acme", "ops", "pager", client=admin, body=models.EventIn(slug="down", name="Down")
        )
        assert isinstance(event, models.EventDetailOut)
        read_event = _api("events.read_event").sync("acme", "ops", "pager", "down", client=admin)
        assert isinstance(read_event, models.EventOut) and read_event.slug == "down"
        notification = _api("management.create_notification").sync(
            "acme", "ops", "pager", "down", client=admin, body=models.NotificationIn(name="page", channels=["email"])
        )
        assert isinstance(notification, models.NotificationOut)
        template = _api("management.put_event_template").sync_detailed(
            "acme", "ops", "pager", "down", "email", client=admin,
            body=models.TemplateIn(subject="Order {{ order }} is down", text="Look at {{ order }}"),
        )
        assert template.status_code == 201 and isinstance(template.parsed, models.TemplateOut)
        assert template.headers["location"] == "/api/o/acme/p/ops/a/pager/e/down/templates/email/"
        user = _api("users.create_user").sync(
            "acme", client=admin, body=models.UserCreate(username="ann", email="ann@example.com")
        )
        assert isinstance(user, models.UserOut)
        address = _api("users.create_address").sync(
            "acme", "ann", client=admin, body=models.AddressCreate(name="work", value="ann@example.com")
        )
        assert isinstance(address, models.AddressOut) and address.kind == "email"
        assignment = _api("users.create_assignment").sync(
            "acme", "ann", client=admin, body=models.AssignmentCreate(address="work", channel="email")
        )
        assert isinstance(assignment, models.AssignmentOut)
        subscription = _api("distribution_lists.subscribe").sync_detailed(
            "acme", "ops", "pager", notification.id, client=admin,
            body=models.SubscribeRequest(assignment=assignment.id),
        )
        assert subscription.status_code == 201 and isinstance(subscription.parsed, models.SubscriptionOut)
        key = _api("management.create_api_key").sync(
            "acme", client=admin,
            body=models.KeyIn(
                name="pager-bot", grants=[models.Grant("event:trigger"), models.Grant("occurrence:read")],
                project="ops", application="pager",
            ),
        )
        assert isinstance(key, models.KeyCreatedOut) and key.token.startswith("clk_")
        missing = _api("events.read_event").sync_detailed("acme", "ops", "pager", "nope", client=admin)
        assert missing.status_code == 404 and isinstance(missing.parsed, models.Problem)
        assert missing.parsed.detail == "unknown event 'nope'"

    with client(key.token) as bot:
        context = models.TriggerRequestContext.from_dict({"order": "A-1"})
        triggered = _api("events.trigger_event").sync_detailed(
            "acme", "ops", "pager", "down", client=bot, body=models.TriggerRequest(context=context)
        )
        assert triggered.status_code == 201 and isinstance(triggered.parsed, models.TriggerResponse)
        occurrence_id = triggered.parsed.occurrence
        read_occurrence = _api("occurrences.read_occurrence")
        deadline = time.monotonic() + 60
        while True:
            occurrence = read_occurrence.sync("acme", "ops", "pager", occurrence_id, client=bot)
            assert isinstance(occurrence, models.OccurrenceDetail)
            if [delivery.status for delivery in occurrence.deliveries] == ["delivered"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert occurrence.id == occurrence_id and occurrence.context.to_dict() == {"order": "A-1"}
        [delivery] = occurrence.deliveries
        assert (delivery.status, delivery.username, delivery.address, delivery.channel) == (
            "delivered", "ann", "ann@example.com", "email"
        )
        forbidden = _api("organizations.create_project").sync_detailed(
            "acme", client=bot, body=models.FlaggedIn(slug="x", name="X")
        )
        assert forbidden.status_code == 403 and forbidden.parsed.detail == "key lacks the grant admin"
