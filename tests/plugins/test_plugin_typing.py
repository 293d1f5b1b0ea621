"""A plugin author's type checker passes cleanly: `mypy --strict` on the plugin API, the built-in
channels and the sample plugin written against the API (configuration: `[tool.mypy]` in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_db

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module: the second run re-checks only what it adds."""
    return tmp_path_factory.mktemp("mypy-cache")


def mypy_strict(*paths: str | Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), *map(str, paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )


def test_the_plugin_api_the_built_in_channels_and_the_sample_plugin_pass_mypy_strict(mypy_cache: Path) -> None:
    checked = mypy_strict(
        "plugins/clarion_plugins",
        "channels/clarion_channels",
        "examples/clarion-sms-example/clarion_sms_example",
        cache=mypy_cache,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("Success: no issues found"), checked.stdout


def test_mypy_strict_still_catches_a_wrong_plugin(tmp_path: Path, mypy_cache: Path) -> None:
    """The check above can fail: a plugin registering something that is not a channel type is an error."""
    plugin = tmp_path / "wrong_plugin.py"
    plugin.write_text(
        textwrap.dedent(
            """
            from collections.abc import Callable

            from clarion_plugins import Channel, hookimpl


            class NotAChannel:
                type_name = "nope"


            @hookimpl
            def register_channel_types(register: Callable[[type[Channel]], None]) -> None:
                register(NotAChannel)
            """
        )
    )
    checked = mypy_strict("plugins/clarion_plugins", plugin, cache=mypy_cache)
    assert checked.returncode == 1, checked.stdout
    assert 'Argument 1 has incompatible type "type[NotAChannel]"' in checked.stdout, checked.stdout
