"""The docs' examples, executed (issue 11 §6): what README.md and docs/ show must be what Clarion does.

* The sample catalog of docs/catalog.md is applied with `clarion apply` to a real
  database and delivered through by a real `clarion serve`, to a real SMTP server
  and a real webhook receiver.
* The curl examples of README.md and docs/api.md are run with curl, as written
  (only the host is this test's server), and their documented answers compared.
* Every route the app serves under `/api/` is in a table of docs/api.md or
  docs/delivery.md.
"""

import asyncio
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from delivery_support import HookSink, MailSink, delivery_config, hook_sink, mail_sink  # noqa: F401
from litestar.routes import HTTPRoute
from served_clarion import Server, clarion_server
from standardwebhooks import Webhook

from clarion.http.app import create_app
from clarion.settings import parse_settings
from clarion_test_support import REPO, clarion_command

README = REPO / "README.md"
API_DOC = REPO / "docs" / "api.md"
CATALOG_DOC = REPO / "docs" / "catalog.md"
DELIVERY_DOC = REPO / "docs" / "delivery.md"

SAMPLE_HOOK = "https://hooks.example.com/in"  # the sample's webhook address; the test points it at its receiver
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def fenced(path: Path, language: str) -> list[str]:
    """The fenced code blocks of `path` in `language`, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(), flags=re.DOTALL | re.MULTILINE)


def commands(block: str) -> list[tuple[str, str]]:
    """(command, the `# …` comment after it) for each command of a shell block; continuation lines joined."""
    found: list[tuple[str, str]] = []
    command = ""
    for line in block.splitlines():
        if line.startswith("#") and found and not command:
            found[-1] = (found[-1][0], (found[-1][1] + " " + line.lstrip("# →")).strip())
        elif line.endswith("\\"):
            command += line[:-1] + " "
        elif line.strip():
            found.append((command + line, ""))
            command = ""
    return found


def documented_answer(comment: str) -> tuple[int, Any]:
    """`201 {"occurrence": "…"}` → (201, {"occurrence": "…"})."""
    status, _, body = comment.partition(" ")
    return int(status), json.loads(body)


def assert_matches(actual: Any, documented: Any, where: str = "body") -> None:
    """`actual` has the documented shape and values. A documented string with `…` stands for any string
    starting with the text before it; an `occurrence` is any occurrence id (the docs show an example one)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict) and set(actual) == set(documented), (where, actual, documented)
        for key, value in documented.items():
            if key == "occurrence":
                assert ULID.match(actual[key]), (f"{where}.{key}", actual[key])
            else:
                assert_matches(actual[key], value, f"{where}.{key}")
    elif isinstance(documented, str) and "…" in documented:
        assert isinstance(actual, str) and actual.startswith(documented.split("…")[0]), (where, actual, documented)
    else:
        assert actual == documented, (where, actual, documented)


