"""A third-party plugin package, installed for real into a fresh virtualenv, is discovered and delivers."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

pytestmark = [pytest.mark.no_db, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "clarion-sms-example"
SOURCE_ROOTS = [REPO / "plugins", REPO / "channels", REPO / "service"]

DISCOVER_AND_SEND = """
    import asyncio, json, sys, tomllib

    import msgspec
    import clarion_plugins
    from clarion_plugins import PluginManager
    from clarion_plugins.testing import outbound_message

    CONFIG = tomllib.loads(sys.argv[1])


    async def main():
        manager = PluginManager(builtins=("clarion_channels.email", "clarion_channels.webhook"))
        manager.load()
        table = CONFIG["channels"]["sms"]
        channel = manager.create_channel("sms", table["type"], table["options"])
        await channel.open()
        try:
            result = await channel.send(outbound_message(channel="sms", address="+15550100", text="Order 42 paid"))
        finally:
            await channel.aclose()
        print(json.dumps({
            "api": clarion_plugins.__file__,
            "types": sorted(manager.channel_types),
            "sms_source": manager.type_sources.get("sms"),
            "address_kinds": sorted(manager.channel_types["sms"].address_kinds),
            "failures": [msgspec.to_builtins(failure) for failure in manager.failures],
            "result": type(result).__name__,
            "provider_id": getattr(result, "provider_id", None),
        }))


    asyncio.run(main())
"""


class SmsGateway:
    """The HTTP endpoint the sample SMS plugin posts to."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, object]]] = []
        app = web.Application()
        app.router.add_post("/messages", self.accept)
        self.server = TestServer(app, host="127.0.0.1")

    async def accept(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.json()))
        return web.json_response({"queued": True}, headers={"x-message-id": f"sms-{len(self.requests)}"})


@pytest.fixture
async def sms_gateway() -> AsyncIterator[SmsGateway]:
    gateway = SmsGateway()
    await gateway.server.start_server()
    yield gateway
    await gateway.server.close()


@pytest.fixture(scope="module")
def plugin_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv that sees Clarion's dependencies and sources, with the sample plugin pip-installed."""
    root = tmp_path_factory.mktemp("third-party")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    # The parent's site-packages brings pip, setuptools and Clarion's dependencies; the
    # source roots bring Clarion itself (an editable install's finder is not read from there).
    shared = [sysconfig.get_paths()["purelib"], *map(str, SOURCE_ROOTS)]
    (Path(site_packages) / "clarion-parent.pth").write_text("\n".join(shared) + "\n")
    package = shutil.copytree(EXAMPLE, root / "clarion-sms-example")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-input", "--quiet", str(package)],
        check=True,
        timeout=240,
    )
    return venv


async def run_in_venv(venv: Path, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "python"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_installed_plugin_is_discovered_configured_and_delivers(
    plugin_venv: Path, sms_gateway: SmsGateway
) -> None:
    config = textwrap.dedent(f"""
        [channels.sms]
        type = "sms"
        [channels.sms.options]
        account = "acme"
        token = "t0ken"
        endpoint = "{sms_gateway.server.make_url('/messages')}"
    """)

    code, stdout, stderr = await run_in_venv(plugin_venv, "-c", textwrap.dedent(DISCOVER_AND_SEND), config)

    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["api"].startswith(str(REPO / "plugins"))
    assert report["types"] == ["email", "sms", "webhook"]
    assert report["sms_source"] == "sms-example (clarion-sms-example 0.1.0)"
    assert report["address_kinds"] == ["phone"]
    assert report["failures"] == []
    assert report["result"] == "Delivered" and report["provider_id"] == "sms-1"
    [(headers, body)] = sms_gateway.requests
    assert headers["Authorization"] == "Bearer t0ken"
    assert body["to"] == "+15550100" and body["text"] == "Order 42 paid" and body["account"] == "acme"


async def test_the_guide_s_contract_test_passes_for_the_installed_plugin(
    plugin_venv: Path, tmp_path: Path
) -> None:
    guide = (REPO / "docs" / "plugins.md").read_text()
    kit_section = guide.split("## Testing a plugin", 1)[1]
    test_module = re.search(r"```python\n(.*?)```", kit_section, re.S)
    assert test_module
    (tmp_path / "test_sms_contract.py").write_text(test_module.group(1))

    code, stdout, stderr = await run_in_venv(
        plugin_venv,
        *("-m", "pytest", "test_sms_contract.py", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)),
        *("-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function", "-W", "error"),
        cwd=tmp_path,
    )

    assert code == 0, stdout + stderr
    assert re.search(r"\b8 passed, 1 skipped\b", stdout), stdout


