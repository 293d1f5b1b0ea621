"""`make run`: migrate, mint a demo key, start the development mail server, serve."""

import os
import sys
from pathlib import Path

from clarion.__main__ import main as clarion_main
from clarion.devtools.mailsink import start_mail_sink

DEVELOPMENT_CONFIG = "config/development.toml"


def main() -> int:
    os.environ.setdefault("CLARION_CONFIG", DEVELOPMENT_CONFIG)
    for command in (["migrate"], ["demo"]):
        status = clarion_main(command)
        if status:
            return status
    mail_directory = Path("var/mail")
    sink = start_mail_sink(mail_directory)
    print(f"development SMTP server on 127.0.0.1:1025; mail lands in {mail_directory}/", flush=True)
    try:
        return clarion_main(["serve"])
    finally:
        sink.stop()


if __name__ == "__main__":
    sys.exit(main())
