"""What every `clarion` command shares: the common options, exit statuses and one-line errors."""

import argparse
import socket
import sys
import traceback
import warnings
from importlib.metadata import PackageNotFoundError, version

from clarion.errors import ClarionError
from clarion.settings import SettingsError, load_settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class ClarionCliError(Exception):
    """A usage or input error the user can fix (exit 2); printed as one line, without a traceback."""


def clarion_version() -> str:
    try:
        return version("clarion")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def add_common_options(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """`--config` and `--debug`, on the top-level parser and on every subcommand's.

    A subcommand's copies default to SUPPRESS, so `clarion --config X channels` is not undone by
    the subcommand's parser, and `clarion channels --config X` works too."""
    unset = {} if top_level else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default: $CLARION_CONFIG, else config/clarion.toml when it exists,"
        " else the built-in defaults)",
        **unset,
    )
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of a failure", **unset
    )
    if top_level:
        parser.add_argument("--version", action="version", version=f"clarion {clarion_version()}")


def run_command(args: argparse.Namespace) -> int:
    """Load the settings, run the command; the exit status (module docstring of `clarion.__main__`)."""
    name = args.command.__name__.strip("_").replace("_", " ")
    if not args.debug:  # Piccolo warns (in colour) before the failure that is reported in one line anyway
        warnings.filterwarnings("ignore", message=".*Unable to connect to database")
    try:
        settings = load_settings(args.config) if getattr(args, "needs_settings", True) else None
        return int(args.command(settings, args) or EXIT_OK)
    except (SettingsError, ClarionCliError) as exc:
        print(f"clarion: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ClarionError as exc:
        if not 400 <= exc.status_code < 500:
            return _runtime_failure(args, name, exc)
        print(f"clarion: {exc.detail}", file=sys.stderr)  # refused input (bad value, unknown name): the user's to fix
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _runtime_failure(args, name, exc)


def _runtime_failure(args: argparse.Namespace, name: str, exc: Exception) -> int:
    """One line naming what failed, the traceback only on request (`--debug`)."""
    if args.debug:
        traceback.print_exc()
    print(f"clarion: {name} failed: {describe(exc)}", file=sys.stderr)
    return EXIT_FAILURE


def describe(exc: BaseException) -> str:
    """One line naming what failed: the service's own detail, else the exception's type and first line."""
    if isinstance(exc, ClarionError):
        return exc.detail
    return one_line(exc) + " (--debug: the traceback)"


def one_line(exc: BaseException) -> str:
    """The exception's type and the first line of its message."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def port_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (taken, no such address); None when it can."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None