SERVICE_CATALOG = {
    "organizations": [{
        "slug": "acme", "name": "Acme",
        "users": [{"username": "carol", "first_name": "Carol",
                   "addresses": [{"name": "mobile", "value": "+15550123"}]}],
        "projects": [{
            "slug": "web", "name": "Web",
            "distribution_lists": [{"name": "on-call",
                                    "members": [{"user": "carol", "address": "mobile", "channel": "sms"}]}],
            "applications": [{"slug": "shop", "name": "Shop", "events": [{
                "slug": "order-paid", "name": "Order paid",
                "notifications": [{"name": "text on-call", "distribution_list": "on-call",
                                   "templates": {"sms": {"text": "Order {{ order_id }} paid, {{ recipient.first_name }}"}}}],
            }]}],
        }],
        "api_keys": [{"name": "admin", "grants": ["full_access"]}],
    }]
}


async def test_the_service_discovers_configures_lists_and_sends_through_the_installed_plugin(
    plugin_venv: Path, sms_gateway: SmsGateway, tmp_path: Path
) -> None:
    import httpx

    from clarion_test_support import free_port

    port = free_port()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "clarion.toml").write_text(textwrap.dedent(f"""
        [server]
        port = {port}
        [channels.sms]
        type = "sms"
        [channels.sms.options]
        account = "acme"
        token = "t0ken"
        endpoint = "{sms_gateway.server.make_url('/messages')}"
    """))
    (tmp_path / "catalog.json").write_text(json.dumps(SERVICE_CATALOG))
    for command in (["migrate"], ["config", "check"]):
        code, stdout, stderr = await run_in_venv(plugin_venv, "-m", "clarion", *command, cwd=tmp_path)
        assert code == 0, stderr
    code, stdout, stderr = await run_in_venv(plugin_venv, "-m", "clarion", "apply", "catalog.json", cwd=tmp_path)
    assert code == 0, stderr
    token = json.loads(stdout)["api_keys"]["acme/admin"]
    code, stdout, stderr = await run_in_venv(plugin_venv, "-m", "clarion", "channels", cwd=tmp_path)
    assert code == 0, stderr
    assert re.search(r"^sms\s+sms\s+yes\s+sms-example \(clarion-sms-example 0\.1\.0\)$", stdout, re.M), stdout

    server = await asyncio.create_subprocess_exec(
        str(plugin_venv / "bin" / "python"), "-m", "clarion", "serve", cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Key {token}"}
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
            for _ in range(100):
                try:
                    if (await client.get("/health/")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            plugins = (await client.get("/api/plugins/")).json()
            assert {"type": "sms", "plugin": "sms-example (clarion-sms-example 0.1.0)"}.items() <= next(
                t for t in plugins["channel_types"] if t["type"] == "sms"
            ).items()
            channels = (await client.get("/api/o/acme/c/")).json()
            assert {"name": "sms", "slug": "sms", "type": "sms", "enabled": True} in channels
            triggered = await client.post(
                "/api/o/acme/p/web/a/shop/e/order-paid/trigger/", json={"context": {"order_id": 42}}
            )
            assert triggered.status_code == 201, triggered.text
            for _ in range(100):
                if sms_gateway.requests:
                    break
                await asyncio.sleep(0.05)
    finally:
        server.terminate()
        _, stderr = await asyncio.wait_for(server.communicate(), timeout=30)
    [(_, body)] = sms_gateway.requests
    assert body == {"account": "acme", "to": "+15550123", "text": "Order 42 paid, Carol",
                    "reference": body["reference"]}, stderr.decode()
