"""Commands on the clinical rules: flags, worklist, the clinic protocol, waivers.

`flags` and `worklist` print exactly the documents of INTERFACES.md sections 3 and 4 with
`--json`, a readable table without it. Dates are ISO 8601; `--as-of` defaults to today.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from poems_monitor.cli import EXIT_FAILED, EXIT_INVALID, EXIT_OK, CommandError
from poems_monitor.cli.context import actor, open_db, open_existing_db
from poems_monitor.i18n import N_, ntr, tr


def register(sub, common) -> None:  # noqa: ANN001
    p = sub.add_parser("flags", parents=[common], help=tr("print every clinical flag (format: docs/formats.md)"))
    p.add_argument("--mrn", help=tr("only this patient"))
    p.add_argument("--as-of", metavar="DATE", help=tr("the date the rules look from (YYYY-MM-DD; default today)"))
    p.add_argument("--json", action="store_true", help=tr("print JSON (the documented format)"))
    p.add_argument("--unacknowledged", action="store_true", help=tr("only flags no physician has acknowledged"))
    p.set_defaults(handler=cmd_flags)

    p = sub.add_parser("worklist", parents=[common],
                       help=tr("print every due-soon, due, overdue or never-done follow-up (format: docs/formats.md)"))
    p.add_argument("--as-of", metavar="DATE", help=tr("the date the schedule looks from (YYYY-MM-DD; default today)"))
    p.add_argument("--json", action="store_true", help=tr("print JSON (the documented format)"))
    p.add_argument("--all", action="store_true", help=tr("also list the items a waiver leaves out"))
    p.add_argument("--mrn", help=tr("only this patient"))
    p.set_defaults(handler=cmd_worklist)

    p = sub.add_parser("protocol", parents=[common], help=tr("show, check or change the clinic protocol"))
    psub = p.add_subparsers(dest="protocol_command", metavar="ACTION")
    show = psub.add_parser("show", parents=[common], help=tr("print the protocol in force with the source of each setting"))
    show.add_argument("--toml", action="store_true", help=tr("print the protocol file's text"))
    show.add_argument("--json", action="store_true", help=tr("print the settings as JSON"))
    show.set_defaults(handler=cmd_protocol_show)
    check = psub.add_parser("check", parents=[common], help=tr("check a protocol file without storing it"))
    check.add_argument("file", type=Path)
    check.set_defaults(handler=cmd_protocol_check)
    put = psub.add_parser("set", parents=[common], help=tr("store a protocol file as the clinic's protocol (audited)"))
    put.add_argument("file", type=Path)
    put.add_argument("--reason", required=True, help=tr("why the protocol changes (kept in the audit trail)"))
    put.set_defaults(handler=cmd_protocol_set)
    p.set_defaults(handler=lambda args: _protocol_usage(p))

    p = sub.add_parser("waive", parents=[common], help=tr("waive a follow-up item for a patient (physician)"))
    p.add_argument("--mrn", required=True)
    p.add_argument("item", help=tr("echo, pft, vegf, hematology, imaging, endocrine, neuropathy_score, "
                                   "thrombosis_review or review_visit"))
    p.add_argument("--reason", required=True)
    p.add_argument("--until", metavar="DATE", help=tr("the waiver ends after this date (default: until revoked)"))
    p.set_defaults(handler=cmd_waive)

    p = sub.add_parser("waivers", parents=[common], help=tr("list follow-up waivers"))
    p.add_argument("--mrn")
    p.add_argument("--revoked", action="store_true", help=tr("include revoked waivers"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_waivers)

    p = sub.add_parser("unwaive", parents=[common], help=tr("revoke a follow-up waiver (physician)"))
    p.add_argument("waiver_id", type=int, metavar="WAIVER_ID")
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=cmd_unwaive)


# ---------------------------------------------------------------------------------------------


def parse_date(text: str | None, option: str) -> date | None:
    """An ISO date, or a CommandError in one sentence naming the option."""
    if text is None:
        return None
    from poems_monitor.domain.input_rules import EARLIEST_DATE, parse_iso_date

    value = parse_iso_date(text.strip())
    if value is not None and value >= EARLIEST_DATE:
        return value
    # one sentence for a week date (2024-W10-1), other digits (２０２４-…), or a year before 1900
    raise CommandError(tr("{option} must be a date written YYYY-MM-DD (for example 2026-11-21); "
                          "'{text}' is not one").format(option=option, text=text), EXIT_INVALID)


def _as_of(args: argparse.Namespace) -> date:
    return parse_date(args.as_of, "--as-of") or date.today()


def _print_json(document: object) -> None:
    json.dump(document, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], wide_last: bool = True) -> str:
    """A plain text table; the last column is left unpadded (free text)."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row[:-1] if wide_last else row):
            widths[i] = max(widths[i], len(cell))
    def line(cells):  # noqa: ANN001, ANN202
        return "  ".join(c.ljust(widths[i]) if i < len(cells) - 1 else c for i, c in enumerate(cells)).rstrip()
    return "\n".join([line(header), line(tuple("-" * w for w in widths[:-1]) + ("-" * len(header[-1]),)),
                      *(line(r) for r in rows)])


