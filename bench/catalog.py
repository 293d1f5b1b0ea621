"""The catalog every benchmark applies (`clarion apply`): one application, one event per workload.

| event | recipients | used by |
|---|---|---|
| `order-paid` | 1 email + 1 webhook | trigger throughput (dispatcher on), trigger-to-receipt latency |
| `mail-burst` | 10 email | email delivery throughput |
| `hook-burst` | 10 webhook | webhook delivery throughput, scale-out |
| `backlog` | 1 webhook | memory while a 100,000-occurrence backlog drains |

The email subject carries the occurrence id and, when the trigger sends one,
`sent_us` (the client's send time), so the SMTP sink can tell latency without a
join; the webhook body is the standard payload, whose `data` is the context.
"""

from typing import Any

RECIPIENTS = 10
EMAIL_TEMPLATE = {
    "subject": "{{ occurrence.id }} {{ sent_us }}",
    "text": "Hi {{ recipient.first_name }}, order {{ order_id }} of {{ amount }} was paid "
            "({{ customer.tier|upper }}, {{ event.name }}).",
    "html": "<p>Hi {{ recipient.first_name }}, order <b>{{ order_id }}</b> of {{ amount }} was paid.</p>",
}
EVENT_RECIPIENTS = {"order-paid": 2, "mail-burst": RECIPIENTS, "hook-burst": RECIPIENTS, "backlog": 1}


def bench_catalog(webhook_port: int) -> dict[str, Any]:
    users = [
        {"username": f"u{n}", "email": f"u{n}@example.com", "first_name": f"User{n}",
         "addresses": [{"name": "email", "value": f"u{n}@example.com"},
                       {"name": "hook", "value": f"http://127.0.0.1:{webhook_port}/hooks/u{n}"}]}
        for n in range(RECIPIENTS)
    ]

    def member(n: int, channel: str) -> dict[str, str]:
        return {"user": f"u{n}", "address": "email" if channel == "email" else "hook", "channel": channel}

    lists = [
        {"name": "pair", "members": [member(0, "email"), member(0, "webhook")]},
        {"name": "mailers", "members": [member(n, "email") for n in range(RECIPIENTS)]},
        {"name": "hooks", "members": [member(n, "webhook") for n in range(RECIPIENTS)]},
        {"name": "one-hook", "members": [member(0, "webhook")]},
    ]

    def event(slug: str, distribution_list: str) -> dict[str, Any]:
        return {"slug": slug, "name": slug.replace("-", " ").capitalize(),
                "templates": {"email": EMAIL_TEMPLATE},
                "notifications": [{"name": f"{slug} to {distribution_list}", "distribution_list": distribution_list}]}

    return {"organizations": [{
        "slug": "bench", "name": "Bench",
        "users": users,
        "projects": [{
            "slug": "web", "name": "Web",
            "distribution_lists": lists,
            "applications": [{"slug": "shop", "name": "Shop", "events": [
                event("order-paid", "pair"), event("mail-burst", "mailers"),
                event("hook-burst", "hooks"), event("backlog", "one-hook"),
            ]}],
        }],
        "api_keys": [{"name": "bench", "project": "web", "application": "shop", "grants": ["event:trigger"]}],
    }]}
