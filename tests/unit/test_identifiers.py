import pytest

from clarion.auth.tokens import hash_token, new_token
from clarion.ids import new_id
from clarion.channels.addresses import address_kind

pytestmark = pytest.mark.no_db


def test_ids_are_unique_sortable_and_26_chars() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == 26 for i in ids)


def test_tokens_are_url_safe_high_entropy_and_hashed() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert all(c.isalnum() or c in "-_" for c in token)
        assert len(token) >= 40
        assert hash_token(token) != token and len(hash_token(token)) == 64


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("alice@example.com", "email"),
        ("a.b+tag@sub.example.org", "email"),
        ("not an email@x", "other"),
        ("https://hooks.example.com/in", "url"),
        ("http://127.0.0.1:9000/in", "url"),
        ("ftp://example.com/x", "other"),
        ("+393331234567", "phone"),
        ("3331234567", "other"),
        ("+0123", "other"),
        ("hello", "other"),
    ],
)
def test_address_kind(value: str, kind: str) -> None:
    assert address_kind(value) == kind
