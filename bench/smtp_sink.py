"""The SMTP server the email benchmarks send to: aiosmtpd in its own process, on 127.0.0.1.

Accepts every message and appends one line per message to `--log`:
`<arrival, µs since the epoch>\t<Subject>`. The benchmark counts lines to know
when everything has arrived; the bench templates put the occurrence id and the
client's send time into the subject. Runs on uvloop when it is importable.

    python bench/smtp_sink.py --port 2525 --log received.tsv
"""

import argparse
import asyncio
import time
from typing import Any

from aiosmtpd.smtp import SMTP


class Recorder:
    """The aiosmtpd handler: one unbuffered append per accepted message."""

    def __init__(self, log: str) -> None:
        self.out = open(log, "ab", buffering=0)  # noqa: SIM115 - open for the life of the process

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or b""
        start = content.find(b"Subject: ")
        subject = content[start + 9:content.find(b"\r\n", start)] if start >= 0 else b""
        self.out.write(b"%d\t%s\n" % (time.time_ns() // 1000, subject))
        return "250 2.0.0 accepted"


async def serve(port: int, log: str) -> None:
    recorder = Recorder(log)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(recorder, hostname="localhost", ident="bench sink"),
                                      "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ModuleNotFoundError:
        asyncio.run(serve(args.port, args.log))
    else:
        uvloop.run(serve(args.port, args.log))


if __name__ == "__main__":
    main()
