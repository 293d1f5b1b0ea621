"""`clarion admin create-user | list-users | delete-user`, run as subprocesses against the database under test."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from clarion_test_support import BASE_CONFIG, clarion_command


@pytest.fixture
def admin(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    """Run `clarion admin …` with `stdin` as its standard input."""
    config = tmp_path / "clarion.toml"
    config.write_text(BASE_CONFIG)
    env = {**os.environ, "CLARION_CONFIG": str(config), "CLARION_DATABASE_URL": database_url}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            clarion_command("admin", *args), env=env, cwd=tmp_path, input=stdin,
            capture_output=True, text=True, timeout=120,
        )

    return run


def test_create_list_and_delete_an_operator(admin) -> None:  # type: ignore[no-untyped-def]
    created = admin("create-user", "alice", "--password-stdin", stdin="correct-horse\n")
    assert created.returncode == 0, created.stderr
    assert "operator 'alice' created" in created.stdout
    listed = admin("list-users", "--json")
    assert json.loads(listed.stdout) == {"operators": [{"username": "alice", "active": True, "last_login": None}]}
    table = admin("list-users").stdout.splitlines()
    assert table[0].split() == ["USERNAME", "ACTIVE", "LAST", "LOGIN"]
    assert table[1].split() == ["alice", "yes", "never"]
    deleted = admin("delete-user", "alice")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(admin("list-users", "--json").stdout) == {"operators": []}


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("create-user", "bob", "--password-stdin"), "short\n", "clarion: password: The password is too short. (min 6)"),
        (("create-user", "bob"), "", "clarion: password: no terminal to prompt on; pipe it in with --password-stdin"),
        (("create-user", "no spaces", "--password-stdin"), "long-enough\n", "clarion: username 'no spaces': 1 to 100"),
        (("delete-user", "nobody"), None, "clarion: operator 'nobody' does not exist"),
    ],
)
def test_refusals_name_the_problem(admin, args: tuple[str, ...], stdin: str | None, message: str) -> None:  # type: ignore[no-untyped-def]
    result = admin(*args, stdin=stdin)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert json.loads(admin("list-users", "--json").stdout) == {"operators": []}


def test_a_taken_username_is_refused(admin) -> None:  # type: ignore[no-untyped-def]
    assert admin("create-user", "alice", "--password-stdin", stdin="correct-horse\n").returncode == 0
    again = admin("create-user", "alice", "--password-stdin", stdin="another-one\n")
    assert again.returncode == 2
    assert again.stderr.strip() == "clarion: operator 'alice' already exists"
