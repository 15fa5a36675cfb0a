"""The `poems-monitor` command line (INTERFACES.md section 1): parsing, the acting user, and
turning errors into plain sentences on stderr with the documented exit codes.

Each group of commands lives in its own module with a `register(subparsers)` function; this
module only assembles them. The commands call the same services as the desktop app, headless.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from poems_monitor import incident
from poems_monitor.i18n import tr

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_UNREACHABLE = 3  # the clinic server did not answer: nothing is known about the data (never "damaged")
EXIT_UNEXPECTED = incident.EXIT_UNEXPECTED  # 4: an unexpected error (a defect); its id and the log file are named


class CommandError(Exception):
    """A user error: printed as one sentence, no traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


class _NotTheDesktopApp(Exception):
    """The desktop app's parser cannot read the command line: the full parser reads it (and says why)."""


class _DesktopAppParser(argparse.ArgumentParser):
    """A parser that raises instead of printing and leaving: its refusal only means "not `gui`"."""

    def error(self, message: str) -> NoReturn:
        raise _NotTheDesktopApp(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _NotTheDesktopApp(message or "")


def build_parser(*, desktop_app_only: bool = False) -> argparse.ArgumentParser:
    """The whole command line; `desktop_app_only`: only the `gui` command, with the same global
    options, in a parser that raises _NotTheDesktopApp where argparse would print and exit."""
    from poems_monitor.cli import app_commands
    from poems_monitor.cli.version import ShowVersion
    from poems_monitor.i18n import translate_argparse

    groups = [app_commands]
    if not desktop_app_only:
        from poems_monitor.cli import profiles, records, reports, response, rules, safety, server

        groups = [app_commands, records, rules, safety, reports, response, server, profiles]
        translate_argparse()  # "usage:", "options" and argparse's error sentences in the chosen language
    parser = (_DesktopAppParser if desktop_app_only else argparse.ArgumentParser)(
        prog="poems-monitor",
        description=tr("Follow-up of patients with POEMS syndrome: desktop app and clinic commands."),
    )
    # The global options go before or after the command (INTERFACES.md section 1): the main parser
    # holds their defaults, and each command's copy is SUPPRESSed when absent, so that a value
    # given before the command is not overwritten by the command's empty default.
    _add_global_options(parser, default=None)
    parser.add_argument("--version", action=ShowVersion, help=tr("print the version and the rules fingerprint, then exit"))
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Every command group imported by name: a frozen bundle missing one fails here, loudly,
    # instead of quietly offering fewer commands.
    for module in groups:
        module.register(sub, common)
    parser.set_defaults(handler=None, _common=common)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--db", metavar="URL_OR_PATH", default=default,
                        help=tr("SQLite file or SQLAlchemy URL (default: the user's data folder)"))
    parser.add_argument("--profile", metavar="NAME", default=default,
                        help=tr("open a saved connection instead of --db (see `poems-monitor profiles list`)"))
    parser.add_argument("--user", metavar="NAME", default=default,
                        help=tr("who is acting, for the audit trail (default: your login name)"))
    parser.add_argument("--password-file", metavar="FILE", default=default,
                        help=tr("read the acting account's password from the first line of FILE (default: asked on a terminal)"))
    parser.add_argument("--allow-weak-tls", action="store_true", default=default, help=tr(
        "accept a TLS mode weaker than verify-full for a server that is not this computer (not recommended)"))


def _reader_gone() -> int:
    """`poems-monitor worklist | head`: the reader has read enough and closed the pipe. That is
    no failure: stop quietly, and point stdout at nothing so the interpreter's last flush at
    exit does not complain either."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_OK


def _server_refusal(exc: Exception) -> Exception | None:
    """The clinic server's own refusal (a role without the right, SQLSTATE 42501) as a sentence."""
    from poems_monitor.services.access import PermissionDenied

    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) != "42501":
        return None
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return PermissionDenied(tr("The clinic server refused this change ({reason}); nothing was changed.").format(
        reason=first))


