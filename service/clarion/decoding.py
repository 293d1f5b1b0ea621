"""Decoding request bodies into their Structs: the one JSON body decoder of the service.

Besides the type, `decode_body` refuses what no field may hold — nesting deeper
than `MAX_JSON_DEPTH` and NUL characters (PostgreSQL text cannot store them) —
with a 400 naming the field. The HTTP edge calls it after the path's lookups
(`clarion.http.body.decoded`), so a 404 comes before a 400.
"""

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from clarion_plugins.manager import name_validation_error
from msgspec import UNSET

from clarion.errors import BadRequest

T = TypeVar("T")

# Deeper bodies are refused before anything walks them (msgspec itself gives up near 1000 levels).
MAX_JSON_DEPTH = 64
TOO_DEEP = f"body: nested deeper than {MAX_JSON_DEPTH} levels"
_NUL_ESCAPE = b"\\u0000"  # the only way a NUL can appear in valid JSON (a raw NUL byte is malformed)


def decode_body(
    body: bytes,
    kind: type[T],
    *,
    empty: T | None = None,
    unknown_field: Callable[[str], str] = lambda field: "unknown field",
) -> T:
    """`body` decoded as `kind` (`empty`, when given, for a blank body); 400 whose detail starts with the field.

    `unknown_field(field)` words the complaint about a field `kind` does not have.
    """
    if empty is not None and not body.strip():
        return empty
    if _NUL_ESCAPE in body or body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
        _refuse_unstorable(body)
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise BadRequest(_field_error(str(exc), unknown_field)) from None
    except msgspec.DecodeError:
        raise BadRequest("body: not valid JSON") from None


def _field_error(message: str, unknown_field: Callable[[str], str]) -> str:
    detail = name_validation_error(message).replace(" | null", "")
    field, sep, text = detail.partition(": ")
    if not sep:
        return f"body: {detail}"
    return f"{field}: {unknown_field(field) if text == 'unknown key' else text}"


def _refuse_unstorable(body: bytes) -> None:
    """400 for a body nested deeper than `MAX_JSON_DEPTH` or holding a NUL (in a key or a string)."""
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise BadRequest("body: not valid JSON") from None
    except RecursionError:
        raise BadRequest(TOO_DEEP) from None
    containers: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while containers:
        container, depth = containers.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(TOO_DEEP)
        children = container.values() if isinstance(container, dict) else container
        containers.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    if _NUL_ESCAPE in body:
        _refuse_nul(value, "")


def _refuse_nul(value: Any, path: str) -> None:
    """400 naming the first string or key under `value` (at `path`) that holds a NUL (depth is bounded by now)."""
    if isinstance(value, str):
        if "\0" in value:
            raise BadRequest(f"{path or 'body'}: contains a NUL character (\\u0000)")
    elif isinstance(value, dict):
        for key, child in value.items():
            if "\0" in key:
                raise BadRequest(f"{path or 'body'}: a key contains a NUL character (\\u0000)")
            _refuse_nul(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _refuse_nul(child, f"{path}[{index}]")


def decode_fields(body: bytes, kind: type[T]) -> T:
    """`body` as a `kind`, an empty body meaning `{}` (every field at its default); 400 naming the field."""
    return decode_body(body.strip() or b"{}", kind)


def changed_fields(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body gave (UNSET ones are left alone)."""
    return {name: value for name in patch.__struct_fields__ if (value := getattr(patch, name)) is not UNSET}
