"""`make run` as a new user runs it: it starts, answers, and the printed curl ends in a mail file."""

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

pytestmark = [pytest.mark.no_db, pytest.mark.slow]


def test_makefile_run_target_is_the_devserver() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^run: .*\n\t\$\(PY\) -m clarion\.devtools\.devserver$", makefile, re.M)


def _scratch_directory(tmp_path: Path) -> tuple[int, int, dict[str, str]]:
    """The development config in `tmp_path/config/` on free ports; (HTTP port, SMTP port, environment)."""
    http_port, smtp_port = free_port(), free_port()
    config = (REPO / "config" / "development.toml").read_text()
    config = config.replace("port = 8000", f"port = {http_port}").replace("port = 1025", f"port = {smtp_port}")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "development.toml").write_text(config)
    return http_port, smtp_port, {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")}


@pytest.fixture
def devserver(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The devserver in a scratch directory, on free ports, with the development config otherwise unchanged."""
    http_port, smtp_port, env = _scratch_directory(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "clarion.devtools.devserver"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    base_url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output.append(line)
        if "Uvicorn running" in line or "Application startup complete" in line:
            break
    try:
        httpx.get(f"{base_url}/health/", timeout=5).raise_for_status()
    except Exception:
        process.kill()
        raise AssertionError("devserver did not start:\n" + "".join(output)) from None
    yield base_url, "".join(output), tmp_path
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()


def test_make_run_starts_and_the_printed_curl_delivers_a_mail(devserver) -> None:  # type: ignore[no-untyped-def]
    base_url, output, workdir = devserver
    token = re.search(r"Demo key \(shown once\): (\S+)", output)
    assert token, output
    headers = {"Authorization": f"Key {token.group(1)}"}
    assert httpx.get(f"{base_url}/ready/", headers=headers, timeout=5).status_code == 200
    ping = httpx.get(f"{base_url}/api/system/ping/", headers=headers, timeout=5)
    assert ping.status_code == 200 and ping.json() == {"token": "demo"}

    curl = re.search(r"(curl -sS -X POST .*?)\n\n", output, re.S)
    assert curl, output
    result = subprocess.run(["bash", "-c", curl.group(1)], capture_output=True, text=True, timeout=30)
    assert '"occurrence"' in result.stdout, result.stdout + result.stderr

    mail_directory = workdir / "var" / "mail"
    deadline = time.monotonic() + 15
    mails: list[Path] = []
    while time.monotonic() < deadline and len(mails) < 2:
        mails = sorted(mail_directory.glob("*.eml")) if mail_directory.exists() else []
        time.sleep(0.1)
    assert len(mails) == 2, "the demo list has two members"
    text = mails[0].read_text()
    assert "Subject: Order A-1001 paid" in text


@pytest.mark.parametrize("taken", ["http", "smtp"])
def test_make_run_names_a_taken_port_instead_of_a_traceback(tmp_path: Path, taken: str) -> None:
    import socket

    http_port, smtp_port, env = _scratch_directory(tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", http_port if taken == "http" else smtp_port))
        holder.listen()
        result = subprocess.run(
            [sys.executable, "-m", "clarion.devtools.devserver"], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    port, key = (http_port, "server.port") if taken == "http" else (smtp_port, "channels.email.options.port")
    assert result.stderr.startswith(f"make run: {'HTTP' if taken == 'http' else 'development SMTP'} port 127.0.0.1:{port} is taken")
    assert f"change {key} in config/development.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_make_run_prints_a_working_console_login(devserver) -> None:  # type: ignore[no-untyped-def]
    base_url, output, _ = devserver
    login = re.search(r"Console: (\S+) \(log in as (\S+) / (\S+);", output)
    assert login, output
    url, username, password = login.groups()
    assert url == f"{base_url}/admin/"
    with httpx.Client(base_url=base_url, timeout=30) as client:
        client.get("/admin/")
        csrf = {"X-CSRFToken": client.cookies["csrftoken"]}
        wrong = client.post("/admin/public/login/", json={"username": username, "password": "not-it"}, headers=csrf)
        assert wrong.status_code == 401
        right = client.post("/admin/public/login/", json={"username": username, "password": password}, headers=csrf)
        assert right.status_code == 200, right.text
        assert client.get("/admin/api/user/").json()["username"] == username
