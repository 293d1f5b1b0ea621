"""`make run`: migrate, mint a demo key, set a development console login, start the development mail server, serve."""

import os
import sys
from pathlib import Path

from clarion.__main__ import main as clarion_main
from clarion.cli.common import port_problem
from clarion.console.commands import development_login
from clarion.devtools.mailsink import start_mail_sink
from clarion.settings import load_settings

DEVELOPMENT_CONFIG = "config/development.toml"
MAIL_DIRECTORY = Path("var/mail")


def taken_port_problem(host: str, port: int, what: str, key: str) -> str | None:
    """A sentence naming the port when something already listens on it; None when it is free."""
    if port_problem(host, port) is None:
        return None
    return (
        f"make run: {what} port {host}:{port} is taken: stop what uses it"
        f" (`ss -ltnp 'sport = :{port}'` shows it) or change {key} in {os.environ['CLARION_CONFIG']}"
    )


def main() -> int:
    os.environ.setdefault("CLARION_CONFIG", DEVELOPMENT_CONFIG)
    settings = load_settings()
    smtp = settings.channels["email"].options
    host, port = smtp.get("host", "127.0.0.1"), int(smtp.get("port", 1025))
    print(f"make run: configuration {os.environ['CLARION_CONFIG']}", flush=True)
    for problem in (
        taken_port_problem(settings.server.host, settings.server.port, "HTTP", "server.port"),
        taken_port_problem(host, port, "development SMTP", "channels.email.options.port"),
    ):
        if problem:
            print(problem, file=sys.stderr)
            return 1
    for command in (["migrate"], ["demo"]):
        status = clarion_main(command)
        if status:
            return status
    if settings.admin.enabled:
        print(development_login(settings), flush=True)
    sink = start_mail_sink(MAIL_DIRECTORY, host, port)
    print(f"\nDevelopment SMTP server on {host}:{port}; mail lands in {MAIL_DIRECTORY}/", flush=True)
    try:
        return clarion_main(["serve"])
    finally:
        sink.stop()


if __name__ == "__main__":
    sys.exit(main())