def _unknown_mrn(exc: KeyError) -> CommandError:
    return CommandError(str(exc.args[0]) if exc.args else str(exc), EXIT_FAILED)


# ---------------------------------------------------------------------------------------------


def cmd_flags(args: argparse.Namespace) -> int:
    from poems_monitor.domain.catalogue import FLAG_KIND_NAMES, display_name
    from poems_monitor.domain.flags import flags_to_json
    from poems_monitor.services.worklist import clinic_flags, unacknowledged_flags

    as_of = _as_of(args)
    db = open_existing_db(args)
    try:
        flags = (unacknowledged_flags(db, as_of, args.mrn) if args.unacknowledged
                 else clinic_flags(db, as_of, args.mrn))
    except KeyError as exc:
        raise _unknown_mrn(exc) from None
    if args.json:
        _print_json(flags_to_json(tuple(flags), as_of))
        return EXIT_OK
    if not flags:
        print(tr("No flags as of {date}.").format(date=as_of.isoformat()))
        return EXIT_OK
    # the names the app shows; --json keeps the codes (INTERFACES.md section 3)
    rows = [(f.mrn, f.date.isoformat(), f.severity.value, FLAG_KIND_NAMES.get(f.kind.value, f.kind.value),
             display_name(f.code), f.message) for f in flags]
    print(_table((tr("MRN"), tr("Date"), tr("Severity"), tr("Kind"), tr("About"), tr("Why")), rows))
    print(ntr("{n} flag as of {date}.", "{n} flags as of {date}.", len(flags)).format(n=len(flags), date=as_of.isoformat()))
    return EXIT_OK


_STATUS_WORDS = {"overdue": N_("OVERDUE"), "never_done": N_("never done"), "due": N_("due"), "due_soon": N_("due soon")}


def cmd_worklist(args: argparse.Namespace) -> int:
    from poems_monitor.domain.catalogue import FOLLOWUP_ITEM_NAMES
    from poems_monitor.services.worklist import build_worklist, patient_worklist

    as_of = _as_of(args)
    db = open_existing_db(args)
    try:
        worklist = (patient_worklist(db, args.mrn, as_of, include_waived=args.all) if args.mrn
                    else build_worklist(db, as_of, include_waived=args.all))
    except KeyError as exc:
        raise _unknown_mrn(exc) from None
    if args.json:
        _print_json(worklist.to_json(include_waived=args.all))
        return EXIT_OK
    rows = [(i.mrn, i.name, FOLLOWUP_ITEM_NAMES.get(i.item, i.item), tr(_STATUS_WORDS[i.status.value]), i.due.isoformat() if i.due else "-",
             i.last_done.isoformat() if i.last_done else "-", i.reason) for i in worklist.items]
    header = (tr("MRN"), tr("Name"), tr("Item"), tr("Status"), tr("Due"), tr("Last done"), tr("Why"))
    if rows:
        print(_table(header, rows))
    print(ntr("{n} follow-up item as of {date}.", "{n} follow-up items as of {date}.", len(worklist.items)).format(n=len(worklist.items), date=as_of.isoformat()))
    if args.all:
        if worklist.waived:
            print()
            print(tr("Waived (left out of the worklist):"))
            print(_table(header[:6] + (tr("Waived by / reason"),), [
                (i.mrn, i.name, FOLLOWUP_ITEM_NAMES.get(i.item, i.item), tr(_STATUS_WORDS[i.status.value]), i.due.isoformat() if i.due else "-",
                 i.last_done.isoformat() if i.last_done else "-",
                 tr("{who}: {reason} (until {d})").format(who=i.waiver.who, reason=i.waiver.reason, d=i.waiver.until.isoformat())
                 if i.waiver.until else f"{i.waiver.who}: {i.waiver.reason}")
                for i in worklist.waived]))
        else:
            print(tr("No item is waived."))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------


