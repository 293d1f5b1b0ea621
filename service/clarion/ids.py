"""Sortable unique ids (ULIDs): 48-bit millisecond time + 80 random bits, Crockford base32."""

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def new_id() -> str:
    """A 26-character ULID, monotonic within this process."""
    global _last_ms, _last_random
    with _lock:
        now = time.time_ns() // 1_000_000
        if now <= _last_ms:
            now = _last_ms
            _last_random = (_last_random + 1) & ((1 << 80) - 1)
        else:
            _last_random = int.from_bytes(os.urandom(10), "big")
        _last_ms = now
        value = (now << 80) | _last_random
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
