"""The desktop app's command: `gui` (also what `poems-monitor` alone runs)."""

from __future__ import annotations

import argparse

from poems_monitor.i18n import tr


def register(sub, common) -> None:  # noqa: ANN001
    p = sub.add_parser("gui", parents=[common], help=tr("open the desktop app"))
    p.add_argument("--demo", action="store_true", help=tr("open a fresh demo clinic in a temporary database"))
    p.add_argument("--screenshot", metavar="FILE.png", help=tr("render one screen headless, save it, and exit"))
    p.add_argument("--mrn", help=tr("patient to show"))
    p.add_argument("--view", choices=("dashboard", "features", "entry", "worklist"), default="dashboard")
    p.add_argument("--size", default="1600x1000", metavar="WxH")
    p.set_defaults(handler=cmd_gui)


def cmd_gui(args: argparse.Namespace) -> int:
    from poems_monitor.app import parse_size, run_app
    from poems_monitor.cli import EXIT_INVALID, CommandError

    if args.screenshot:
        try:
            parse_size(args.size)
        except ValueError as exc:  # the person's typing, not a defect: said as such, exit 2
            raise CommandError(str(exc), EXIT_INVALID) from None
    return run_app(args)