def main(argv: list[str] | None = None) -> int:
    from poems_monitor.garbage_collector import pause_collector

    # Loading the command's modules allocates in bursts that would trigger collections of a growing
    # heap: none until its handler starts (the desktop app keeps them off until its first paint).
    resume_collector = pause_collector()
    try:
        return _run(argv, resume_collector)
    finally:
        resume_collector()


def _desktop_app_arguments(argv: list[str]) -> argparse.Namespace | None:
    """The arguments when `argv` opens the desktop app (`gui`, or no command), read without loading
    the other commands' modules and help texts (cold start); None otherwise, or when the line has a
    mistake: then the full parser reads it, as for any command, and names the mistake. The same
    global options and `gui` parser as the full one, so whatever this one accepts, that one reads
    the same way."""
    if any(a == "-h" or (len(a) > 2 and ("--help".startswith(a) or "--version".startswith(a))) for a in argv):
        return None  # (they print and leave: their text is the full parser's; "--vers": argparse's abbreviations)
    parser = build_parser(desktop_app_only=True)
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            args = parser.parse_args([*argv, "gui"])
    except _NotTheDesktopApp:
        return None
    return args if args.command == "gui" else None


def parse_command_line(argv: list[str]) -> tuple[argparse.ArgumentParser | None, argparse.Namespace]:
    """The parsed command line, and the full parser when it was needed (None: the desktop app's)."""
    args = _desktop_app_arguments(argv)
    if args is not None:
        return None, args
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None and not any(a in ("-h", "--help") for a in argv):
        args = parser.parse_args([*argv, "gui"])  # `poems-monitor [--db F]` alone opens the desktop app
    return parser, args


def _run(argv: list[str] | None, resume_collector: Callable[[], None]) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, args = parse_command_line(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        (parser or build_parser()).print_help()
        return EXIT_INVALID
    from poems_monitor.logging_setup import configure_logging

    configure_logging()
    if args.command != "gui":  # the desktop app loads the database layers after its window (and says it its own way)
        from poems_monitor.persistence.db import on_write_wait

        on_write_wait(lambda: print(tr("Waiting for another write to the clinic database (for example a long import) to "
                                       "finish…"), file=sys.stderr, flush=True))
    try:
        from poems_monitor.cli.profiles import check_typed_urls, resolve_profile

        resolve_profile(args)
        check_typed_urls(args)
        resume_collector()
        code = handler(args)
        sys.stdout.flush()  # here, so that a reader that has gone away is noticed below
        return code
    except BrokenPipeError:
        return _reader_gone()
    except CommandError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(tr("Interrupted; nothing half-written was kept."), file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 (logged by record_unexpected) a user never sees a traceback
        from poems_monitor.files import TargetRefused
        from poems_monitor.persistence.db import DatabaseError, ServerUnreachable, connection_problem
        from poems_monitor.services.access import PermissionDenied

        target = getattr(args, "url", None) or getattr(args, "db", None) or ""
        if not isinstance(exc, DatabaseError) and "://" in str(target) and not str(target).startswith("sqlite"):
            exc = connection_problem(exc, str(target)) or _server_refusal(exc) or exc  # the server went away mid-command
        if isinstance(exc, ServerUnreachable):
            print(str(exc), file=sys.stderr)
            return EXIT_UNREACHABLE
        if isinstance(exc, (PermissionDenied, TargetRefused)):
            print(str(exc), file=sys.stderr)
            return EXIT_FAILED
        if isinstance(exc, DatabaseError):  # may quote the server's error text
            from poems_monitor.logging_setup import scrub

            print(scrub(str(exc)), file=sys.stderr)
            return EXIT_FAILED
        from poems_monitor.incident import one_sentence, record_unexpected

        # a defect, not a user's error: the traceback to the log (scrubbed), one sentence here with the
        # exception's type and an error id, never its text (it may quote the record)
        print(one_sentence(record_unexpected(sys.exc_info(), f"command {args.command}")), file=sys.stderr)
        return EXIT_UNEXPECTED
