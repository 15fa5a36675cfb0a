"""Commands on the record itself: demo, import, export."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from poems_monitor.cli import EXIT_INVALID, EXIT_OK, CommandError
from poems_monitor.cli.context import actor, open_db, open_existing_db
from poems_monitor.cli.progress import progress_bar
from poems_monitor.i18n import counted, ntr, tr


def register(sub, common) -> None:  # noqa: ANN001
    p = sub.add_parser("demo", parents=[common], help=tr("fill the database with synthetic demo patients"))
    p.add_argument("--patients", type=int, required=True, metavar="N")
    p.add_argument("--seed", type=int, default=1, metavar="S")
    p.add_argument("--yes", action="store_true",
                   help=tr("add them even though the database holds real patients"))
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("import", parents=[common], help=tr("import a patient-timeline JSON file"))
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("export", parents=[common], help=tr("write a patient-timeline JSON file"))
    p.add_argument("--mrn")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_export)


def cmd_demo(args: argparse.Namespace) -> int:
    from poems_monitor.services.demo_clinic import create_demo_clinic, demo_mrns, real_patient_count

    if not 1 <= args.patients <= 100000:
        raise CommandError(tr("--patients must be between 1 and 100000"), EXIT_INVALID)
    db = open_db(args)
    real = real_patient_count(db)
    if real and not args.yes:
        first, last = demo_mrns(db, args.patients)
        raise CommandError(tr(
            "{db} holds {real}. `demo` would add {n} with years of visits, treatments and events "
            "(MRNs {first} to {last}), recorded in the audit trail as demo data. Nothing was added; "
            "run it again with --yes to add them, or give another --db.").format(
            db=db.describe(), real=counted(real, "{n} real patient", "{n} real patients"),
            n=counted(args.patients, "{n} synthetic patient", "{n} synthetic patients"), first=first, last=last))
    with progress_bar() as progress:
        summary = create_demo_clinic(db, args.patients, seed=args.seed, actor=actor(db, args), today=date.today(),
                                     progress=progress)
    print(tr("Demo clinic written to {db}: {summary}").format(db=db.describe(), summary=summary.sentence()))
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from poems_monitor.services.timeline_io import ImportRefused, import_timeline_file

    db = open_db(args)
    try:
        with progress_bar() as progress:
            summary = import_timeline_file(db, args.file, actor(db, args), progress=progress)
    except ImportRefused as refused:
        for problem in refused.problems:
            print(str(problem), file=sys.stderr)
        if refused.total > len(refused.problems):
            rest = refused.total - len(refused.problems)
            print(ntr("... and {n} more problem not listed.", "... and {n} more problems not listed.", rest).format(n=rest),
                  file=sys.stderr)
        found = ntr("{file}: {n} problem found", "{file}: {n} problems found", refused.total).format(
            file=args.file, n=refused.total)
        if refused.stopped:
            found += tr(", then reading stopped (the rest of the file was not checked)")
        print(found + tr("; nothing was imported."), file=sys.stderr)
        return EXIT_INVALID
    print(tr("Imported {file}: {summary}").format(file=args.file, summary=summary.sentence()))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from poems_monitor.services.timeline_io import export_timeline_file

    db = open_existing_db(args)
    try:
        with progress_bar() as progress:
            count = export_timeline_file(db, args.file, args.mrn, progress=progress)
    except KeyError as exc:
        raise CommandError(str(exc.args[0])) from None
    print(ntr("Exported {n} patient to {file}", "Exported {n} patients to {file}", count).format(n=count, file=args.file))
    return EXIT_OK
