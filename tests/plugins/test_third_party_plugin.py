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
    assert re.search(r"\b7 passed, 1 skipped\b", stdout), stdout
