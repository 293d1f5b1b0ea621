"""Templates end to end: lookup and fallback, the context, autoescape, no_template, render errors, bounds."""

import json

import pytest
from delivery_support import (  # noqa: F401
    Bed,
    HookSink,
    MailSink,
    bed,
    bed_config,
    by_address,
    catalog,
    delivery_config,
    event,
    hook_sink,
    mail_sink,
    member,
    notification,
    running_bed,
    user,
)


async def test_a_notification_template_wins_and_the_event_template_is_the_fallback(bed: Bed, mail_sink: MailSink) -> None:
    notifications = [
        notification("own", templates={"email": {"subject": "own {{ n }}", "text": "own body"}}),
        notification("fallback", templates={}),
    ]
    await bed.apply(catalog([user("alice")], [member("alice")], [
        event(notifications=notifications, templates={"email": {"subject": "event {{ n }}", "text": "event body"}})
    ]))
    _, deliveries = await bed.settled(await bed.trigger(body={"context": {"n": 7}}))
    assert sorted((row["subject"], row["text"], row["status"]) for row in deliveries) == [
        ("event 7", "event body", "delivered"),
        ("own 7", "own body", "delivered"),
    ]
    assert sorted(str(mail.message["Subject"]) for mail in mail_sink.received) == ["event 7", "own 7"]


async def test_templates_see_the_context_the_names_and_the_recipient(bed: Bed, mail_sink: MailSink) -> None:
    text = (
        "{{ order.id }}|{{ event.slug }}/{{ event.name }}|{{ application.slug }}|{{ project.name }}|"
        "{{ organization.slug }}|{{ occurrence.id }}|{{ occurrence.correlation_id }}|{{ occurrence.timestamp[:4] }}|"
        "{{ recipient.username }} {{ recipient.first_name }} {{ recipient.last_name }} {{ recipient.email }} "
        "{{ recipient.address }} {{ recipient.channel }}"
    )
    users = [user("alice", last_name="Liddell", email_address="a@example.com")]
    await bed.apply(catalog(users, [member("alice")], [event(notifications=[notification(templates={"email": {"subject": "s", "text": text}})])]))
    occurrence_id = await bed.trigger(body={"context": {"order": {"id": 42}}}, cid="c-9")
    occurrence, deliveries = await bed.settled(occurrence_id)
    year = str(occurrence["created"].year)
    assert deliveries[0]["text"] == (
        f"42|order-paid/Order paid|shop|Web|acme|{occurrence_id}|c-9|{year}|"
        "alice Alice Liddell a@example.com a@example.com email"
    )
    assert mail_sink.received[0].message.get_content().strip() == deliveries[0]["text"]


async def test_html_is_autoescaped_and_text_is_not(bed: Bed, mail_sink: MailSink) -> None:
    templates = {"email": {"subject": "{{ who }}", "text": "Hi {{ who }}", "html": "<p>Hi {{ who }}</p>"}}
    await bed.apply(catalog([user("alice")], [member("alice")], [event(notifications=[notification(templates=templates)])]))
    _, deliveries = await bed.settled(await bed.trigger(body={"context": {"who": "<script>x</script>"}}))
    row = deliveries[0]
    assert row["text"] == "Hi <script>x</script>"
    assert row["html"] == "<p>Hi &lt;script&gt;x&lt;/script&gt;</p>"
    message = mail_sink.received[0].message
    assert message.get_body(("html",)).get_content().strip() == row["html"]
    assert message.get_body(("plain",)).get_content().strip() == row["text"]


async def test_a_channel_that_needs_a_template_without_one_is_skipped(bed: Bed, mail_sink: MailSink, hook_sink: HookSink) -> None:
    await bed.apply(catalog([user("alice", hook=hook_sink.url("alice"))], [member("alice"), member("alice", "webhook")],
                            [event(notifications=[notification(templates={})])]))
    occurrence, deliveries = await bed.settled(await bed.trigger(body={"context": {"a": 1}}))
    rows = {row["channel"]: row for row in deliveries}
    assert (rows["email"]["status"], rows["email"]["reason"]) == ("skipped", "no_template")
    assert rows["email"]["attempts"] == 0 and not mail_sink.received
    # the webhook needs none: it sends the standard payload
    assert rows["webhook"]["status"] == "delivered"
    assert json.loads(hook_sink.received[0].body)["data"] == {"a": 1}
    assert (occurrence["status"], occurrence["recipients"]) == ("completed", 2)


async def test_a_webhook_template_is_the_body(bed: Bed, hook_sink: HookSink) -> None:
    templates = {"webhook": {"subject": "ignored", "text": '{"order": {{ order_id|tojson }}, "to": "{{ recipient.username }}"}'}}
    await bed.apply(catalog([user("alice", hook=hook_sink.url("alice"))], [member("alice", "webhook")],
                            [event(notifications=[notification(templates=templates)])]))
    _, deliveries = await bed.settled(await bed.trigger(body={"context": {"order_id": "A-1"}}))
    assert json.loads(hook_sink.received[0].body) == {"order": "A-1", "to": "alice"}
    assert hook_sink.received[0].headers["Content-Type"] == "application/json"
    assert deliveries[0]["subject"] is None  # the webhook sends no subject: not rendered


async def test_a_render_error_fails_only_its_delivery(bed: Bed, mail_sink: MailSink, hook_sink: HookSink) -> None:
    notifications = [
        notification("broken", templates={"email": {"subject": "s", "text": "{{ 1 / 0 }}"}}),
        notification("escape", templates={"email": {"subject": "s", "text": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}}),
        notification("fine"),
    ]
    await bed.apply(catalog([user("alice")], [member("alice")], [event(notifications=notifications)]))
    occurrence, deliveries = await bed.settled(await bed.trigger(body={"context": {"order_id": 5}}))
    by_text = sorted((row["status"], row["reason"], row["last_error"] or "") for row in deliveries)
    assert by_text[0] == ("delivered", None, "")
    assert by_text[1][:2] == ("failed", "render_error") and "ZeroDivisionError" in by_text[1][2]
    assert by_text[2][:2] == ("failed", "render_error") and "unsafe" in by_text[2][2]
    assert len(mail_sink.received) == 1 and "order 5" in mail_sink.received[0].message.get_content()
    assert all(row["text"] is None for row in deliveries if row["status"] == "failed")
    assert occurrence["status"] == "completed"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("x" * 300, "max_bytes"),
        ("{% for i in range(1000) %}0123456789{% endfor %}", "max_output_bytes"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "time limit"),
    ],
)
async def test_template_bounds_are_render_errors(make_settings, mail_sink: MailSink, text: str, error: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(delivery_config(mail_sink.port),
                             templates={"max_bytes": 256, "max_output_bytes": 4096, "render_timeout_s": 0.2})
    async with running_bed(settings) as bed:
        notifications = [notification("bounded", templates={"email": {"subject": "s", "text": text}}), notification("fine")]
        await bed.apply(catalog([user("alice")], [member("alice")], [event(notifications=notifications)]))
        _, deliveries = await bed.settled(await bed.trigger(body={"context": {"order_id": 1}}))
    statuses = sorted((row["status"], row["reason"]) for row in deliveries)
    assert statuses == [("delivered", None), ("failed", "render_error")]
    failed = next(row for row in deliveries if row["status"] == "failed")
    assert error in failed["last_error"]
    assert len(mail_sink.received) == 1
