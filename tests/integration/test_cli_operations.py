"""CLI conventions (common options anywhere, --version, help, exit statuses) and the operator commands:
init, doctor, migrate --check, occurrences, backup."""

import argparse
import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from clarion.__main__ import _parser
from clarion_test_support import BASE_CONFIG, ENGINE, REPO, clarion_command
from delivery_support import MailSink, mail_sink  # noqa: F401
from events_api_support import ORDER_PAID, Api, api, api_settings  # noqa: F401
from served_clarion import clarion_server, committed_ids, seed_database


def clarion(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # No CLARION_* of the test run, except its data directory (tests/conftest.py): never the user's own.
    base = {key: value for key, value in os.environ.items() if not key.startswith("CLARION_") or key == "CLARION_DATA_DIR"}
    return subprocess.run(
        clarion_command(*args), env={**base, **(env or {})}, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _parsers(parser: argparse.ArgumentParser, path: str = "clarion"):  # type: ignore[no-untyped-def]
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from _parsers(subparser, f"{path} {name}")


@pytest.mark.no_db
def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{path}: {action.dest}"
        for path, parser in _parsers(_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


@pytest.mark.no_db
def test_version_and_usage_errors(tmp_path: Path) -> None:
    version = clarion("--version", cwd=tmp_path)
    assert (version.returncode, version.stdout) == (0, "clarion 0.1.0\n")
    unknown = clarion("frobnicate", cwd=tmp_path)
    assert unknown.returncode == 2 and "invalid choice: 'frobnicate'" in unknown.stderr


@pytest.mark.no_db
def test_common_options_go_before_or_after_the_subcommand(tmp_path: Path) -> None:
    config = tmp_path / "mine.toml"
    config.write_text(BASE_CONFIG + "\n[channels.extra]\ntype = \"webhook\"\nenabled = false\n")
    outputs = {
        clarion(*args, cwd=tmp_path).stdout
        for args in (("--config", str(config), "channels"), ("channels", "--config", str(config)))
    }
    assert len(outputs) == 1 and "extra" in outputs.pop()
    for args in (("config", "check", "--config", str(config)), ("--config", str(config), "config", "check")):
        assert clarion(*args, cwd=tmp_path).stdout == f"{config}: ok (3 channel(s))\n"
    missing = clarion("channels", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr == f"clarion: {tmp_path / 'nope.toml'}: cannot read configuration: No such file or directory\n"


@pytest.mark.no_db
def test_a_runtime_failure_is_one_line_and_exit_1_unless_debug(tmp_path: Path) -> None:
    down = {"CLARION_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing"}  # nothing listens on port 1
    result = clarion("migrate", cwd=tmp_path, env=down)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("clarion: migrate failed: ConnectionRefusedError:")
    assert result.stderr.endswith("(--debug: the traceback)\n")
    debug = clarion("migrate", "--debug", cwd=tmp_path, env=down)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


@pytest.mark.no_db
def test_demo_and_apply_on_an_unmigrated_database_say_migrate_without_warnings(tmp_path: Path) -> None:
    env = {"CLARION_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"}
    demo = clarion("demo", cwd=tmp_path, env=env)
    assert demo.returncode == 1
    assert demo.stderr == "clarion: demo failed: the database is not migrated: run `clarion migrate` first\n"
    missing = clarion("apply", "nope.json", cwd=tmp_path, env=env)
    assert (missing.returncode, missing.stderr) == (2, "clarion: nope.json: cannot read: No such file or directory\n")


@pytest.mark.no_db
def test_without_a_configuration_file_everything_lands_in_the_data_directory(tmp_path: Path) -> None:
    env = {"CLARION_DATA_DIR": str(tmp_path / "data")}
    check = clarion("migrate", "--check", cwd=tmp_path, env=env)
    assert check.returncode == 1 and "migration(s) pending" in check.stdout and "run `clarion migrate`" in check.stdout
    assert clarion("migrate", cwd=tmp_path, env=env).returncode == 0
    assert (tmp_path / "data" / "clarion.db").is_file()
    again = clarion("migrate", "--check", cwd=tmp_path, env=env)
    assert (again.returncode, again.stdout) == (0, "the database is fully migrated\n")
    assert "(built-in defaults): ok" in clarion("config", "check", cwd=tmp_path, env=env).stdout


@pytest.mark.no_db
def test_init_writes_the_commented_example_once(tmp_path: Path) -> None:
    first = clarion("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    written = tmp_path / "config" / "clarion.toml"
    assert written.read_text() == (REPO / "config" / "clarion.example.toml").read_text()
    secret = {"CLARION_WEBHOOK_SECRET": "whsec_Y2xhcmlvbi1kZXZlbG9wbWVudC1vbmx5LXNlY3JldCE="}  # the example reads it
    assert clarion("config", "check", cwd=tmp_path, env=secret).stdout.startswith("config/clarion.toml: ok")
    again = clarion("init", cwd=tmp_path)
    assert (again.returncode, again.stderr) == (2, "clarion: config/clarion.toml: already exists (--force overwrites it)\n")
    assert clarion("init", "elsewhere.toml", cwd=tmp_path).returncode == 0
    assert (tmp_path / "elsewhere.toml").is_file()


def _doctor_config(tmp_path: Path, smtp_port: int) -> Path:
    config = tmp_path / "doctor.toml"
    config.write_text(BASE_CONFIG.replace("port = 1\n", f"port = {smtp_port}\n"))
    return config


def test_doctor_reports_every_check_and_exits_1_on_a_problem(
    tmp_path: Path, database_url: str, mail_sink: MailSink
) -> None:
    env = {"CLARION_DATABASE_URL": database_url}
    healthy = clarion("doctor", "--config", str(_doctor_config(tmp_path, mail_sink.port)), cwd=tmp_path, env=env)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    lines = healthy.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL"]
    assert [line.split()[:3] for line in lines[1:5]] == [
        ["configuration", "ok", str(tmp_path / "doctor.toml")],
        ["database", "ok", lines[2].split()[2]],
        ["channel", "email", "ok"],
        ["channel", "webhook", "ok"],
    ]
    assert lines[2].endswith(": reachable, fully migrated")
    assert f"SMTP 127.0.0.1:{mail_sink.port} answered EHLO" in healthy.stdout
    assert lines[-1] == "everything is ready"
    mail_sink.stop()
    sick = clarion("doctor", "--config", str(_doctor_config(tmp_path, mail_sink.port)), cwd=tmp_path,
                   env={"CLARION_DATABASE_URL": f"sqlite:///{tmp_path}/unmigrated.db"})
    assert sick.returncode == 1
    assert "database         FAIL" in sick.stdout and "migration(s) pending: run `clarion migrate`" in sick.stdout
    assert "channel email    FAIL    SMTPConnectError" in sick.stdout
    assert sick.stdout.splitlines()[-1] == "2 problem(s)"


async def test_occurrences_lists_the_newest_with_their_filters(api: Api, database_url: str, tmp_path: Path) -> None:
    ids = [(await api.post(ORDER_PAID, json={"context": {"n": n}})).json()["occurrence"] for n in range(3)]
    env = {"CLARION_DATABASE_URL": database_url}

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(clarion, "occurrences", *args, cwd=tmp_path, env=env)

    listed = await run()
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ids
    assert all("acme/web/shop/order-paid  pending" in line for line in listed.stdout.splitlines())
    assert [line.split()[0] for line in (await run("--limit", "2")).stdout.splitlines()] == ids[1:]
    assert (await run("--status", "completed")).stdout == "no occurrences\n"
    assert (await run("--event", "nothing")).stdout == "no occurrences\n"
    assert (await run("--status", "bogus")).returncode == 2


@pytest.mark.slow
@pytest.mark.skipif(ENGINE != "sqlite", reason="clarion backup copies SQLite; PostgreSQL is backed up with pg_dump")
async def test_backup_while_serve_writes_keeps_every_acknowledged_occurrence(database_url: str, tmp_path: Path) -> None:
    tokens = await seed_database(database_url)
    headers = {"Authorization": f"Key {tokens['acme/shop-app']}"}
    acknowledged: list[str] = []
    copy = tmp_path / "backup.db"
    async with clarion_server(tmp_path, database_url) as server, httpx.AsyncClient(timeout=30) as client:

        async def trigger(count: int) -> None:
            for n in range(count):
                answer = await client.post(f"{server.url}{ORDER_PAID}", headers=headers, json={"context": {"n": n}})
                assert answer.status_code == 201
                acknowledged.append(answer.json()["occurrence"])

        await trigger(20)
        before_backup = list(acknowledged)
        writing = asyncio.create_task(trigger(40))  # serve keeps writing while the copy is taken
        backup = await asyncio.to_thread(
            clarion, "backup", str(copy), cwd=tmp_path, env={"CLARION_DATABASE_URL": database_url}
        )
        await writing
    assert backup.returncode == 0, backup.stderr
    assert backup.stdout.startswith(f"backed up {database_url.removeprefix('sqlite:///')} to {copy}")
    restored = tmp_path / "restored.db"
    restored.write_bytes(copy.read_bytes())  # restoring is copying the file back into place
    connection = sqlite3.connect(restored)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        in_copy = {row[0] for row in connection.execute("SELECT id FROM occurrence")}
    finally:
        connection.close()
    assert set(before_backup) <= in_copy
    assert in_copy <= set(acknowledged)  # nothing in the copy that was not acknowledged
    assert await committed_ids(f"sqlite:///{restored}", set(before_backup)) == set(before_backup)  # Clarion reads it
    refused = clarion("backup", str(copy), cwd=tmp_path, env={"CLARION_DATABASE_URL": database_url})
    assert (refused.returncode, refused.stderr) == (2, f"clarion: {copy}: already exists (--force replaces it)\n")


@pytest.mark.no_db
def test_backup_of_postgresql_points_at_pg_dump(tmp_path: Path) -> None:
    result = clarion("backup", "x.db", cwd=tmp_path, env={"CLARION_DATABASE_URL": "postgresql://u@127.0.0.1:1/db"})
    assert result.returncode == 2 and "back PostgreSQL up with pg_dump" in result.stderr


async def test_occurrences_follow_prints_new_occurrences_as_they_come(api: Api, database_url: str, tmp_path: Path) -> None:
    first = (await api.post(ORDER_PAID, json={})).json()["occurrence"]
    env = {**os.environ, "CLARION_DATABASE_URL": database_url}
    follower = await asyncio.create_subprocess_exec(
        *clarion_command("occurrences", "--follow"), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert follower.stdout is not None
        line = await asyncio.wait_for(follower.stdout.readline(), 60)
        assert line.decode().startswith(first)
        second = (await api.post(ORDER_PAID, json={})).json()["occurrence"]
        line = await asyncio.wait_for(follower.stdout.readline(), 60)
        assert line.decode().startswith(second)
    finally:
        follower.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(follower.wait(), 30) == 130  # interrupted: the shell's convention
        await follower.communicate()


@pytest.mark.no_db
@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_taken_port_is_one_line_and_exit_1(tmp_path: Path, command: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {"CLARION_DATABASE_URL": f"sqlite:///{tmp_path}/clarion.db"}
        assert clarion("migrate", cwd=tmp_path, env=env).returncode == 0
        result = clarion(command, "--port", str(port), cwd=tmp_path, env=env)
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"clarion: {command} failed: OSError: ") and f"127.0.0.1:{port}" in last
    assert "Traceback" not in result.stderr
