"""Channels follow the configuration file of a running process: on change and on SIGHUP."""

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest
from clarion_test_support import BASE_CONFIG

from clarion.process import open_runtime
from clarion.settings import load_settings


async def wait_for(condition, timeout: float = 2.0) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `condition()` held; fails after `timeout`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        if loop.time() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)
    return loop.time() - start


@pytest.fixture
def config_file(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLARION_DATABASE_URL", database_url)
    path = tmp_path / "clarion.toml"
    path.write_text(BASE_CONFIG)
    return path


def rewrite(path: Path, text: str) -> None:
    temporary = path.with_suffix(".new")
    temporary.write_text(text)
    temporary.replace(path)


async def test_editing_the_file_toggles_a_channel_within_two_seconds(config_file: Path) -> None:
    async with open_runtime(load_settings(config_file), dispatcher=False) as runtime:
        assert runtime.channels.state("webhook") == "enabled"
        webhook = runtime.channels.channel("webhook")
        rewrite(config_file, BASE_CONFIG.replace('type = "webhook"\nenabled = true', 'type = "webhook"\nenabled = false'))
        await wait_for(lambda: runtime.channels.state("webhook") == "disabled")
        assert runtime.channels.channel("webhook") is webhook, "a toggle must not re-open the channel"
        assert runtime.settings.channels["webhook"].enabled is False

        rewrite(config_file, BASE_CONFIG + '\n[channels.ops-hook]\ntype = "webhook"\n')
        await wait_for(lambda: runtime.channels.state("ops-hook") == "enabled")
        assert runtime.channels.state("webhook") == "enabled"

        rewrite(config_file, BASE_CONFIG.split("[channels.webhook]")[0])
        await wait_for(lambda: runtime.channels.state("webhook") == "unknown")
        assert runtime.channels.state("ops-hook") == "unknown"
        assert runtime.channels.state("email") == "enabled"


async def test_a_broken_file_is_refused_and_the_last_good_config_stays(
    config_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="clarion.channels.reload")
    async with open_runtime(load_settings(config_file), dispatcher=False) as runtime:
        rewrite(config_file, BASE_CONFIG.replace("enabled = true", "enabled = 'sometimes'", 1))
        await wait_for(lambda: "rejected" in caplog.text)
        assert "channels.email.enabled: expected bool, got str" in caplog.text
        assert runtime.channels.state("email") == "enabled"

        caplog.clear()
        rewrite(config_file, BASE_CONFIG.replace("port = 1\n", 'port = "smtp"\n'))
        await wait_for(lambda: "rejected" in caplog.text)
        assert "channels.email.options.port" in caplog.text
        assert runtime.channels.state("email") == "enabled"

        rewrite(config_file, BASE_CONFIG.replace('type = "email"\nenabled = true', 'type = "email"\nenabled = false'))
        await wait_for(lambda: runtime.channels.state("email") == "disabled")


async def test_sighup_reloads_and_other_sections_say_restart_needed(
    config_file: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import clarion.channels.reload as reload

    monkeypatch.setattr(reload, "WATCH_INTERVAL_S", 3600.0)  # only SIGHUP can trigger the reload
    caplog.set_level(logging.INFO, logger="clarion.channels.reload")
    async with open_runtime(load_settings(config_file), dispatcher=False) as runtime:
        config_file.write_text(
            BASE_CONFIG.replace('type = "email"\nenabled = true', 'type = "email"\nenabled = false')
            + "\n[server]\nport = 9999\n"
        )
        await asyncio.sleep(0.2)
        assert runtime.channels.state("email") == "enabled"
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_for(lambda: runtime.channels.state("email") == "disabled")
        assert "restart needed" in caplog.text and "server" in caplog.text
