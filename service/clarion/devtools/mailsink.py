"""A development SMTP server that writes every mail it receives to a directory."""

import argparse
import time
from pathlib import Path

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session
except ModuleNotFoundError as exc:  # the wheel does not depend on it: development only
    raise ModuleNotFoundError(
        "clarion.devtools.mailsink is a development tool and needs aiosmtpd: pip install 'clarion[dev]'"
    ) from exc

from clarion.ids import new_id


class MailDirectoryHandler:
    """Stores each message as `<ulid>.eml`, with the envelope in X-Clarion-Envelope-* headers."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        header = (
            f"X-Clarion-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Clarion-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        path = self.directory / f"{new_id()}.eml"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(header + content)
        temporary.rename(path)
        return "250 Message accepted for delivery"


def start_mail_sink(directory: Path, host: str = "127.0.0.1", port: int = 1025) -> Controller:
    controller = Controller(MailDirectoryHandler(directory), hostname=host, port=port)
    controller.start()
    return controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    args = parser.parse_args()
    controller = start_mail_sink(args.dir, args.host, args.port)
    print(f"development SMTP server on {args.host}:{args.port}, writing to {args.dir}/", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()


if __name__ == "__main__":
    main()
