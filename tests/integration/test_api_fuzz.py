"""Property: no operation of the HTTP API answers a 5xx, whatever a full-access key sends it (issue 8 §2).

The operations are enumerated from the app itself (`app.routes`, with the query and header
parameters of its OpenAPI schema), so a new route is fuzzed without touching this file. Each
gets `FUZZ_EXAMPLES` requests from hypothesis against a real `clarion serve` on the engine under
test, seeded with the membership catalog so that most requests get past the 404s: path values
that mostly exist (and sometimes are NULs, huge or negative ids, odd segments); query values;
and bodies shaped like every request Struct of the service (`clarion.schemas.Request`, read
with `msgspec.inspect`), filled with hostile values — huge ints, NULs, long and odd strings,
timestamps past year 9999, wrong types, deep nesting — plus raw junk.

Operations run read-only ones first and deleting ones last, on one database, so earlier
requests leave data behind that later ones trip over. The run is derandomized (the same
requests every run, so a failure reproduces); set `CLARION_FUZZ_SEED` to explore others and
`CLARION_FUZZ_EXAMPLES` to send more (default 60 per operation: about 25 s on SQLite, 45 s on
PostgreSQL).
"""

import asyncio
import json
import os
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgspec.inspect as mi
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from litestar.routes import HTTPRoute

from clarion.http.app import create_app
from clarion.auth.grants import ALL_GRANTS
from clarion.decoding import MAX_JSON_DEPTH
from clarion.schemas import MAX_ID, Request
from clarion.settings import parse_settings
from membership_support import MEMBERSHIP_CATALOG
from served_clarion import clarion_server, seed_database

FUZZ_EXAMPLES = int(os.environ.get("CLARION_FUZZ_EXAMPLES", "60"))
FUZZ_SEED = os.environ.get("CLARION_FUZZ_SEED")
METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}

# Values that exist in the seeded catalog, by path parameter name (others get `EVERYDAY_VALUES`).
KNOWN: dict[str, list[str]] = {
    "org": ["acme"],
    "prj": ["web", "mobile", "legacy"],
    "app": ["shop", "blog", "attic", "ios"],
    "evt": ["order-paid", "refund", "frozen", "retired", "launched"],
    "username": ["alice", "bob"],
    "channel": ["email", "webhook", "pager"],
    "path": ["openapi.json", "openapi.yaml", "swagger", "redoc"],
}
EVERYDAY_VALUES = sorted({value for values in KNOWN.values() for value in values} | ALL_GRANTS | {
    "ops", "shop-fans", "hook", "phone", "alice@example.com", "https://hooks.example.com/alice", "merge", "remove",
})


# --- hostile values ----------------------------------------------------------------------------------------------

BOUNDARY_INTS = [0, -1, 1, 2, MAX_ID, MAX_ID + 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**40]
hostile_ints = st.one_of(st.integers(min_value=1, max_value=12), st.sampled_from(BOUNDARY_INTS), st.integers())
ODD_STRINGS = [
    "", " ", "\0", "a\0b", "..", ".", "/", "%", "%00", "a/b", "\\", "'", '"', "--", "' OR 1=1 --", "{{ 7*7 }}",
    "\u202e", "\ufeff", "ü", "😀", "\r\n", "\t", "x" * 256, "y" * 5000, "-1", "1e400", "NaN", "null", "true",
]
hostile_text = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("a-_.\0 /%"), max_size=12),
    st.sampled_from(EVERYDAY_VALUES),
)
TIMESTAMPS = [
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
    "2001-01-01T00:00:00Z", "2999-01-01T00:00:00+01:00", "2030-02-30T00:00:00Z", "soon", "2030-01-01", "",
]
json_scalars = st.one_of(
    st.none(), st.booleans(), hostile_ints, st.floats(allow_nan=False, allow_infinity=False), hostile_text,
    st.sampled_from(TIMESTAMPS),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(hostile_text, children, max_size=4)
    ),
    max_leaves=12,
)


def _nested(levels: int) -> bytes:
    return ('{"context":' + '{"a":[' * levels + "]}" * levels + "}").encode()


