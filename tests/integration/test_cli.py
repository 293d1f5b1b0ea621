"""The `clarion` command line, run as a subprocess against the database under test."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from catalog_fixtures import SPEC_CATALOG
from clarion_test_support import BASE_CONFIG, REPO, clarion_command


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "clarion.toml"
    path.write_text(BASE_CONFIG)
    return path


@pytest.fixture
def run(config_file: Path, database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(*args: str, config: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "CLARION_CONFIG": str(config or config_file),
            "CLARION_DATABASE_URL": database_url,
        }
        result = subprocess.run(
            clarion_command(*args), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    return run


def _toml(value: Any, prefix: str = "") -> str:
    """Enough TOML writing for a catalog: arrays of tables become inline JSON-like arrays."""
    return "organizations = " + _inline(value["organizations"]) + "\n"


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {_inline(v)}' for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return json.dumps(value)


def test_migrate_is_repeatable(run) -> None:  # type: ignore[no-untyped-def]
    result = run("migrate")
    assert "applied 0 migration(s)" in result.stdout


@pytest.mark.parametrize("suffix", [".json", ".toml", ".yaml"])
def test_apply_prints_created_keys_once(run, tmp_path: Path, suffix: str) -> None:  # type: ignore[no-untyped-def]
    file = tmp_path / f"catalog{suffix}"
    if suffix == ".json":
        file.write_text(json.dumps(SPEC_CATALOG))
    elif suffix == ".toml":
        file.write_text(_toml(SPEC_CATALOG))
    else:
        file.write_text(yaml.safe_dump(SPEC_CATALOG))
    first = json.loads(run("apply", str(file)).stdout)
    token = first["api_keys"]["acme/shop-backend"]
    assert token.startswith("clk_")
    assert json.loads(run("apply", str(file)).stdout) == {"api_keys": {}}


def test_apply_never_reactivates_a_revoked_key_and_says_so(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    catalog = json.loads(json.dumps(SPEC_CATALOG))
    file = tmp_path / "catalog.json"
    file.write_text(json.dumps(catalog))
    assert list(json.loads(run("apply", str(file)).stdout)["api_keys"]) == ["acme/shop-backend"]
    catalog["organizations"][0]["api_keys"][0]["active"] = False  # the catalog revokes it
    file.write_text(json.dumps(catalog))
    revoking = run("apply", str(file))
    assert json.loads(revoking.stdout) == {"api_keys": {}} and revoking.stderr == ""
    catalog["organizations"][0]["api_keys"][0]["active"] = True
    file.write_text(json.dumps(catalog))
    for _ in range(2):  # every apply says so, one line per key
        again = run("apply", str(file))
        assert json.loads(again.stdout) == {"api_keys": {}}
        assert again.stderr.splitlines() == [
            "acme/shop-backend: the key is revoked; apply does not reactivate it"
            " (give it another name to mint a new key)"
        ]


def test_apply_refuses_a_webhook_secret_that_cannot_sign(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(json.dumps(SPEC_CATALOG))
    document["organizations"][0]["users"][0]["assignments"] = [
        {"address": "hook", "channel": "webhook", "secret": "not-a-secret"}
    ]
    file = tmp_path / "bad-secret.json"
    file.write_text(json.dumps(document))
    result = run("apply", str(file), check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().endswith(
        "organizations[0].users[0].assignments[0].secret: expected 'whsec_' followed by the base64 of a 24 to 64"
        " byte key (it does not start with 'whsec_')"
    ), result.stderr
    assert "not-a-secret" not in result.stderr and result.stdout == ""


def test_apply_bad_file_fails_naming_the_entry(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(json.dumps(SPEC_CATALOG))
    document["organizations"][0]["api_keys"][0]["grants"] = ["nope"]
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(document))
    result = run("apply", str(file), check=False)
    assert result.returncode == 2
    assert "organizations[0].api_keys[0].grants: unknown grant 'nope'" in result.stderr
    assert "Traceback" not in result.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    result = run("apply", str(garbage), check=False)
    assert result.returncode == 2 and "not valid json" in result.stderr


@pytest.mark.parametrize("suffix", [".json", ".toml", ".yaml"])
def test_apply_of_a_key_expiry_past_year_9999_in_utc_fails_naming_it(  # type: ignore[no-untyped-def]
    run, tmp_path: Path, suffix: str
) -> None:
    document = json.loads(json.dumps(SPEC_CATALOG))
    document["organizations"][0]["api_keys"][0]["expires_at"] = "9999-12-31T23:59:59-14:00"
    file = tmp_path / f"far{suffix}"
    if suffix == ".json":
        file.write_text(json.dumps(document))
    elif suffix == ".toml":  # a TOML offset date-time, not a string
        file.write_text(_toml(document).replace('"9999-12-31T23:59:59-14:00"', "9999-12-31T23:59:59-14:00"))
    else:  # YAML reads it as a timestamp too
        file.write_text(yaml.safe_dump(document).replace("'9999-12-31T23:59:59-14:00'", "9999-12-31T23:59:59-14:00"))
    result = run("apply", str(file), check=False)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"clarion: {file}: organizations[0].api_keys[0].expires_at: out of range:"
        " in UTC it must fall between years 1 and 9999\n"
    )


def test_apply_on_an_unmigrated_database_says_migrate(tmp_path: Path, config_file: Path) -> None:
    file = tmp_path / "c.json"
    file.write_text(json.dumps(SPEC_CATALOG))
    env = {**os.environ, "CLARION_CONFIG": str(config_file), "CLARION_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"}
    result = subprocess.run(clarion_command("apply", str(file)), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1  # a runtime failure, not a usage error
    assert result.stderr == "clarion: apply failed: the database is not migrated: run `clarion migrate` first\n"


def test_demo_mints_a_fresh_key_each_time(run) -> None:  # type: ignore[no-untyped-def]
    first = run("demo").stdout
    second = run("demo").stdout
    token_1 = first.split("Demo key (shown once): ")[1].split()[0]
    token_2 = second.split("Demo key (shown once): ")[1].split()[0]
    assert token_1 != token_2
    assert "curl" in second and "/api/o/demo/p/web/a/shop/e/order-paid/trigger/" in second


def test_config_check(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert ": ok (2 channel(s))" in run("config", "check").stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(BASE_CONFIG.replace("port = 1\n", 'port = "smtp"\n'))
    result = run("config", "check", config=bad, check=False)
    assert result.returncode == 2
    assert "channels.email.options.port" in result.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[server]\nport = 'x'\n")
    result = run("config", "check", config=broken, check=False)
    assert result.returncode == 2 and "server.port: expected int, got str" in result.stderr


def test_config_check_never_prints_a_secret(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    password = tmp_path / "smtp-password"
    password.write_text("smtp-pass-5b1d0c3a\n")
    config = tmp_path / "leaky.toml"
    config.write_text(BASE_CONFIG.replace('sender = "', f'sender = {{ "$file" = "{password}" }}\n# was: sender = "'))
    result = run("config", "check", config=config, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == f"clarion: {config}: channels.email.options: sender is not a mailbox: '********'"
    assert "smtp-pass" not in result.stderr + result.stdout


def test_shipped_configs_pass_config_check(run) -> None:  # type: ignore[no-untyped-def]
    for name in ("clarion.toml", "development.toml"):
        assert ": ok" in run("config", "check", config=REPO / "config" / name).stdout


def test_channels_lists_type_state_and_plugin(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "channels.toml"
    config.write_text(BASE_CONFIG.replace('[channels.webhook]\ntype = "webhook"\nenabled = true', '[channels.webhook]\ntype = "webhook"\nenabled = false'))
    listing = json.loads(run("channels", "--json", config=config).stdout)
    by_name = {channel["name"]: channel for channel in listing["channels"]}
    assert by_name["email"]["type"] == "email" and by_name["email"]["enabled"] is True
    assert by_name["webhook"]["enabled"] is False
    assert "clarion_channels.email" in by_name["email"]["plugin"]
    text = run("channels", config=config).stdout
    assert "webhook" in text and "no" in text


def test_channels_lists_the_apprise_type_as_unavailable_without_the_extra(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With Apprise not importable (as without `clarion[apprise]`), the type is listed with its install command."""
    shadow = tmp_path / "no-apprise"
    (shadow / "apprise").mkdir(parents=True)
    (shadow / "apprise" / "__init__.py").write_text("raise ImportError(\"No module named 'apprise'\")\n")
    config = tmp_path / "chat.toml"
    config.write_text(BASE_CONFIG + '\n[channels.chat]\ntype = "apprise"\nenabled = true\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(shadow), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        clarion_command("--config", str(config), "channels"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "chat                 apprise      yes      (not installed: pip install 'clarion[apprise]')" in result.stdout
    assert "plugin clarion_channels.apprise is unavailable (apprise): the apprise channel needs the Apprise library" in result.stdout
    assert "install it with: pip install 'clarion[apprise]'" in result.stdout
    listing = json.loads(
        subprocess.run(
            clarion_command("--config", str(config), "channels", "--json"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True
        ).stdout
    )
    assert listing["failures"] == []
    assert [(item["name"], item["install"], item["channel_types"]) for item in listing["unavailable"]] == [
        ("clarion_channels.apprise", "pip install 'clarion[apprise]'", ["apprise"])
    ]
    assert {channel["name"]: channel["install"] for channel in listing["channels"]}["chat"] == "pip install 'clarion[apprise]'"


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_serve_logs_in_the_configured_format(tmp_path: Path, database_url: str, log_format: str) -> None:
    import httpx

    from clarion_test_support import free_port

    port = free_port()
    config = tmp_path / f"{log_format}.toml"
    config.write_text(BASE_CONFIG + f'\n[logging]\nformat = "{log_format}"\nlevel = "info"\n')
    env = {**os.environ, "CLARION_CONFIG": str(config), "CLARION_DATABASE_URL": database_url}
    process = subprocess.Popen(
        clarion_command("serve", "--port", str(port)), env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                import time

                time.sleep(0.1)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert any("Application startup complete" in line for line in lines), stderr
    if log_format == "json":
        entries = [json.loads(line) for line in lines]
        assert {"time", "level", "logger", "message"} <= set(entries[0])
        assert any(entry["logger"] == "clarion_plugins.manager" for entry in entries)
    else:
        assert all(not line.startswith("{") for line in lines)
        assert any(" INFO clarion_plugins.manager: " in line for line in lines)
