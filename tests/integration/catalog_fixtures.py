"""Catalog documents shared by the catalog and CLI tests."""

import copy
from typing import Any

SPEC_CATALOG: dict[str, Any] = {
    "organizations": [
        {
            "slug": "acme",
            "name": "Acme",
            "users": [
                {
                    "username": "alice",
                    "email": "alice@example.com",
                    "addresses": [
                        {"name": "email", "value": "alice@example.com"},
                        {"name": "hook", "value": "http://127.0.0.1:9000/in"},
                    ],
                }
            ],
            "projects": [
                {
                    "slug": "web",
                    "name": "Web",
                    "distribution_lists": [
                        {
                            "name": "ops",
                            "members": [
                                {"user": "alice", "address": "email", "channel": "email"},
                                {"user": "alice", "address": "hook", "channel": "webhook"},
                            ],
                        }
                    ],
                    "applications": [
                        {
                            "slug": "shop",
                            "name": "Shop",
                            "events": [
                                {
                                    "slug": "order-paid",
                                    "name": "Order paid",
                                    "notifications": [
                                        {
                                            "name": "tell ops",
                                            "distribution_list": "ops",
                                            "templates": {
                                                "email": {
                                                    "subject": "Order {{ order_id }} paid",
                                                    "text": "Hi {{ recipient.first_name }}, order {{ order_id }} was paid.",
                                                }
                                            },
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ],
            "api_keys": [
                {
                    "name": "shop-backend",
                    "project": "web",
                    "application": "shop",
                    "grants": ["event:list", "event:trigger", "occurrence:read"],
                }
            ],
        }
    ]
}

EVERY_FIELD_CATALOG: dict[str, Any] = {
    "organizations": [
        {
            "slug": "globex",
            "name": "Globex",
            "users": [
                {
                    "username": "hank",
                    "email": "hank@globex.example",
                    "first_name": "Hank",
                    "last_name": "Scorpio",
                    "locked": True,
                    "custom_fields": {"tier": "gold", "tags": ["a", "b"]},
                    "addresses": [
                        {"name": "work", "value": "hank@globex.example"},
                        {"name": "hook", "value": "https://hooks.globex.example/in"},
                        {"name": "mobile", "value": "+15551234567"},
                    ],
                    "assignments": [
                        {"address": "hook", "channel": "webhook", "secret": "whsec_aGFuay1zaWducy1oaXMtd2ViaG9va3Mtd2l0aC1pdCE=", "active": False}
                    ],
                }
            ],
            "projects": [
                {
                    "slug": "volcano",
                    "name": "Volcano",
                    "active": False,
                    "locked": True,
                    "paused": True,
                    "distribution_lists": [
                        {
                            "name": "pinned",
                            "application": "lair",
                            "members": [{"user": "hank", "address": "work", "channel": "email"}],
                        }
                    ],
                    "applications": [
                        {
                            "slug": "lair",
                            "name": "Lair",
                            "active": False,
                            "locked": True,
                            "paused": True,
                            "events": [
                                {
                                    "slug": "breach",
                                    "name": "Breach",
                                    "description": "Someone got in.",
                                    "active": False,
                                    "locked": True,
                                    "paused": True,
                                    "templates": {"email": {"subject": "S", "text": "T", "html": "<p>H</p>"}},
                                    "notifications": [
                                        {
                                            "name": "alarm",
                                            "distribution_list": "pinned",
                                            "channels": ["email", "webhook"],
                                            "environments": ["production", "staging"],
                                            "active": False,
                                            "filter": {"severity": "high"},
                                            "templates": {"webhook": {"text": "{\"x\": 1}"}},
                                            "subscribers": [{"user": "hank", "address": "hook", "channel": "webhook"}],
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ],
            "api_keys": [
                {"name": "org-wide", "grants": ["full_access"], "expires_at": "2030-01-01T00:00:00Z", "active": False},
                {"name": "project-wide", "project": "volcano", "grants": ["event:list"]},
            ],
        }
    ]
}


def catalog_copy(catalog: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(catalog)