def _protocol_usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_INVALID


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CommandError(tr("{file} cannot be read: {error}").format(file=path, error=exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise CommandError(tr("{file} is not UTF-8 text").format(file=path), EXIT_INVALID) from None


def cmd_protocol_show(args: argparse.Namespace) -> int:
    from poems_monitor.services.protocol_store import protocol_status

    status = protocol_status(open_existing_db(args))
    if args.toml:
        sys.stdout.write(status.text if status.text.endswith("\n") else status.text + "\n")
        return EXIT_OK
    settings = status.protocol.describe()
    if args.json:
        _print_json({"stored": status.stored, "problem": status.problem, "sha256": status.digest,
                     "updated_by": status.updated_by,
                     "updated_at": status.updated_at.isoformat() if status.updated_at else None,
                     "settings": [{"section": s.section, "key": s.key, "value": s.value, "unit": s.unit,
                                   "source": s.source, "clinic_default": s.is_default, "description": s.description}
                                  for s in settings],
                     "units": _units_json(status.protocol)})
        return EXIT_OK
    print(status.sentence())
    rows = [(s.section, s.key, f"{s.value:g}", s.unit, "DEFAULT" if s.is_default else tr("literature"), s.source)
            for s in settings]
    print(_table((tr("Section"), tr("Setting"), tr("Value"), tr("Unit"), tr("Origin"), tr("Source")), rows))
    print()
    print(_units_text(status.protocol))
    return EXIT_OK


def _units_json(protocol) -> dict:  # noqa: ANN001
    from poems_monitor.domain.catalogue import MEASURES

    units = protocol.units
    return {code: {"unit": unit, "label": units.label(code), "canonical": MEASURES[code].unit}
            for code, unit in units.chosen}


def _units_text(protocol) -> str:  # noqa: ANN001
    """The [units] table as the clinic reads it: which measures are entered and shown in another
    unit than the canonical one (files and the database always keep the canonical unit)."""
    from poems_monitor.domain.catalogue import MEASURES

    units = protocol.units
    if not units.chosen:
        return tr("Units: every measure is entered and shown in its canonical unit (no [units] table).")
    rows = [(code, MEASURES[code].label, units.label(code), MEASURES[code].unit_label) for code, _unit in units.chosen]
    return tr("Units entered and shown (files and the database keep the canonical unit):") + "\n" + _table(
        (tr("Measure"), tr("Name"), tr("Unit shown"), tr("Canonical unit")), rows)


def cmd_protocol_check(args: argparse.Namespace) -> int:
    from poems_monitor.domain.protocol import ProtocolError, default_protocol
    from poems_monitor.services.protocol_store import changed_settings, check_protocol_text, protocol_status

    text = _read_text(args.file)
    try:
        protocol = check_protocol_text(text, origin=str(args.file))
    except ProtocolError as exc:
        raise CommandError(str(exc), EXIT_INVALID) from None
    print(tr("{file} is a valid protocol file.").format(file=args.file))
    # Compared with the clinic's protocol when --db names a database (checking a file must not
    # create one), otherwise with the shipped default.
    if args.db:
        current, against = protocol_status(open_existing_db(args)).protocol, tr("the protocol in force")
    else:
        current, against = default_protocol(), tr("the shipped default")
    changes = changed_settings(current, protocol)
    if not changes:
        print(tr("It sets the same values as {against}.").format(against=against))
    else:
        print(tr("Differences from {against}:").format(against=against))
    for key, old, new in changes:
        print(tr("  {key}: {old:g} -> {new:g}").format(key=key, old=old, new=new))
    _print_unit_changes(current, protocol)
    return EXIT_OK


def _print_unit_changes(old, new) -> None:  # noqa: ANN001
    """The measures whose unit shown changes ([units] table), one line each."""
    from poems_monitor.domain.catalogue import MEASURES

    for code in sorted(set(old.units.as_table()) | set(new.units.as_table())):
        if old.units.unit(code) != new.units.unit(code):
            print(tr("  unit of {name}: {old} -> {new}").format(
                name=MEASURES[code].label, old=old.units.label(code), new=new.units.label(code)))


def cmd_protocol_set(args: argparse.Namespace) -> int:
    from poems_monitor.domain.protocol import ProtocolError
    from poems_monitor.services.errors import InputRefused
    from poems_monitor.services.protocol_store import changed_settings, protocol_status, save_protocol

    text = _read_text(args.file)
    db = open_db(args)
    before = protocol_status(db).protocol
    try:
        protocol = save_protocol(db, actor(db, args), text, args.reason, origin=str(args.file)).protocol
    except ProtocolError as exc:
        raise CommandError(tr("{error}; nothing was changed").format(error=exc), EXIT_INVALID) from None
    except InputRefused as exc:
        raise CommandError(str(exc), EXIT_INVALID) from None
    changes = changed_settings(before, protocol)
    print(ntr("Clinic protocol saved from {file} ({n} setting changed).",
              "Clinic protocol saved from {file} ({n} settings changed).", len(changes)).format(file=args.file, n=len(changes)))
    for key, old, new in changes:
        print(tr("  {key}: {old:g} -> {new:g}").format(key=key, old=old, new=new))
    _print_unit_changes(before, protocol)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------


def cmd_waive(args: argparse.Namespace) -> int:
    from poems_monitor.domain.catalogue import FOLLOWUP_ITEM_NAMES
    from poems_monitor.services.errors import InputRefused
    from poems_monitor.services.waivers import waive_item

    until = parse_date(args.until, "--until")
    db = open_db(args)
    try:
        w = waive_item(db, actor(db, args), args.mrn, args.item, args.reason, until)
    except KeyError as exc:
        raise _unknown_mrn(exc) from None
    except InputRefused as exc:
        raise CommandError(str(exc), EXIT_INVALID) from None
    facts = dict(item=FOLLOWUP_ITEM_NAMES.get(w.item, w.item), mrn=w.mrn, id=w.waiver_id)
    print(tr("Waived {item} for {mrn} (waiver {id}) until {d}.").format(d=w.until.isoformat(), **facts) if w.until else
          tr("Waived {item} for {mrn} (waiver {id}).").format(**facts))
    return EXIT_OK


def cmd_waivers(args: argparse.Namespace) -> int:
    from poems_monitor.domain.catalogue import FOLLOWUP_ITEM_NAMES
    from poems_monitor.services.waivers import list_waivers

    try:
        waivers = list_waivers(open_existing_db(args), args.mrn, include_revoked=args.revoked)
    except KeyError as exc:
        raise _unknown_mrn(exc) from None
    if args.json:
        _print_json({"waivers": [w.to_json() for w in waivers]})
        return EXIT_OK
    rows = [(str(w.waiver_id), w.mrn, FOLLOWUP_ITEM_NAMES.get(w.item, w.item), w.until.isoformat() if w.until else "-", w.waived_by,
             f"{w.waived_at:%Y-%m-%d}", (tr("revoked by {who} ").format(who=w.revoked_by) if w.revoked_at else "") + w.reason)
            for w in waivers]
    if rows:
        print(_table((tr("Id"), tr("MRN"), tr("Item"), tr("Until"), tr("By"), tr("On"), tr("Reason")), rows))
    print(ntr("{n} waiver.", "{n} waivers.", len(waivers)).format(n=len(waivers)))
    return EXIT_OK


def cmd_unwaive(args: argparse.Namespace) -> int:
    from poems_monitor.services.errors import InputRefused
    from poems_monitor.services.waivers import revoke_waiver

    db = open_db(args)
    try:
        revoke_waiver(db, actor(db, args), args.waiver_id, args.reason)
    except KeyError as exc:
        raise CommandError(str(exc.args[0])) from None
    except InputRefused as exc:
        raise CommandError(str(exc), EXIT_INVALID) from None
    print(tr("Waiver {id} revoked.").format(id=args.waiver_id))
    return EXIT_OK
