"""`clarion demo`: the built-in demo catalog and a freshly minted demo key."""

import json
from collections.abc import Mapping
from pathlib import Path

from clarion.auth.grants import Grant
from clarion.auth.tables import ApiKey
from clarion.auth.tokens import hash_token, new_token
from clarion.catalog.services import apply_catalog
from clarion.catalog.validation import decode_catalog
from clarion.db.engine import write_transaction
from clarion.organizations.tables import Organization

DEMO_CATALOG = Path(__file__).with_name("demo.json")
DEMO_ORGANIZATION = "demo"
DEMO_KEY_NAME = "demo"
DEMO_GRANTS = (
    Grant.SYSTEM_PING,
    Grant.ORGANIZATION_READ,
    Grant.EVENT_LIST,
    Grant.EVENT_TRIGGER,
    Grant.OCCURRENCE_READ,
)


async def apply_demo(channel_kinds: Mapping[str, frozenset[str]]) -> str:
    """Apply the demo catalog and return a new demo key's token; the previous demo token stops working."""
    await apply_catalog(decode_catalog(json.loads(DEMO_CATALOG.read_bytes())), channel_kinds)
    token = new_token()
    async with write_transaction():
        organization = await Organization.select(Organization.id).where(
            Organization.slug == DEMO_ORGANIZATION
        ).first()
        assert organization is not None
        values = {
            ApiKey.token_hash: hash_token(token),
            ApiKey.grants: json.dumps(sorted(grant.value for grant in DEMO_GRANTS)),
            ApiKey.active: True,
            ApiKey.expires_at: None,
        }
        existing = await ApiKey.select(ApiKey.id).where(
            (ApiKey.organization == organization["id"]) & (ApiKey.name == DEMO_KEY_NAME)
        ).first()
        if existing is None:
            await ApiKey.insert(
                ApiKey(organization=organization["id"], name=DEMO_KEY_NAME, **{c._meta.name: v for c, v in values.items()})
            )
        else:
            await ApiKey.update(values).where(ApiKey.id == existing["id"])
    return token


def demo_instructions(token: str, base_url: str) -> str:
    event_url = f"{base_url}/api/o/demo/p/web/a/shop/e/order-paid"
    return f"""Demo key (shown once): {token}

Trigger the demo event:
  curl -sS -X POST {event_url}/trigger/ \\
    -H 'Authorization: Key {token}' -H 'Content-Type: application/json' \\
    -d '{{"context": {{"order_id": "A-1001"}}}}'

List the events:
  curl -sS {base_url}/api/o/demo/p/web/a/shop/e/ -H 'Authorization: Key {token}'

Check the key against the service:
  curl -sS {base_url}/api/system/ping/ -H 'Authorization: Key {token}'"""
