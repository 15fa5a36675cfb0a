"""The `response` command: the response per line of therapy of one patient (INTERFACES.md
section 5) and the patient's status; `--json` prints the documented document, a readable table
without it."""

from __future__ import annotations

import argparse

from poems_monitor.cli import EXIT_OK
from poems_monitor.cli.context import open_db
from poems_monitor.cli.rules import _as_of, _print_json, _table, _unknown_mrn
from poems_monitor.i18n import tr


def register(sub, common) -> None:  # noqa: ANN001
    p = sub.add_parser("response", parents=[common],
                       help=tr("print the response per line of therapy of one patient (format: docs/formats.md)"))
    p.add_argument("--mrn", required=True, help=tr("the patient"))
    p.add_argument("--as-of", metavar="DATE", help=tr("the date the rules look from (YYYY-MM-DD; default today)"))
    p.add_argument("--json", action="store_true", help=tr("print JSON (the documented format)"))
    p.set_defaults(handler=cmd_response)


def cmd_response(args: argparse.Namespace) -> int:
    from poems_monitor.services.response import patient_response

    as_of = _as_of(args)
    try:
        result = patient_response(open_db(args), args.mrn, as_of)
    except KeyError as exc:
        raise _unknown_mrn(exc) from None
    if args.json:
        _print_json(result.to_json())
        return EXIT_OK
    print(tr("{name} ({mrn}) as of {date}: {status}. {why}").format(
        name=result.name, mrn=result.mrn, date=as_of.isoformat(), status=result.status.headline,
        why=result.status.explanation))
    if not result.lines:
        print(tr("No line of therapy recorded."))
        return EXIT_OK
    rows = []
    for line in result.lines:
        for d in line.domains:
            why = "; ".join(x for x in (d.reason, d.evidence) if x)
            rows.append((line.label, line.period, d.domain, d.category, f"{why} [{d.rule}]"))
    print(_table((tr("Line"), tr("Period"), tr("Domain"), tr("Category"), tr("Values, dates and rule")), rows))
    return EXIT_OK