async def run(
    *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None, exit_code: int = 0
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end (in a thread: the sinks live in this loop); fail with its output unless it
    exits with `exit_code`."""
    result = await asyncio.to_thread(
        subprocess.run, list(argv), env={**os.environ, **(env or {})}, cwd=cwd, capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode == exit_code, (argv, result.stdout, result.stderr)
    return result


async def curl(command: str, documented_host: str, server: Server, token: str) -> tuple[int, Any]:
    """Run a documented curl command as written, against `server` instead of `documented_host`."""
    assert command.startswith("curl ") and documented_host in command, command
    shown = await run("bash", "-c", command.replace(documented_host, server.url) + " -sS -w '\\n%{http_code}'",
                      env={"TOKEN": token})
    body, _, status = shown.stdout.rpartition("\n")
    return int(status), json.loads(body)


def sample_catalog() -> dict[str, Any]:
    """docs/catalog.md's sample (the JSON block under "Shape")."""
    blocks = [block for block in fenced(CATALOG_DOC, "json") if '"organizations"' in block]
    assert len(blocks) == 1, "docs/catalog.md should show one sample catalog"
    return json.loads(blocks[0])  # type: ignore[no-any-return]


async def settled_occurrence(server: Server, token: str, occurrence: str, timeout: float = 30.0) -> dict[str, Any]:
    """The occurrence detail (`GET …/occurrences/{id}/`) once it and its deliveries are final."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Key {token}"}) as client:
        while True:
            response = await client.get(f"/api/o/acme/p/web/a/shop/occurrences/{occurrence}/")
            assert response.status_code == 200, response.text
            detail: dict[str, Any] = response.json()
            if detail["status"] in ("completed", "failed"):
                return detail
            assert time.monotonic() < deadline, f"not settled in {timeout}s: {detail}\n{server.output()}"
            await asyncio.sleep(0.1)


def served_config(mail_sink: MailSink) -> str:
    return delivery_config(mail_sink.port) + '\n[logging]\nlevel = "warning"\n'


async def test_the_sample_catalog_applies_and_delivers_and_the_api_curl_example_runs(
    tmp_path: Path, database_url: str, mail_sink: MailSink, hook_sink: HookSink
) -> None:
    sample = sample_catalog()
    text = json.dumps(sample)
    assert SAMPLE_HOOK in text, f"docs/catalog.md's sample no longer has the webhook address {SAMPLE_HOOK}"
    (tmp_path / "catalog.json").write_text(text.replace(SAMPLE_HOOK, hook_sink.url("alice")))
    config = tmp_path / "clarion.toml"
    config.write_text(served_config(mail_sink))
    environment = {"CLARION_CONFIG": str(config), "CLARION_DATABASE_URL": database_url}

    # a placeholder secret is refused, naming the entry, and nothing is applied
    placeholder = text.replace(sample["organizations"][0]["users"][0]["assignments"][0]["secret"], "whsec_…")
    (tmp_path / "placeholder.json").write_text(placeholder)
    refused = await run(*clarion_command("apply", "placeholder.json"), env=environment, cwd=tmp_path, exit_code=2)
    assert "organizations[0].users[0].assignments[0].secret: expected 'whsec_' followed by" in refused.stderr

    # `clarion apply catalog.json` prints what docs/catalog.md says it prints
    [(command, comment)] = commands(fenced(CATALOG_DOC, "sh")[0])
    assert command == "clarion apply catalog.json"
    applied = json.loads((await run(*clarion_command("apply", "catalog.json"), env=environment, cwd=tmp_path)).stdout)
    assert_matches(applied, json.loads(comment))
    token = applied["api_keys"]["acme/shop-backend"]
    # "Idempotent. Applying the same file twice changes nothing the second time and prints {"api_keys": {}}"
    again = await run(*clarion_command("apply", "catalog.json"), env=environment, cwd=tmp_path)
    assert json.loads(again.stdout) == {"api_keys": {}}

    async with clarion_server(tmp_path, database_url, config_text=served_config(mail_sink)) as server:
        # the sample delivers: its notification reaches the list member by e-mail and the subscriber by webhook
        async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Key {token}"}) as client:
            body = {"context": {"order_id": "A-1", "region": "eu"}, "options": {"environs": ["production"]}}
            triggered = await client.post("/api/o/acme/p/web/a/shop/e/order-paid/trigger/", json=body)
        assert triggered.status_code == 201, triggered.text
        detail = await settled_occurrence(server, token, triggered.json()["occurrence"])
        assert sorted((d["channel"], d["status"], d["reason"]) for d in detail["deliveries"]) == [
            ("email", "delivered", None),
            ("webhook", "delivered", None),
        ], detail
        [mail] = await mail_sink.wait_for(1)
        assert mail.rcpt_tos == ["alice@example.com"]
        assert str(mail.message["Subject"]) == "Order A-1 paid"
        assert mail.message.get_body(("plain",)).get_content().strip() == "Hi Alice, order A-1 was paid."
        [hook] = await hook_sink.wait_for(1)
        secret = sample["organizations"][0]["users"][0]["assignments"][0]["secret"]
        payload = Webhook(secret).verify(hook.body, hook.headers)  # signed with the sample's secret
        assert (payload["type"], payload["data"]) == ("order-paid", body["context"])
        assert "correlation_id" not in payload  # docs/delivery.md: only when the trigger had a cid

        # docs/api.md's trigger example, run with curl as written, against the sample catalog
        [block] = [block for block in fenced(API_DOC, "sh") if "/trigger/" in block]
        [(command, comment)] = commands(block)
        status, answer = await curl(command, "https://clarion.example", server, token)
        assert status == documented_answer(comment)[0]
        assert_matches(answer, documented_answer(comment)[1])
        stored = await settled_occurrence(server, token, answer["occurrence"])
        assert stored["correlation_id"] == "checkout-42"
        assert stored["context"] == {"order_id": 42} and stored["options"] == {"channels": ["email"]}
        # the same request with the same Idempotency-Key is the same occurrence (docs/api.md, Idempotency)
        assert await curl(command, "https://clarion.example", server, token) == (status, answer)


async def test_the_readme_demo_and_its_curl_example(tmp_path: Path, database_url: str, mail_sink: MailSink) -> None:
    config = tmp_path / "clarion.toml"
    config.write_text(served_config(mail_sink))
    environment = {"CLARION_CONFIG": str(config), "CLARION_DATABASE_URL": database_url}
    await run(*clarion_command("migrate"), env=environment, cwd=tmp_path)
    printed = (await run(*clarion_command("demo"), env=environment, cwd=tmp_path)).stdout
    token = re.search(r"Demo key \(shown once\): (\S+)", printed)
    assert token, printed
    [block] = [block for block in fenced(README, "sh") if "curl" in block]
    [(assignment, _), (command, comment)] = commands(block)
    assert assignment.startswith("TOKEN=")
    async with clarion_server(tmp_path, database_url, config_text=served_config(mail_sink)) as server:
        status, answer = await curl(command, "http://127.0.0.1:8000", server, token.group(1))
        assert status == documented_answer(comment)[0]
        assert_matches(answer, documented_answer(comment)[1])
        # "Follow an occurrence with GET /api/o/demo/p/web/a/shop/occurrences/<id>/ (the demo key has occurrence:read)"
        assert "`GET /api/o/demo/p/web/a/shop/occurrences/<id>/`" in README.read_text()
        async with httpx.AsyncClient(base_url=server.url) as client:
            followed = await client.get(
                f"/api/o/demo/p/web/a/shop/occurrences/{answer['occurrence']}/",
                headers={"Authorization": f"Key {token.group(1)}"},
            )
        assert followed.status_code == 200, followed.text
        assert followed.json()["context"] == {"order_id": "A-1001"}


# Every route in a docs table ----------------------------------------------------------------------

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _shape(path: str) -> str:
    """`/api/o/{org}/p/{prj:str}/` → `/api/o/{}/p/{}` (parameter names differ between docs and code)."""
    return re.sub(r"\{[^}]*\}", "{}", path).rstrip("/")


def documented_routes() -> list[tuple[set[str], list[str]]]:
    """(methods, path shapes) of every table row of docs/api.md and docs/delivery.md that names methods."""
    rows = []
    for doc in (API_DOC, DELIVERY_DOC):
        for line in doc.read_text().splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
            methods = set(re.findall(r"[A-Z]+", cells[0])) & METHODS if cells else set()
            if methods:
                paths = re.findall(r"`((?:/|…)[^`]*)`", " ".join(cells[1:]))
                rows.append((methods, [_shape(path) for path in paths]))
    return rows


def _covers(shape: str, path: str) -> bool:
    return path == shape or (shape.startswith("…") and path.endswith(shape[1:]))


@pytest.mark.no_db
def test_every_api_route_is_in_a_docs_table() -> None:
    app = create_app(parse_settings("", environ={"CLARION_DATABASE_URL": "sqlite:///unused.db"}))
    rows = documented_routes()
    missing = [
        f"{method} {route.path_format}"
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path_format.startswith("/api/")
        for method in sorted(route.methods & METHODS)
        if not any(
            method in methods and any(_covers(shape, _shape(route.path_format)) for shape in shapes)
            for methods, shapes in rows
        )
    ]
    assert not missing, f"routes no table of docs/api.md or docs/delivery.md lists: {missing}"


@pytest.mark.no_db
def test_the_sqlite_write_figures_of_docs_storage_are_the_latest_bench_table() -> None:
    """docs/storage.md quotes the SQLite write row of docs/performance.md's table; README quotes none."""
    quoted = re.search(r"in the same run: ([\d.]+)× the inserts per\s+second, p99 (\d+) ms against ([\d.]+) s",
                       (REPO / "docs" / "storage.md").read_text())
    assert quoted, "docs/storage.md no longer quotes the bench's SQLite write figures"
    ratio, p99_ms, stock_p99_s = quoted.groups()
    [row] = [line for line in (REPO / "docs" / "performance.md").read_text().splitlines()
             if line.startswith("| SQLite writes, 48 concurrent writers")]
    clarion, stock, measured_ratio = (cell.strip() for cell in row.strip("|").split("|")[1:4])
    assert measured_ratio == f"{ratio}×" and f"p99 {p99_ms} ms" in clarion
    assert round(int(re.search(r"p99 (\d+) ms", stock).group(1)) / 1000, 1) == float(stock_p99_s)  # type: ignore[union-attr]
    assert "inserts" not in README.read_text()
