"""The HTTP server the webhook benchmarks post to: a bare ASGI app on uvicorn + uvloop + httptools.

Answers every request 204 and appends one line per request to `--log`:
`<arrival, µs since the epoch>\t<occurrence>\t<data.sent_us>\t<path>` (the
last three from Clarion's standard webhook payload, empty when absent). Runs
in its own process so it never competes with the sender's event loop.

    python bench/webhook_sink.py --port 8081 --log received.tsv
"""

import argparse
import json
import time
from typing import Any

import uvicorn


def recorder(log: str) -> Any:
    out = open(log, "ab", buffering=0)  # noqa: SIM115 - open for the life of the process

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        at = time.time_ns() // 1000
        occurrence = sent = ""
        try:
            payload = json.loads(b"".join(chunks))
            occurrence = str(payload.get("occurrence", ""))
            sent = str((payload.get("data") or {}).get("sent_us", ""))
        except (ValueError, AttributeError):
            pass
        out.write(f"{at}\t{occurrence}\t{sent}\t{scope['path']}\n".encode())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    uvicorn.run(recorder(args.log), host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                lifespan="off", access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
