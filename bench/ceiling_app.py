"""The trigger ceiling: the least a Litestar service can do for the same request.

The same route path as Clarion's trigger, the same body decoded into a msgspec
Struct, a 201 with an id — no auth, no database. Served like a tuned
deployment would serve Clarion: uvicorn with uvloop and httptools, one process.
`make bench` measures it with the same wrk script right before Clarion, so
the ratio says how much of what the machine allows Clarion uses.

    python bench/ceiling_app.py --port 8001
"""

import argparse
import itertools
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, post


class TriggerBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    context: dict[str, Any] = {}
    options: dict[str, Any] = {}


class TriggerAnswer(msgspec.Struct, kw_only=True):
    occurrence: str


_ids = itertools.count(1)


@post("/api/o/{org:str}/p/{prj:str}/a/{app:str}/e/{evt:str}/trigger/", status_code=201)
async def trigger(org: str, prj: str, app: str, evt: str, data: TriggerBody) -> TriggerAnswer:
    """Decode the trigger body, answer 201."""
    return TriggerAnswer(occurrence=f"{next(_ids):026d}")


app = Litestar([trigger], openapi_config=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools", access_log=False,
                log_level="warning")


if __name__ == "__main__":
    main()
