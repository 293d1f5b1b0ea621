"""Clarion installed as an operator installs it: an sdist and a wheel built from it, pip-installed into a
fresh virtualenv, run in an empty directory with no configuration file at all.

Slow (about a minute: pip resolves the dependencies from the package index, mostly from its cache).
The mail goes to the built-in default, 127.0.0.1:1025, where the test runs an SMTP sink.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from clarion_test_support import REPO, free_port
from delivery_support import MailSink

pytestmark = [pytest.mark.no_db, pytest.mark.slow, pytest.mark.timeout(600)]

# Development-only modules, and modules of an optional extra: importing them without their tool says
# what is missing (the apprise channel is then listed as unavailable, with its install command).
DEVELOPMENT_ONLY = {
    "clarion.devtools.mailsink": "needs aiosmtpd: pip install 'clarion[dev]'",
    "clarion.devtools.devserver": "needs aiosmtpd: pip install 'clarion[dev]'",
    "clarion_plugins.testing": "needs pytest: pip install pytest",
    "clarion_channels.apprise": "the apprise channel needs the Apprise library",
}
# Everything else the wheel ships: importing each proves its imports are declared.
IMPORT_EVERY_MODULE = f"""
import importlib, pkgutil
import clarion, clarion_plugins, clarion_channels
names = []
for package in (clarion, clarion_plugins, clarion_channels):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if module.name not in {sorted(DEVELOPMENT_ONLY)!r}:
            importlib.import_module(module.name)
            names.append(module.name)
print(len(names))
"""


def _run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel built from the sdist built from this tree; its bin/ directory."""
    root = tmp_path_factory.mktemp("install")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLARION_", "VIRTUAL_ENV"))}
    dist = root / "dist"
    _run(sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(dist)!r})",
         cwd=REPO, env=env)
    (sdist,) = dist.glob("clarion-*.tar.gz")
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, sdist, cwd=root, env=env)
    (wheel,) = dist.glob("clarion-*.whl")
    _run(sys.executable, "-m", "venv", root / "venv", cwd=root, env=env)
    _run(root / "venv" / "bin" / "pip", "install", "--quiet", wheel, cwd=root, env=env, timeout=500)
    return root / "venv" / "bin"


@pytest.fixture
def empty_directory(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    workdir = tmp_path / "empty"
    workdir.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLARION_", "VIRTUAL_ENV"))}
    env["CLARION_DATA_DIR"] = str(tmp_path / "data")
    return workdir, env


def test_every_shipped_module_imports_with_only_the_declared_dependencies(installed: Path, tmp_path: Path) -> None:
    result = _run(installed / "python", "-c", IMPORT_EVERY_MODULE, cwd=tmp_path, env={"PATH": os.environ["PATH"]})
    assert int(result.stdout) > 50


@pytest.mark.parametrize("module", sorted(DEVELOPMENT_ONLY))
def test_development_tools_say_what_to_install(installed: Path, tmp_path: Path, module: str) -> None:
    result = subprocess.run(
        [installed / "python", "-c", f"import {module}"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert DEVELOPMENT_ONLY[module] in result.stderr


def test_the_wheel_migrates_serves_and_delivers_with_no_configuration_file(
    installed: Path, empty_directory: tuple[Path, dict[str, str]]
) -> None:
    workdir, env = empty_directory
    clarion = installed / "clarion"
    assert _run(clarion, "--version", cwd=workdir, env=env).stdout == "clarion 0.1.0\n"
    assert "applied" in _run(clarion, "migrate", cwd=workdir, env=env).stdout
    assert (Path(env["CLARION_DATA_DIR"]) / "clarion.db").is_file()
    assert list(workdir.iterdir()) == []  # nothing written where it runs
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    demo = _run(clarion, "demo", "--base-url", base_url, cwd=workdir, env=env).stdout
    token = re.search(r"Demo key \(shown once\): (\S+)", demo).group(1)  # type: ignore[union-attr]
    sink = MailSink(port=1025)  # the built-in default SMTP server
    sink.start()
    log = (workdir.parent / "serve.log").open("w")
    server = subprocess.Popen(
        [clarion, "serve", "--port", str(port)], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_healthy(base_url, server)
        answer = httpx.post(
            f"{base_url}/api/o/demo/p/web/a/shop/e/order-paid/trigger/",
            headers={"Authorization": f"Key {token}"}, json={"context": {"order_id": "A-1001"}}, timeout=30,
        )
        assert answer.status_code == 201, answer.text
        deadline = time.monotonic() + 60
        while len(sink.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(sink.received) == 2, (workdir.parent / "serve.log").read_text()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
        sink.stop()


def _wait_healthy(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "clarion serve exited"
        try:
            if httpx.get(f"{base_url}/health/", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("clarion serve did not answer /health/")
