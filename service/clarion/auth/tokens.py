"""API key tokens: high-entropy, URL-safe, stored only as a SHA-256 digest."""

import hashlib
import secrets

TOKEN_PREFIX = "clk_"


def new_token() -> str:
    """A fresh token: `clk_` + 43 URL-safe characters (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
