"""Lab CSV import (INTERFACES.md section 1, `import-csv`): preview, then all rows or none.

Owns the use cases "preview a lab file" (every row with its status: new, duplicate of a stored
value, conflicting, invalid with the reason) and "import it". The stored values are read with a
few set-based queries (patients of the file's MRNs, their visits, the current observations of
those visits), never one query per row. The import repeats the preview inside its write
transaction, so what is written is exactly what a fresh preview shows; it refuses the whole file
when any row is invalid or conflicting. New values join the patient's visit on that date (a visit
is created when there is none); duplicates are skipped; one audit entry per patient.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from operator import attrgetter
from datetime import date
from pathlib import Path
from typing import IO

from sqlalchemy import func, select
from sqlmodel import Session

from poems_monitor.domain.input_rules import MAX_PROBLEMS_SHOWN
from poems_monitor.domain.lab_csv import (
    MAX_INVALID_ROWS_KEPT, CsvEncodingError, DateFormat, KnownPatient, LabCsv, LabRow, RowProblem, RowStatus,
    StoredValue, classify_rows, conflict_message, csv_encoding, decode_csv_bytes, parse_lab_csv, read_lab_batches,
)
from poems_monitor.domain.timeline import VisitRecord
from poems_monitor.i18n import counted, ntr, tr
from poems_monitor.models import Event, Observation, Patient, Visit
from poems_monitor.persistence import bulk_insert
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories import timelines as repo
from poems_monitor.services.access import Actor, Permission, require
from poems_monitor.services import record_seal
from poems_monitor.services.audit import SEAL_PROGRESS, AuditItem, AuditWriter, utcnow
from poems_monitor.services.changes import Changes
from poems_monitor.services.progress import Progress

P, V, O, E = (m.__table__ for m in (Patient, Visit, Observation, Event))


class LabImportRefused(Exception):
    """Nothing was imported; `preview` holds every row with its status and reasons."""

    def __init__(self, preview: LabCsv):
        self.preview = preview
        bad = len(preview.bad_rows()) + len(preview.file_problems)
        super().__init__(ntr("{n} row cannot be imported; nothing was imported",
                             "{n} rows cannot be imported; nothing was imported", bad).format(n=bad))

    def messages(self) -> list[str]:
        return problem_messages(self.preview)


@dataclass
class LabImportSummary:
    values_added: int = 0
    duplicates_skipped: int = 0
    visits_created: int = 0
    patients: list[str] = field(default_factory=list)

    @property
    def changes(self) -> Changes:
        """The patients who got values; their visits wait for sign-off like any entered visit."""
        return Changes.of_patients(self.patients, visit_reviews=bool(self.patients))

    def sentence(self) -> str:
        return tr("{values} added for {patients}, {visits}, {dups} of stored values skipped").format(
            values=counted(self.values_added, "{n} value", "{n} values"),
            patients=counted(len(self.patients), "{n} patient", "{n} patients"),
            visits=counted(self.visits_created, "{n} new visit", "{n} new visits"),
            dups=counted(self.duplicates_skipped, "{n} duplicate", "{n} duplicates"))


def problem_messages(preview: LabCsv) -> list[str]:
    """One sentence per problem: file-level first, then each bad row in file order; the first
    100, then one sentence counting the rest."""
    out = [str(p) for p in preview.file_problems]
    more = 0
    for r in preview.rows:
        found = [str(p) for p in r.problems] if r.status is RowStatus.INVALID else (
            [conflict_message(r)] if r.status is RowStatus.CONFLICTING else [])
        room = max(0, MAX_PROBLEMS_SHOWN - len(out))
        out.extend(found[:room])
        more += len(found) - min(room, len(found))
    if more:
        out.append(ntr("... and {n} more problem not listed.", "... and {n} more problems not listed.", more).format(n=more))
    return out


MAX_CSV_BYTES = 32 * 1024 * 1024  # far above any lab export (200,000 rows take about 12 MB)


def read_lab_csv_file(path: Path) -> str:
    """The text of a lab CSV file, or CsvEncodingError / OSError with the reason: a file larger
    than MAX_CSV_BYTES is refused before it is read, so memory stays bounded whatever its size."""
    if Path(path).exists() and not Path(path).is_file():  # a folder, a device or a pipe: never read from it
        raise CsvEncodingError(tr("it is not a regular file"))
    with open(path, "rb") as fh:
        data = fh.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise CsvEncodingError(tr("the file is larger than {mb} MB: split it into smaller files").format(
            mb=MAX_CSV_BYTES // (1024 * 1024)))
    return decode_csv_bytes(data)


class _KnownPatients:
    """The stored patient of each MRN a file names (its id, its MRN as stored, what the rows are
    checked against), looked up once per import, not once per batch: the import changes no
    patient, and its write transaction holds the lock. Bounded: a file of endless distinct MRNs
    is looked up again as it goes."""

    LIMIT = 100_000

    def __init__(self) -> None:
        self.of: dict[str, tuple[int, str, KnownPatient] | None] = {}

    def lookup(self, session: Session, mrns: list[str]) -> dict[str, tuple[int, str, KnownPatient]]:
        if len(self.of) > self.LIMIT:
            self.of.clear()
        missing = [mrn for mrn in mrns if mrn not in self.of]
        if missing:
            found = _stored_patients(session, missing)
            for mrn in missing:
                self.of[mrn] = found.get(mrn)
        return {mrn: known for mrn in mrns if (known := self.of[mrn]) is not None}


def _stored_patients(session: Session, mrns: list[str]) -> dict[str, tuple[int, str, KnownPatient]]:
    """`_KnownPatients.lookup` read from the database."""
    id_of_written = repo.patient_id_by_mrn(session, mrns)
    stored: dict[int, tuple[int, str, KnownPatient]] = {}
    for chunk in repo._chunks(sorted(set(id_of_written.values()))):
        died = (select(E.c.patient_id, func.min(E.c.date).label("died"))
                .where(E.c.type == "death", E.c.deleted_at.is_(None)).group_by(E.c.patient_id).subquery())
        query = (select(P.c.id, P.c.mrn, P.c.sex, P.c.birth_date, died.c.died)
                 .outerjoin(died, died.c.patient_id == P.c.id).where(P.c.id.in_(chunk)))
        for row in session.execute(query):
            stored[row.id] = (row.id, row.mrn, KnownPatient(row.sex, row.birth_date, row.died))  # nothing after a death
    return {mrn: stored[pid] for mrn, pid in id_of_written.items()}


def _stored_context(session: Session, parsed: LabCsv, written_from: int | None = None,
                    known: _KnownPatients | None = None,
                    ) -> tuple[LabCsv, dict[str, KnownPatient], dict[str, int], dict, dict[tuple[int, date], int], set]:
    """The rows with each MRN spelled as stored (h-1 in the file is patient H-1, so its rows meet
    H-1's stored values and each other), and the known patients, their ids, current stored values
    and visit ids for the file's keys; and the keys whose stored value is an observation with an
    id from `written_from` on (written by an earlier batch of the same file). `known`: the
    patients looked up by the import's earlier batches."""
    written = sorted({r.mrn for r in parsed.rows if r.valid and r.mrn})
    found = (known or _KnownPatients()).lookup(session, written)
    patients = {mrn: patient for _pid, mrn, patient in found.values()}
    ids = {mrn: pid for pid, mrn, _patient in found.values()}
    spelled = {mrn: stored for mrn, (_pid, stored, _patient) in found.items()}
    if any(a != b for a, b in spelled.items()):
        parsed = replace(parsed, rows=tuple(replace(r, mrn=spelled.get(r.mrn, r.mrn)) for r in parsed.rows))
    wanted_dates: dict[int, set[date]] = defaultdict(set)
    for r in parsed.rows:
        if r.valid and r.mrn in ids and r.date is not None:
            wanted_dates[ids[r.mrn]].add(r.date)
    visit_ids: dict[tuple[int, date], int] = {}
    pids = sorted(wanted_dates)
    days = sorted(set().union(*wanted_dates.values()))
    for chunk in repo._chunks(pids):
        query = select(V.c.id, V.c.patient_id, V.c.date).where(V.c.patient_id.in_(chunk))
        if len(days) <= 500:  # a batch of a lab file names few days: not every visit of its patients
            query = query.where(V.c.date.in_(days))
        for row in session.execute(query):
            if row.date in wanted_dates[row.patient_id]:
                visit_ids[(row.patient_id, row.date)] = row.id
    mrn_of = {pid: mrn for mrn, pid in ids.items()}
    date_of = {vid: key for key, vid in visit_ids.items()}
    stored: dict[tuple[str, date, str], StoredValue] = {}
    earlier: set[tuple[str, date, str]] = set()
    codes = sorted({r.code for r in parsed.rows if r.valid and r.code})
    vids = sorted(visit_ids.values())
    for chunk in repo._chunks(vids):
        query = select(O.c.visit_id, O.c.code, O.c.value_num, O.c.value_text, O.c.unit, O.c.qualifier, O.c.id).where(
            O.c.visit_id.in_(chunk), O.c.superseded_at.is_(None), O.c.code.in_(codes))
        for row in session.execute(query):
            pid, when = date_of[row.visit_id]
            value = row.value_text if row.value_text is not None else row.value_num
            stored[(mrn_of[pid], when, row.code)] = StoredValue(value, row.unit, row.qualifier)
            if written_from is not None and row.id >= written_from:
                earlier.add((mrn_of[pid], when, row.code))
    return parsed, patients, ids, stored, visit_ids, earlier


def _preview(session: Session, text: str, date_format: DateFormat | str, today: date,
             progress: Progress | None = None) -> tuple[LabCsv, dict, dict]:
    read = None
    if progress is not None:
        def read(done: int, total: int) -> None:
            progress(tr("Reading the rows of the file"), done, total)
    parsed = parse_lab_csv(text, date_format, today, read)
    if progress is not None:
        progress(tr("Comparing the rows with the stored record"), 0, 0)
    parsed, patients, ids, stored, visit_ids, _ = _stored_context(session, parsed)
    return classify_rows(parsed, patients, stored), ids, visit_ids


def preview_lab_csv(db: Database, text: str, date_format: DateFormat | str, today: date | None = None,
                    progress: Progress | None = None) -> LabCsv:
    """Every row of the file with its status, nothing written. `progress` is told how much of the
    text is read; when it raises (services.progress.Cancelled) the preview stops."""
    with db.read() as session:
        preview, _ids, _visits = _preview(session, text, date_format, today or date.today(), progress)
    return preview


def import_lab_csv(
    db: Database, actor: Actor, text: str, date_format: DateFormat | str, *, source: str = "lab CSV",
    today: date | None = None, progress: Progress | None = None,
) -> LabImportSummary:
    """Store every new row in one transaction, or nothing (raises LabImportRefused); the text is
    checked and written a batch of rows at a time, as `import_lab_csv_file` does. `progress` is
    told how much of the text is stored; when it raises (services.progress.Cancelled) the
    transaction rolls back and nothing is kept."""
    buffer = io.StringIO(text.lstrip("\ufeff"), newline="")
    report = None
    if progress is not None:
        total = max(1, len(buffer.getvalue()))

        def report(finished: bool = False) -> None:
            progress(tr("Storing the new values"), total if finished else min(buffer.tell(), total), total)
    return _import_lines(db, actor, buffer, date_format, source=source, today=today, progress=report, told=progress)


def import_lab_csv_file(
    db: Database, actor: Actor, path: Path, date_format: DateFormat | str, *, source: str | None = None,
    today: date | None = None, progress: Progress | None = None, dry_run: bool = False,
) -> LabImportSummary:
    """Import a lab CSV file of any size, streamed: read, checked and written LAB_BATCH_ROWS rows
    at a time in one transaction (memory holds one batch), all rows or none (LabImportRefused,
    naming each bad row's line, column and rule). Refused before anything is written: a file that
    is not a regular file, larger than MAX_STREAMED_CSV_BYTES, not text in a known encoding or
    holding NUL characters (CsvEncodingError); a line longer than MAX_LINE_CHARS ends the reading
    and refuses the file. `dry_run`: everything checked, nothing kept."""
    require(actor, Permission.RECORD)
    path = Path(path)
    if path.exists() and not path.is_file():  # a folder, a device or a pipe: never read from it
        raise CsvEncodingError(tr("it is not a regular file"))
    size = path.stat().st_size
    if size > MAX_STREAMED_CSV_BYTES:
        raise CsvEncodingError(tr("the file is larger than {gb} GB, far more than any lab export: split it into "
                                  "smaller files").format(gb=MAX_STREAMED_CSV_BYTES // 1024 ** 3))

    def blocks():  # noqa: ANN202
        with open(path, "rb") as raw:
            yield from iter(lambda: raw.read(1 << 20), b"")

    codec = csv_encoding(blocks)
    with open(path, encoding=codec, newline="") as fh:
        report = None
        if progress is not None:
            megabytes = max(1, size // 1_000_000)

            def report(finished: bool = False) -> None:
                done = megabytes if finished else min(fh.buffer.tell() // 1_000_000, megabytes)
                progress(tr("Importing lab results (MB of the file read)"), done, megabytes)
        return _import_lines(db, actor, _bounded_lines(fh), date_format, source=source or path.name, today=today,
                             progress=report, told=progress, dry_run=dry_run)


# A file read as a stream may be large, but not absurd; a line (a row) may not be long.
MAX_STREAMED_CSV_BYTES = 2 * 1024 ** 3
MAX_LINE_CHARS = 64 * 1024
LAB_BATCH_ROWS = 10_000  # rows read, checked and written per round
KEPT_ROWS = 10_000  # rows of a refused file kept for its preview beyond the bad ones


class _LineTooLong(Exception):
    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


def _bounded_lines(fh: IO[str]) -> Iterator[str]:
    """The file's lines, refusing one longer than MAX_LINE_CHARS before it is held whole."""
    number = 0
    while line := fh.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise _LineTooLong(number)
        yield line


class _DryRun(Exception):
    def __init__(self, summary: LabImportSummary):
        super().__init__("dry run")
        self.summary = summary


def _import_lines(
    db: Database, actor: Actor, lines: Iterable[str], date_format: DateFormat | str, *, source: str,
    today: date | None, progress: Callable[..., None] | None = None, told: Progress | None = None,
    dry_run: bool = False,
) -> LabImportSummary:
    """The import, a batch of rows at a time, in one transaction: each batch is classified against
    the stored record (which holds the earlier batches' rows: a row repeating an earlier line is a
    duplicate or, with another value, invalid) and written; a bad row anywhere stops the writing,
    the rest of the file is still checked, and the transaction rolls back. `progress` is called
    after each batch (with True when the file is read), `told` (the caller's Progress) during the
    sealing that follows: the touched records, then the audit entries as the commit seals them
    (at a million rows, a minute of work after the last row). A Cancelled raised by either, at
    any point until the commit, rolls everything back."""
    require(actor, Permission.RECORD)  # the only check: the batch writer writes for the name it is given here
    today = today or date.today()
    try:
        with db.write() as session:
            writer = _BatchWriter(session, actor.name, source)
            looked_up = _KnownPatients()
            kept: list[LabRow] = []
            last = LabCsv(rows=())
            refused = False
            try:
                for batch in read_lab_batches(lines, date_format, today, LAB_BATCH_ROWS):
                    parsed, known, ids, stored, visit_ids, earlier = _stored_context(session, batch, writer.first_obs,
                                                                                     looked_up)
                    preview = classify_rows(parsed, known, stored, earlier)
                    last = preview
                    bad = preview.bad_rows()
                    refused = refused or bool(bad) or bool(preview.file_problems) or not preview.rows
                    if len(kept) + len(preview.rows) <= KEPT_ROWS:
                        kept.extend(preview.rows)
                    else:
                        kept.extend(bad)
                    if len([r for r in kept if r.status in (RowStatus.INVALID, RowStatus.CONFLICTING)]) > MAX_INVALID_ROWS_KEPT:
                        last = replace(last, file_problems=(*last.file_problems, RowProblem(
                            batch.rows[-1].row if batch.rows else 1, "", "too_many_problems", tr(
                                "more than {n} rows cannot be imported: the rest of the file was not checked").format(
                                n=MAX_INVALID_ROWS_KEPT))))
                        break
                    if not refused:
                        writer.write(preview, ids, visit_ids)
                    if progress:
                        progress()
            except _LineTooLong as exc:
                refused = True
                last = replace(last, file_problems=(*last.file_problems, RowProblem(exc.line, "", "line_too_long", tr(
                    "line {line} is longer than {n} characters: this is not a lab export").format(
                    line=exc.line, n=MAX_LINE_CHARS))))
            if refused:
                raise LabImportRefused(replace(last, rows=tuple(kept)))
            summary = writer.summary
            summary.patients = [writer.patients[pid] for pid in sorted(writer.patients)]
            if progress:
                progress(True)  # every row read and written: the sealing has its own bar
            if not dry_run:
                if told is not None:
                    writer.seal(lambda done, total: told(tr("Sealing the imported values (patients)"), done, total))
                    session.info[SEAL_PROGRESS] = lambda done, total: told(
                        tr("Sealing the audit trail (entries)"), done, total)  # at the commit, below
                else:
                    writer.seal()
            if dry_run:
                raise _DryRun(summary)
            return summary
    except _DryRun as done:  # rolled back: nothing kept
        return done.summary


class _BatchWriter:
    """Writes the classified batches of one import in its write transaction, for `user` (whose
    permission the import checked before opening the transaction), and keeps the summary and the
    patients it touched, whose records `seal` checks and seals from one read at the end."""

    def __init__(self, session: Session, user: str, source: str):
        self.session, self.user, self.source = session, user, source
        self.first_obs = (session.execute(select(func.max(O.c.id))).scalar() or 0) + 1
        self.first_visit = (session.execute(select(func.max(V.c.id))).scalar() or 0) + 1
        self.summary = LabImportSummary()
        self.patients: dict[int, str] = {}
        self.sealer = record_seal.SealAdded(session, {O.name: self.first_obs, V.name: self.first_visit})

    def seal(self, progress: Callable[[int, int], None] | None = None) -> None:
        """The file is written: check and seal every touched record (once each); `progress` is
        told (patients sealed, patients) as it goes."""
        self.sealer.seal(self.patients, progress)

    def write(self, preview: LabCsv, ids: dict[str, int], visit_ids: dict) -> None:
        """Write a classified batch: new values join the patient's visit of that date (created when
        there is none), duplicates are skipped, one audit entry per patient of the batch."""
        session, summary, source = self.session, self.summary, self.source
        stamp = repo.WriteStamp(self.user, utcnow())
        # One pass over the rows: the new ones by visit (for the values) and by patient (for the
        # audit entries), each list in file order.
        new_by_visit: dict[tuple[int, date], list[LabRow]] = {}
        by_patient: dict[int, list[LabRow]] = {}
        duplicates = 0
        for r in preview.rows:
            if r.status is RowStatus.DUPLICATE:
                duplicates += 1
                continue
            pid = ids[r.mrn]
            key = (pid, r.date)
            of_visit = new_by_visit.get(key)
            if of_visit is None:
                of_visit = new_by_visit[key] = []
            of_visit.append(r)
            of_patient = by_patient.get(pid)
            if of_patient is None:
                of_patient = by_patient[pid] = []
            of_patient.append(r)
        summary.duplicates_skipped += duplicates
        to_create = [key for key in new_by_visit if key not in visit_ids]
        created = repo.insert_visits(session, [(pid, VisitRecord(date=when)) for pid, when in to_create], stamp)
        created_by_key = dict(zip(to_create, created))
        existing = [(key, visit_ids[key]) for key in new_by_visit if key in visit_ids]
        visit_of = {**dict(existing), **created_by_key}
        # The values go to the driver as tuples (no visit record holding them, no dict per value),
        # those of the new visits first, as the visits were written.
        values = repo.observation_values
        rows = [values(vid, r.observation(), stamp)
                for key, vid in (*created_by_key.items(), *existing) for r in new_by_visit[key]]
        if rows:
            bulk_insert.insert_rows(session.connection(), O, rows, keys=repo.OBSERVATION_KEYS)
        # An entry form opened on a stored visit must reload (a visit an earlier batch created is new anyway).
        touched = [vid for _key, vid in existing if vid < self.first_visit]
        self.sealer.before_update(V, touched)  # as committed, for the check at the end
        repo.touch_visits(session, touched, stamp)

        audit = AuditWriter(session, self.user)
        mrn_of = {pid: mrn for mrn, pid in ids.items()}
        created_on: dict[int, list[str]] = defaultdict(list)  # per patient (not a scan of every visit per patient)
        for pid, when in created_by_key:
            created_on[pid].append(when.isoformat())
        reason = tr("lab CSV import of {source}").format(source=source)
        by_date = attrgetter("date")
        entries = []
        for pid in sorted(by_patient):
            items = by_patient[pid]
            items.sort(key=by_date)  # stable: by date, then line (the rows are in file order)
            entries.append(AuditItem(
                "import", "observation", entity_id=None, patient_id=pid, reason=reason,
                new={
                    "source": source,
                    "visits_created": sorted(created_on[pid]),
                    "values": [
                        {"line": r.row, "date": r.date.isoformat(), "code": r.code, "value": r.value, "unit": r.unit,
                         "qualifier": r.qualifier, "entered": r.entered_value, "entered_unit": r.entered_unit,
                         "specimen": r.specimen, "visit_id": visit_of[(pid, r.date)]}
                        for r in items
                    ],
                },
            ))
            summary.values_added += len(items)
            self.patients[pid] = mrn_of[pid]
        audit.append_many(entries)  # one chain step per patient, one statement
        summary.visits_created += len(created)
