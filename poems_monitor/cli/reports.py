"""Commands that exchange data with the world: `import-csv`, `export-csv`, `export-fhir`, and
`report` (the printable patient summary as a PDF, rendered offscreen by ui/report)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO
from pathlib import Path

from poems_monitor.cli import EXIT_INVALID, EXIT_OK, CommandError
from poems_monitor.cli.context import actor, open_db, open_existing_db
from poems_monitor.cli.progress import progress_bar
from poems_monitor.i18n import counted, ntr, tr
from poems_monitor.workstation import login_name


def register(sub, common) -> None:  # noqa: ANN001
    p = sub.add_parser("import-csv", parents=[common], help=tr("import lab results from a CSV file (all rows or none)"))
    p.add_argument("file", type=Path)
    p.add_argument("--date-format", choices=("iso", "dmy"), default="iso",
                   help=tr("how the file writes dates: iso = YYYY-MM-DD (default), dmy = DD/MM/YYYY"))
    p.add_argument("--dry-run", action="store_true", help=tr("print the preview only; write nothing"))
    p.set_defaults(handler=cmd_import_csv)

    p = sub.add_parser("export-csv", parents=[common], help=tr("write every table as CSV plus data_dictionary.csv"))
    p.add_argument("directory", type=Path, metavar="DIR")
    p.set_defaults(handler=cmd_export_csv)

    p = sub.add_parser("export-fhir", parents=[common], help=tr("write a FHIR R4 Bundle (JSON)"))
    p.add_argument("--mrn")
    p.add_argument("file", type=Path, metavar="FILE.json")
    p.set_defaults(handler=cmd_export_fhir)

    p = sub.add_parser("report", parents=[common], help=tr("write the printable patient summary (PDF)"))
    p.add_argument("--mrn", required=True)
    p.add_argument("--page-size", choices=("A4", "Letter"), default="A4", help=tr("paper size (default A4)"))
    p.add_argument("--as-of", metavar="DATE", help=tr("the date the summary looks from (YYYY-MM-DD; default today)"))
    p.add_argument("file", type=Path, metavar="FILE.pdf")
    p.set_defaults(handler=cmd_report)


def _read_text(path: Path) -> str:
    from poems_monitor.domain.lab_csv import CsvEncodingError
    from poems_monitor.services.lab_import import read_lab_csv_file

    try:
        return read_lab_csv_file(path)
    except OSError as exc:
        raise CommandError(tr("{file} cannot be read: {error}").format(file=path, error=exc.strerror or exc), EXIT_INVALID) from None
    except CsvEncodingError as exc:
        raise CommandError(tr("{file}: {error}; nothing was imported.").format(file=path, error=exc), EXIT_INVALID) from None


def print_preview(preview, out: TextIO | None = None) -> None:  # noqa: ANN001
    """One line per row: line number, status, patient, date, code, value, and what it was compared with.
    `out`: standard output as it is at the call (not as it was when this module was imported)."""
    out = out or sys.stdout
    from poems_monitor.domain.lab_csv import RowStatus

    for r in preview.rows:
        parts = [f"{r.row:>5}", f"{r.status.value:<11}", r.mrn or r.field("mrn") or "-",
                 r.date.isoformat() if r.date else (r.field("date") or "-"), r.code or r.field("code") or "-",
                 r.value_text() or "-"]
        if r.specimen:
            parts.append(f"[{r.specimen}]")
        if r.status is RowStatus.DUPLICATE:
            parts.append(tr("(stored: {v})").format(v=r.stored))
        elif r.status is RowStatus.CONFLICTING:
            parts.append(tr("(stored: {v})").format(v=r.stored))
        elif r.status is RowStatus.INVALID:
            parts.append("— " + "; ".join(p.message for p in r.problems))
        if r.note and r.status is not RowStatus.INVALID:
            parts.append(f"— {r.note}")
        print("  ".join(parts), file=out)
    counts = preview.counts()
    print(tr("{rows}: {new} new, {dup} duplicate, {conf} conflicting, {inv} invalid").format(
        rows=counted(len(preview.rows), "{n} row", "{n} rows"), new=counts["new"], dup=counts["duplicate"], conf=counts["conflicting"],
        inv=counts["invalid"]), file=out)
    if preview.ignored_columns:
        print(tr("Columns ignored: {cols}").format(cols=", ".join(preview.ignored_columns)), file=out)


def cmd_import_csv(args: argparse.Namespace) -> int:
    """A file small enough to preview is shown row by row first; a larger one is checked and
    imported a batch of rows at a time (all rows or none). Both show a progress bar."""
    from poems_monitor.domain.lab_csv import CsvEncodingError
    from poems_monitor.services.lab_import import (
        MAX_CSV_BYTES, LabImportRefused, import_lab_csv_file, preview_lab_csv, problem_messages,
    )

    large = args.file.is_file() and args.file.stat().st_size > MAX_CSV_BYTES
    if large:
        db = open_db(args)
        print(tr("{file} is larger than {mb} MB: its rows are checked and imported a batch at a time, without a "
                 "row-by-row preview.").format(file=args.file, mb=MAX_CSV_BYTES // (1024 * 1024)))
    else:
        text = _read_text(args.file)
        db = open_db(args)
        preview = preview_lab_csv(db, text, args.date_format)
        print_preview(preview)
        if not preview.importable:
            for message in problem_messages(preview):
                print(message, file=sys.stderr)
            print(tr("{file}: nothing was imported.").format(file=args.file), file=sys.stderr)
            return EXIT_INVALID
        if args.dry_run:
            print(tr("Dry run: nothing was written."))
            return EXIT_OK
    try:
        with progress_bar() as progress:
            summary = import_lab_csv_file(db, actor(db, args), args.file, args.date_format, source=args.file.name,
                                          progress=progress, dry_run=args.dry_run)
    except LabImportRefused as refused:  # a bad row, or the record changed between preview and import
        for message in refused.messages():
            print(message, file=sys.stderr)
        print(tr("{file}: nothing was imported.").format(file=args.file), file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:
        raise CommandError(tr("{file} cannot be read: {error}").format(file=args.file, error=exc.strerror or exc),
                           EXIT_INVALID) from None
    except CsvEncodingError as exc:
        raise CommandError(tr("{file}: {error}; nothing was imported.").format(file=args.file, error=exc),
                           EXIT_INVALID) from None
    if args.dry_run:
        print(tr("Dry run: every row was checked ({summary}); nothing was written.").format(summary=summary.sentence()))
        return EXIT_OK
    print(tr("Imported {file}: {summary}").format(file=args.file, summary=summary.sentence()))
    return EXIT_OK


def cmd_export_csv(args: argparse.Namespace) -> int:
    from poems_monitor.services.csv_export import export_clinic_csv

    db = open_existing_db(args)
    try:
        with progress_bar() as progress:
            summary = export_clinic_csv(db, args.directory, progress=progress)
    except NotADirectoryError as exc:
        raise CommandError(str(exc)) from None
    print(summary.sentence())
    return EXIT_OK


def cmd_export_fhir(args: argparse.Namespace) -> int:
    from poems_monitor.services.fhir_export import export_fhir_file

    db = open_existing_db(args)
    try:
        patients, resources = export_fhir_file(db, args.file, args.mrn)
    except KeyError as exc:
        raise CommandError(str(exc.args[0])) from None
    print((ntr("FHIR R4 Bundle with {n} patient", "FHIR R4 Bundle with {n} patients", patients) + ", " + ntr(
        "{r} resource written to {file}", "{r} resources written to {file}", resources)).format(
        n=patients, r=resources, file=args.file))
    return EXIT_OK


def _qt_application():  # noqa: ANN202
    """The QApplication the renderer needs; offscreen when there is no display (before Qt loads)."""
    import os

    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(["poems-monitor"])


def cmd_report(args: argparse.Namespace) -> int:
    """`report --mrn MRN FILE.pdf [--page-size A4|Letter] [--as-of DATE]`: the printable summary."""
    from poems_monitor.cli.rules import parse_date

    as_of = parse_date(args.as_of, "--as-of")
    target: Path = args.file
    if target.suffix.lower() != ".pdf":
        raise CommandError(tr("The summary is written as a PDF: give a file name ending in .pdf, not {file}").format(
            file=target), EXIT_INVALID)
    if not target.parent.exists():
        raise CommandError(tr("The folder {folder} does not exist").format(folder=target.parent))
    from poems_monitor.files import TargetRefused, refuse_unless_regular

    try:
        refuse_unless_regular(target)
    except TargetRefused as exc:
        raise CommandError(str(exc)) from None
    db = open_existing_db(args)
    from poems_monitor.services.patients import patient_id_for

    try:
        patient_id_for(db, args.mrn)
    except KeyError:
        raise CommandError(tr("No patient with MRN {mrn} in this database.").format(mrn=args.mrn)) from None
    app = _qt_application()  # noqa: F841 (kept alive while rendering)
    from poems_monitor.ui.report.summary_document import write_patient_summary

    who = args.user or login_name()
    try:
        result = write_patient_summary(db, args.mrn, target, args.page_size, as_of, generated_by=who)
    except OSError as exc:
        raise CommandError(tr("{file} could not be written: {error}").format(
            file=target, error=exc.strerror or exc)) from None
    print(ntr("Patient summary of {mrn} ({pages} page, {size}) written to {file} in {seconds:.1f} s",
              "Patient summary of {mrn} ({pages} pages, {size}) written to {file} in {seconds:.1f} s", result.pages).format(
        mrn=args.mrn, pages=result.pages, size=result.page_size, file=target, seconds=result.seconds))
    return EXIT_OK