RAW_BODIES = [
    b"", b" ", b"{", b"}", b"null", b"[]", b"{}", b"0", b'"x"', b"\xff\xfe", b'{"a":1}{', b"1e999999", b"-0",
    b'"\\ud800"', b'{"context":{"a":"\\u0000"}}', b"\x00", b"[" * 5000 + b"]" * 5000,
]
raw_bodies = st.one_of(
    st.sampled_from(RAW_BODIES),
    st.integers(min_value=MAX_JSON_DEPTH // 2 - 2, max_value=3000).map(_nested),
    st.binary(max_size=64),
)


def values_of(kind: mi.Type, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for a field of type `kind`: half valid (odd, but within its constraints), half hostile."""
    if depth > 4:
        return json_values
    valid, shaped = _valid(kind, depth), _hostile(kind, depth)
    return st.one_of(valid, valid, shaped, json_values)


def _valid(kind: mi.Type, depth: int) -> st.SearchStrategy[Any]:
    """Values msgspec accepts for `kind`, chosen for what trips storage: limits, unicode, extreme ids and dates."""
    if depth > 4:
        return st.just({}) if isinstance(kind, mi.DictType | mi.StructType) else st.none()
    if isinstance(kind, mi.StructType):
        fields = {field.encode_name: _valid(field.type, depth + 1) for field in kind.fields}
        required = {field.encode_name: fields.pop(field.encode_name) for field in kind.fields if field.required}
        return st.fixed_dictionaries(required, optional=fields)
    if isinstance(kind, mi.UnionType):
        return st.one_of([_valid(member, depth) for member in kind.types])  # (msgspec leaves UNSET out)
    if isinstance(kind, mi.StrType):
        return _valid_text(kind)
    if isinstance(kind, mi.IntType):
        low = kind.ge if kind.ge is not None else (kind.gt + 1 if kind.gt is not None else -(2**70))
        high = kind.le if kind.le is not None else (kind.lt - 1 if kind.lt is not None else 2**70)
        return st.one_of(st.integers(low, min(high, low + 12)), st.sampled_from([low, high]), st.integers(low, high))
    if isinstance(kind, mi.FloatType):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(kind, mi.BoolType):
        return st.booleans()
    if isinstance(kind, mi.DateTimeType):
        return st.sampled_from(["9999-12-31T23:59:59Z", "9999-12-31T23:59:59+14:00", "2999-01-01T00:00:00-14:00",
                                "0001-01-01T00:00:00Z", "2030-06-01T12:00:00.123456+05:30", "2030-06-01T12:00:00"])
    if isinstance(kind, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        size = min(kind.max_length if kind.max_length is not None else 3, 3)
        return st.lists(_valid(kind.item_type, depth + 1), min_size=min(kind.min_length or 0, size), max_size=size)
    if isinstance(kind, mi.DictType):
        return st.dictionaries(st.text(max_size=10), json_values, max_size=4)
    if isinstance(kind, mi.LiteralType):
        return st.sampled_from(kind.values)
    if isinstance(kind, mi.EnumType):
        return st.sampled_from([member.value for member in kind.cls])
    if isinstance(kind, mi.NoneType):
        return st.none()
    return json_values


def _valid_text(kind: mi.StrType) -> st.SearchStrategy[str]:
    low, high = kind.min_length or 0, kind.max_length

    def fits(value: str) -> bool:
        return low <= len(value) <= (high if high is not None else len(value))

    options = [st.sampled_from([value for value in EVERYDAY_VALUES if fits(value)] or ["a" * max(low, 1)])]
    if kind.pattern:
        options.append(st.from_regex(kind.pattern, fullmatch=True).filter(fits))
    else:
        options.append(st.text(min_size=low, max_size=min(high if high is not None else 40, 40)))
        if high is not None:
            options.append(st.sampled_from(["é" * high, "😀" * high, "x" * high]))  # at the limit, multi-byte
    return st.one_of(options)


def _hostile(kind: mi.Type, depth: int) -> st.SearchStrategy[Any]:
    """Values of `kind`'s shape with hostile contents: out-of-range ints, NULs, too long, odd dates, wrong types."""
    if isinstance(kind, mi.StructType):
        fields = {field.encode_name: values_of(field.type, depth + 1) for field in kind.fields}
        required = {field.encode_name: fields.pop(field.encode_name) for field in kind.fields if field.required}
        return st.fixed_dictionaries(required, optional=fields)
    if isinstance(kind, mi.UnionType):
        return st.one_of([_hostile(member, depth) for member in kind.types])
    if isinstance(kind, mi.StrType):
        return st.one_of(hostile_text, st.just("z" * ((kind.max_length or 5000) + 1)))
    if isinstance(kind, mi.IntType | mi.FloatType):
        return hostile_ints
    if isinstance(kind, mi.DateTimeType):
        return st.sampled_from(TIMESTAMPS)
    if isinstance(kind, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return st.lists(values_of(kind.item_type, depth + 1), max_size=4)
    if isinstance(kind, mi.DictType):
        return st.dictionaries(hostile_text, json_values, max_size=4)
    return json_values


def request_structs() -> list[mi.StructType]:
    """Every request body type of the service (the subclasses of `clarion.schemas.Request`)."""
    found: set[type[Request]] = set()
    pending = list(Request.__subclasses__())
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return [mi.type_info(cls) for cls in sorted(found, key=lambda cls: cls.__qualname__)]  # type: ignore[misc]


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()  # the stdlib: any int, however large


def bodies_for(structs: list[mi.StructType]) -> st.SearchStrategy[bytes]:
    """Bodies shaped like `structs` (valid or hostile), like any request at all, or junk."""
    shaped = st.one_of([st.one_of(_valid(kind, 0), _hostile(kind, 0)) for kind in structs]).map(_json)
    return st.one_of(
        shaped,
        shaped,
        shaped,
        st.lists(st.one_of(hostile_text, st.sampled_from(EVERYDAY_VALUES)), max_size=5).map(_json),  # `add` takes a list
        json_values.map(_json),
        raw_bodies,
    )


# --- the operations ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as `/api/o/{org}/p/{prj}`
    path_params: dict[str, type]
    query_params: tuple[str, ...]
    header_params: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def operations() -> list[Operation]:
    """Every (method, path) the app serves, read from the app: routes, and their OpenAPI parameters."""
    app = create_app(parse_settings("", environ={"CLARION_DATABASE_URL": "sqlite:///unused.db"}))
    schema = app.openapi_schema
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        item = (schema.paths or {}).get(route.path_format)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            operation = getattr(item, method.lower(), None) if item else None
            parameters = [p for p in (operation.parameters or []) if hasattr(p, "param_in")] if operation else []
            found.append(
                Operation(
                    method=method,
                    path=route.path_format,
                    path_params={name: definition.type for name, definition in route.path_parameters.items()},
                    query_params=tuple(p.name for p in parameters if p.param_in.value == "query"),
                    header_params=tuple(p.name for p in parameters if p.param_in.value == "header"),
                )
            )
    return sorted(found, key=_run_order)


def _run_order(operation: Operation) -> tuple[int, int, str]:
    """Reads first; deletes last, the deepest first (a parent with children is a 409), revoking keys at the very end.

    A subscription (`…/a/{app}/n/{pk}/subscribe`) is a child of the notification (`…/e/{evt}/n/{pk}`) although
    its path is shorter: unsubscribing goes before deleting notifications, or it only ever meets a 404."""
    if operation.method != "DELETE":
        return METHOD_ORDER.get(operation.method, 9), 0, operation.path
    depth = len(operation.path_params) + (2 if operation.path.endswith("/subscribe") else 0)
    return METHOD_ORDER["DELETE"] + ("/keys/" in operation.path), -depth, operation.path


def _segment(name: str, kind: type) -> st.SearchStrategy[str]:
    if kind is int:
        ids = st.integers(min_value=1, max_value=12)
        return st.one_of(ids, ids, hostile_ints).map(str)
    known = st.sampled_from(KNOWN.get(name, EVERYDAY_VALUES))
    return st.one_of(known, known, hostile_text)


# What an HTTP client can send in a header at all (h11 refuses control characters and outer spaces).
_header_text = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " ", max_size=300).map(
    str.strip
)


def _example(kind: mi.Type) -> Any:
    """One valid value of `kind`, with every field of a Struct present."""
    if isinstance(kind, mi.StructType):
        return {field.encode_name: _example(field.type) for field in kind.fields}
    if isinstance(kind, mi.UnionType):
        return _example(next((t for t in kind.types if not isinstance(t, mi.NoneType)), kind.types[0]))
    if isinstance(kind, mi.StrType):
        low, high = kind.min_length or 1, kind.max_length or 100
        return next((value for value in EVERYDAY_VALUES if low <= len(value) <= high
                     and (not kind.pattern or re.search(kind.pattern, value))), "a" * low)
    if isinstance(kind, mi.IntType):
        return kind.ge if kind.ge is not None else 1
    if isinstance(kind, mi.LiteralType):
        return kind.values[0]
    if isinstance(kind, mi.EnumType):
        return next(iter(kind.cls)).value
    examples = {mi.BoolType: True, mi.FloatType: 1.0, mi.DateTimeType: "2999-01-01T00:00:00Z", mi.DictType: {}}
    return examples.get(type(kind), [] if isinstance(kind, mi.ListType) else None)


def body_types(client: httpx.Client, operation: Operation, structs: list[mi.StructType]) -> list[mi.StructType]:
    """The request Structs `operation` may decode: those whose every field it knows (asked with one request each).

    Only creating and changing operations are asked (deleting ones get every Struct); when none fits
    (the body is a list, or the probe met a 404) every Struct is used.
    """
    if operation.method not in ("POST", "PUT", "PATCH"):
        return structs
    path = operation.path
    for name, kind in operation.path_params.items():
        path = path.replace("{" + name + "}", "1" if kind is int else KNOWN.get(name, EVERYDAY_VALUES)[0])
    fitting = []
    for kind in structs:
        response = client.request(operation.method, path, content=_json(_example(kind)))
        detail = response.json().get("detail", "") if response.status_code == 400 else ""
        if not re.search(r": unknown (field|option|key)$", detail):
            fitting.append(kind)
    return fitting if 0 < len(fitting) < len(structs) else structs


def requests_for(operation: Operation, structs: list[mi.StructType]) -> st.SearchStrategy[dict[str, Any]]:
    """Requests for `operation`: path values, query, headers and (for any method but GET) a body like `structs`."""
    query_names = st.sampled_from(sorted({*operation.query_params, "assignment", "cid", "limit", "cursor", "x"}))
    query_values = st.one_of(hostile_text, hostile_ints.map(str), st.sampled_from(TIMESTAMPS))
    return st.fixed_dictionaries(
        {
            "path": st.fixed_dictionaries({name: _segment(name, kind) for name, kind in operation.path_params.items()}),
            "query": st.lists(st.tuples(query_names, query_values), max_size=3),
            "headers": st.dictionaries(st.sampled_from([*operation.header_params, "idempotency-key"]), _header_text,
                                       max_size=1),
            "body": st.none() if operation.method == "GET" else bodies_for(structs),
            "content_type": st.sampled_from(["application/json", "application/json", "text/plain", None]),
            "slash": st.booleans(),
        }
    )


def _url(operation: Operation, request: dict[str, Any]) -> str:
    path = operation.path
    for name, value in request["path"].items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path + ("/" if request["slash"] else "")


def fuzz(base_url: str, token: str, occurrence: str) -> tuple[list[str], dict[str, set[int]]]:
    """Run every operation's property; the failures (one line each, with the shrunk request) and statuses seen."""
    KNOWN["occurrence_id"] = [occurrence]
    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    structs = request_structs()
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Key {token}"}, timeout=30) as client:
        for operation in operations():
            seen = statuses.setdefault(str(operation), set())
            body_structs = body_types(client, operation, structs)

            @settings(
                max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=FUZZ_SEED is None,
                suppress_health_check=list(HealthCheck), print_blob=True,
            )
            @given(request=requests_for(operation, body_structs))
            def no_5xx(request: dict[str, Any]) -> None:
                headers = dict(request["headers"])
                if request["content_type"]:
                    headers["Content-Type"] = request["content_type"]
                response = client.request(
                    operation.method, _url(operation, request), params=request["query"], headers=headers,
                    content=request["body"],
                )
                seen.add(response.status_code)
                assert response.status_code < 500, (
                    f"{operation.method} {response.request.url} body={(request['body'] or b'')[:300]!r}"
                    f" -> {response.status_code} {response.text[:300]}"
                )

            if FUZZ_SEED is not None:
                no_5xx = seed(int(FUZZ_SEED))(no_5xx)
            try:
                no_5xx()
            except Exception as exc:  # an AssertionError, or hypothesis's FlakyFailure group of them (state changed)
                found = exc.exceptions if isinstance(exc, ExceptionGroup) else [exc]
                failures.append(f"{operation}: " + "\n".join(str(error).split("\n")[0] for error in found))
    return failures, statuses


async def test_no_operation_answers_a_5xx(tmp_path: Path, database_url: str) -> None:
    tokens = await seed_database(database_url, MEMBERSHIP_CATALOG)
    token = tokens["acme/org-all"]  # full_access
    async with clarion_server(tmp_path, database_url) as server:
        async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Key {token}"}) as client:
            triggered = await client.post("/api/o/acme/p/web/a/shop/e/order-paid/trigger/", json={})
            assert triggered.status_code == 201, triggered.text
        failures, statuses = await asyncio.to_thread(fuzz, server.url, token, triggered.json()["occurrence"])
        log = server.output()
    assert not failures, "\n\n".join(failures)
    assert "Traceback" not in log and "unexpected error" not in log, log[-5000:]
    assert len(statuses) == len(operations())
    if FUZZ_SEED is None:
        # The fixed requests get past routing and authentication into the handlers: every operation
        # answered something besides 401, 403, 404 and 405 at least once. (Other seeds may delete
        # what a later operation needs first.)
        unreached = sorted(name for name, seen in statuses.items() if not seen - {401, 403, 404, 405})
        assert not unreached, f"never reached the handler: {[(name, sorted(statuses[name])) for name in unreached]}"
