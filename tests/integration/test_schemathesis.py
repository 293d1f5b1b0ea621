"""Every operation conforms to the served schema (issue 11 §4b), on the engine under test.

Schemathesis (its command line, so the run is exactly what a user would run)
reads `/schema/openapi.json` of a real `clarion serve` and, with a
full-access key, sends generated requests to every operation with its default
checks: no 5xx, every status and response body (and header, content type and
`Allow` of `OPTIONS`) as the schema documents it, and data the schema forbids
refused with a 4xx. The examples per operation are bounded so that the run
stays near a minute per engine.

One default check is left out: `positive_data_acceptance`, which expects
every request the schema allows to succeed. Clarion refuses, with a 400 naming
the field, requests that are well-formed but refer to what does not exist or
clash with the configuration — a channel that is not configured, a
distribution list of another project, a cursor it did not issue, a user with
neither username nor e-mail — which a schema cannot express.
"""

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from events_api_support import CATALOG
from served_clarion import SERVER_CONFIG, clarion_server, seed_database

MAX_EXAMPLES = 5
# The catalog's organization, project, application and event: with random slugs every request would stop at
# the scope check (403) or the lookup (404) and no body would ever be decoded. Other path values stay random.
CONFIG = """
[parameters]
"path.org" = "acme"
"path.prj" = "web"
"path.app" = "shop"
"path.evt" = "order-paid"
"path.key_id" = {key_id}
"""
RUN_TIMEOUT_S = 240  # a bound for a hung run; a normal run takes about a minute on a loaded machine

pytestmark = pytest.mark.slow


async def test_every_operation_conforms_to_the_schema(tmp_path: Path, database_url: str) -> None:
    tokens = await seed_database(database_url, CATALOG)
    admin = {"Authorization": f"Key {tokens['acme/org-all']}"}
    async with clarion_server(tmp_path, database_url, config_text=SERVER_CONFIG) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=admin) as client:
            # What the run may revoke is a key of its own (a random id could be the run's own key), and the
            # event has an occurrence, so deleting it is refused (409) instead of leaving every later case a 404.
            throwaway = await client.post("/api/o/acme/keys/", json={"name": "throwaway", "grants": ["system:ping"]})
            triggered = await client.post("/api/o/acme/p/web/a/shop/e/order-paid/trigger/", json={})
            assert (throwaway.status_code, triggered.status_code) == (201, 201)
        schemathesis = Path(sys.executable).with_name("schemathesis")
        config = tmp_path / "schemathesis.toml"
        config.write_text(CONFIG.format(key_id=throwaway.json()["id"]))
        result = subprocess.run(
            [
                str(schemathesis), "--config-file", str(config), "run", f"{server.url}/schema/openapi.json",
                "--header", f"Authorization: {admin['Authorization']}",
                "--exclude-checks", "positive_data_acceptance",
                "--max-examples", str(MAX_EXAMPLES),
                "--workers", "1",
                "--seed", "20261208",
                "--no-color",
            ],
            capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False, cwd=tmp_path,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert re.search(r"(\d+) generated, \1 passed", output), output[-20000:]  # every case passed every check
