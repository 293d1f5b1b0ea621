"""Delivery ceilings: the same libraries Clarion sends with, with nothing around them.

`smtp`: aiosmtplib clients on `--connections` reused connections (Clarion's
email channel keeps 8) send `--messages` emails built like Clarion's (text +
HTML alternative, the same headers) to the bench SMTP sink.
`webhook`: one aiohttp session, `--concurrency` POSTs in flight (Clarion's
webhook channel allows 32) of a standard-payload-sized JSON body to the bench
webhook sink.

Runs in its own process on the default asyncio loop, as Clarion does when
installed by default. Prints one JSON line: messages, seconds, messages per second.

    python bench/ceiling_clients.py smtp --port 2525 --messages 2000
    python bench/ceiling_clients.py webhook --port 8081 --messages 6000
"""

import argparse
import asyncio
import itertools
import json
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

TEXT = "Hi User{n}, order A1 of 10.00 was paid (GOLD, Mail burst)."
HTML = "<p>Hi User{n}, order <b>A1</b> of 10.00 was paid.</p>"


def email(n: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Clarion <clarion@localhost>"
    message["To"] = f"u{n % 10}@example.com"
    message["Subject"] = f"ceiling-{n:020d}"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<ceiling-{n}@localhost>"
    message["Clarion-Delivery-Id"] = f"ceiling-{n}"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(TEXT.format(n=n))
    message.add_alternative(HTML.format(n=n), subtype="html")
    return message


async def smtp_ceiling(port: int, messages: int, connections: int) -> float:
    import aiosmtplib

    numbers = iter(range(messages))

    async def connection() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="localhost", start_tls=False)
        await client.connect()
        try:
            for n in numbers:
                await client.send_message(email(n), sender="clarion@localhost", recipients=[f"u{n % 10}@example.com"])
        finally:
            await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return time.perf_counter() - started


async def webhook_ceiling(port: int, messages: int, concurrency: int) -> float:
    import aiohttp

    numbers = iter(range(messages))
    context = {"order_id": "A1", "amount": "10.00", "customer": {"id": 42, "tier": "gold"}}
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector, headers={"user-agent": "Clarion-Webhooks"}) as session:
        async def sender() -> None:
            for n in numbers:
                body = json.dumps({"type": "hook-burst", "occurrence": f"ceiling-{n}",
                                   "timestamp": datetime.now(UTC).isoformat(), "data": context}).encode()
                headers = {"webhook-id": f"ceiling-{n}", "webhook-timestamp": str(int(time.time())),
                           "content-type": "application/json"}
                async with session.post(f"http://127.0.0.1:{port}/hooks/u{n % 10}", data=body, headers=headers,
                                        allow_redirects=False) as response:
                    await response.read()
                    if response.status >= 300:
                        raise SystemExit(f"webhook sink answered {response.status}")

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in itertools.repeat(None, concurrency)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("smtp", "webhook"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--connections", type=int, default=8, help="smtp: reused connections")
    parser.add_argument("--concurrency", type=int, default=32, help="webhook: requests in flight")
    args = parser.parse_args()
    if args.kind == "smtp":
        seconds = asyncio.run(smtp_ceiling(args.port, args.messages, args.connections))
    else:
        seconds = asyncio.run(webhook_ceiling(args.port, args.messages, args.concurrency))
    print(json.dumps({"kind": args.kind, "messages": args.messages, "seconds": round(seconds, 4),
                      "per_s": round(args.messages / seconds, 1)}))


if __name__ == "__main__":
    main()
