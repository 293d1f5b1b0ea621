"""`make run`: migrate, mint a demo key, set a development console login, start the development mail server, serve."""

import os
import sys
from pathlib import Path

from clarion.__main__ import main as clarion_main
from clarion.console.commands import development_login
from clarion.devtools.mailsink import start_mail_sink
from clarion.settings import load_settings

DEVELOPMENT_CONFIG = "config/development.toml"
MAIL_DIRECTORY = Path("var/mail")


def main() -> int:
    os.environ.setdefault("CLARION_CONFIG", DEVELOPMENT_CONFIG)
    for command in (["migrate"], ["demo"]):
        status = clarion_main(command)
        if status:
            return status
    settings = load_settings()
    if settings.admin.enabled:
        print(development_login(settings), flush=True)
    smtp = settings.channels["email"].options
    host, port = smtp.get("host", "127.0.0.1"), int(smtp.get("port", 1025))
    sink = start_mail_sink(MAIL_DIRECTORY, host, port)
    print(f"\nDevelopment SMTP server on {host}:{port}; mail lands in {MAIL_DIRECTORY}/", flush=True)
    try:
        return clarion_main(["serve"])
    finally:
        sink.stop()


if __name__ == "__main__":
    sys.exit(main())
