"""Import and export of patient-timeline JSON files (INTERFACES.md section 2).

Owns the use cases "import a file" and "export the clinic (or one patient)". An import is one
transaction: every problem in the file, and every conflict with what is stored (same visit date
and code, different value), is collected; if there is any, nothing is written. A patient whose
MRN exists gets what is new added; nothing stored is overwritten. Each patient imported or
extended gets an audit entry in the same transaction. New patients are written a batch at a
time, so an import never holds the rows of the whole clinic in memory; the file export is
streamed by `timeline_export` (benchmarks/clinic_scale.py measures both).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from poems_monitor.garbage_collector import collector_paused
from poems_monitor.domain.catalogue import display_name
from poems_monitor.domain.course import after_death, death_before, death_date, records_after, second_death
from poems_monitor.domain.timeline import PatientRecord, VisitRecord
from poems_monitor.domain.input_rules import MAX_PROBLEMS_SHOWN, mrn_key
from poems_monitor.domain.json_stream import JsonStreamError, stream_document
from poems_monitor.domain.timeline_json import Problem, parse_timeline_pieces, timeline_to_json
from poems_monitor.files import atomic_text_file
from poems_monitor.i18n import counted, ntr, tr
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories import timelines as repo
from poems_monitor.services.errors import PatientNotFound
from poems_monitor.services.access import Actor, Permission, require
from poems_monitor.services import record_seal
from poems_monitor.services.audit import AuditItem, AuditWriter, utcnow
from poems_monitor.services.changes import Changes
from poems_monitor.services.progress import Progress

# Patients written per round of executemany: bounds the rows an import holds in memory whatever
# the size of the file.
STORE_BATCH = 100


class ImportRefused(Exception):
    """The file was not imported; `problems` lists the reasons with their JSON paths (the first
    100), `total` counts them all."""

    def __init__(self, problems: list[Problem], total: int | None = None, stopped: bool = False):
        self.problems = list(problems[:MAX_PROBLEMS_SHOWN])
        self.total = max(total or 0, len(problems))
        self.stopped = stopped  # reading stopped early: the rest of the file was not checked
        super().__init__(ntr("{n} problem; nothing was imported", "{n} problems; nothing was imported",
                             self.total).format(n=self.total))


@dataclass
class ImportSummary:
    patients_created: int = 0
    patients_extended: int = 0
    patients_unchanged: int = 0
    visits_added: int = 0
    values_added: int = 0
    treatments_added: int = 0
    events_added: int = 0
    mrns: list[str] = field(default_factory=list)

    @property
    def changes(self) -> Changes:
        """The patients created or extended (and the patient list when some are new)."""
        return Changes.of_patients(self.mrns, patient_list=self.patients_created > 0, visit_reviews=self.visits_added > 0)

    def sentence(self) -> str:
        return tr("{created}, {extended} extended, {unchanged} unchanged; {visits}, {values}, {treatments}, "
                  "{events} added").format(
            created=counted(self.patients_created, "{n} new patient", "{n} new patients"),
            extended=self.patients_extended, unchanged=self.patients_unchanged,
            visits=counted(self.visits_added, "{n} visit", "{n} visits"),
            values=counted(self.values_added, "{n} value", "{n} values"),
            treatments=counted(self.treatments_added, "{n} treatment", "{n} treatments"),
            events=counted(self.events_added, "{n} event", "{n} events"),
        )


def read_timeline_file(path: Path, today: date) -> tuple[list[PatientRecord], dict | None]:
    """Read and validate a timeline file, streamed patient by patient so that memory stays bounded
    whatever the file's size; raises ImportRefused with the problems found (the first 100 and a
    count of all). (`import_timeline_file` does not hold the records: it stores them as they come.)"""
    raw_patients: list = []
    if Path(path).exists() and not Path(path).is_file():  # a folder, a device or a pipe: never read from it
        raise ImportRefused([Problem("$", tr("{file} is not a regular file").format(file=path))])
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            chunks = iter(lambda: fh.read(1 << 20), "")
            patients, problems = parse_timeline_pieces(stream_document(chunks, "patients"), today, raw_patients)
    except OSError as exc:
        raise ImportRefused([Problem("$", tr("the file cannot be read: {error}").format(error=exc.strerror or exc))]) from None
    except UnicodeDecodeError as exc:
        raise ImportRefused([Problem("$", tr("the file is not UTF-8 text (byte {pos} of a block)").format(
            pos=exc.start))]) from None
    except JsonStreamError as exc:
        raise ImportRefused([Problem("$", tr("the file is not valid JSON: {msg}").format(msg=exc))]) from None
    if problems:
        raise ImportRefused(problems, problems.total, problems.stopped)
    return patients, {"patients": raw_patients}


def import_timeline_file(
    db: Database, path: Path, actor: Actor, today: date | None = None, progress: Progress | None = None,
) -> ImportSummary:
    """Import a timeline file in one transaction, streamed: new patients are written STORE_BATCH
    at a time as the file is read and checked (memory holds one batch, whatever the file's size);
    patients already stored are kept aside and merged at the end. A problem anywhere in the file
    refuses it and rolls back everything written (ImportRefused, as `read_timeline_file`)."""
    today = today or date.today()
    require(actor, Permission.RECORD)
    if Path(path).exists() and not Path(path).is_file():  # a folder, a device or a pipe: never read from it
        raise ImportRefused([Problem("$", tr("{file} is not a regular file").format(file=path))])
    reason = tr("import of {name}").format(name=Path(path).name)
    # The parsed records, row tuples and seal lines are a million small acyclic objects: the
    # collections their allocation triggers took a sixth of an import (reference counting frees
    # each batch; the collector resumes afterwards).
    with collector_paused(), db.write() as session:
        stored_keys = set(session.execute(select(repo.P.c.mrn_key)).scalars())
        streamed = _StreamedImport(session, actor, reason, stored_keys, progress)
        try:
            size = max(1, Path(path).stat().st_size)
            with open(path, encoding="utf-8-sig", newline="") as fh:
                def chunks():  # noqa: ANN202
                    for chunk in iter(lambda: fh.read(1 << 20), ""):
                        streamed.read += len(chunk)
                        yield chunk
                streamed.size = size
                _patients, problems = parse_timeline_pieces(stream_document(chunks(), "patients"), today,
                                                            sink=streamed.take)
        except OSError as exc:
            raise ImportRefused([Problem("$", tr("the file cannot be read: {error}").format(
                error=exc.strerror or exc))]) from None
        except UnicodeDecodeError as exc:
            raise ImportRefused([Problem("$", tr("the file is not UTF-8 text (byte {pos} of a block)").format(
                pos=exc.start))]) from None
        except JsonStreamError as exc:
            raise ImportRefused([Problem("$", tr("the file is not valid JSON: {msg}").format(msg=exc))]) from None
        if problems:  # the transaction rolls back: what was written meanwhile is undone
            raise ImportRefused(problems, problems.total, problems.stopped)
        return streamed.finish()


class _StreamedImport:
    """Receives the checked records of a file as it is read: writes new patients a batch at a
    time, keeps the stored patients (and their decoded objects, for the paths of conflicts)."""

    def __init__(self, session: Session, actor: Actor, reason: str, stored_keys: set[str], progress: Progress | None):
        self.session, self.actor, self.reason, self.progress = session, actor, reason, progress
        self.stored_keys = stored_keys
        self.new: list[PatientRecord] = []
        self.known: list[PatientRecord] = []
        self.known_raw: list = []  # position = index in the file (None for the others)
        self.summary = ImportSummary()
        self.read = 0
        self.size = 1

    def take(self, record: PatientRecord, raw: Any, index: int) -> None:
        if mrn_key(record.mrn) in self.stored_keys:
            self.known.append(record)
            self.known_raw.extend([None] * (index + 1 - len(self.known_raw)))
            self.known_raw[index] = raw
            return
        self.new.append(record)
        if len(self.new) >= STORE_BATCH:
            self._store_new()

    def _store_new(self) -> None:
        if self.new:
            _add_summary(self.summary, store_patients(self.session, self.new, self.actor, reason=self.reason))
            self.new = []
        if self.progress:  # the patients of a streamed file are not counted in advance: megabytes read
            self.progress(tr("Importing (MB of the file read)"), min(self.read, self.size) // 1_000_000,
                          max(1, self.size // 1_000_000))

    def finish(self) -> ImportSummary:
        self._store_new()
        if self.known:
            _add_summary(self.summary, store_patients(self.session, self.known, self.actor, reason=self.reason,
                                                      raw={"patients": self.known_raw}))
        if self.progress:
            total = max(1, self.size // 1_000_000)
            self.progress(tr("Importing (MB of the file read)"), total, total)
        return self.summary


def _add_summary(total: ImportSummary, part: ImportSummary) -> None:
    for name in ("patients_created", "patients_extended", "patients_unchanged", "visits_added", "values_added",
                 "treatments_added", "events_added"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.mrns.extend(part.mrns)


def import_patients(
    db: Database, patients: list[PatientRecord], actor: Actor, *, reason: str, raw: dict | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Store validated timelines in one transaction (new patients, or what is new for known ones)."""
    require(actor, Permission.RECORD)
    with collector_paused(), db.write() as session:  # see import_timeline_file
        return store_patients(session, patients, actor, reason=reason, raw=raw, progress=progress)


def store_patients(
    session: Session, patients: list[PatientRecord], actor: Actor, *, reason: str, raw: dict | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Check every known patient for conflicts first, then write the new patients STORE_BATCH at a
    time (Core executemany per table, one audit entry per patient), then what is new for the
    known ones. All in the caller's transaction: a problem anywhere leaves nothing written."""
    require(actor, Permission.RECORD)  # also here: other services store timelines in their own transaction
    stamp = repo.WriteStamp(user=actor.name, at=utcnow())
    audit = AuditWriter(session, actor.name)
    summary = ImportSummary()
    existing_ids = repo.patient_id_by_mrn(session, [p.mrn for p in patients])  # by MRN as written in the file
    stored_by_id = {p.patient_id: p for p in repo.load_timelines(session, patient_ids=sorted(set(existing_ids.values())))} \
        if existing_ids else {}
    stored = {mrn: stored_by_id[pid] for mrn, pid in existing_ids.items()}

    problems: list[Problem] = []
    visit_items, treatment_items, event_items, extended = [], [], [], []
    raw_patients = _RawIndex((raw or {}).get("patients") or [])
    for index, incoming in enumerate(patients):
        if incoming.mrn not in existing_ids:
            continue
        pid = existing_ids[incoming.mrn]
        raw_patient = raw_patients.find(incoming.mrn, index)
        added = _merge_into_existing(session, stored[incoming.mrn], incoming, pid, raw_patient, index, stamp, problems,
                                     visit_items, treatment_items, event_items)
        if added:
            extended.append((pid, incoming.mrn, added))
        else:
            summary.patients_unchanged += 1
    if problems:
        raise ImportRefused(problems)  # the caller's transaction rolls back: nothing is written

    new_patients = [p for p in patients if p.mrn not in existing_ids]
    total = len(new_patients) + len(extended)
    # New patients are sealed from the rows as written (nothing else writes them in this
    # transaction); the known ones extended below are read back by the seal at the commit.
    as_written = record_seal.SealAsWritten(session) if new_patients else None
    for start in range(0, len(new_patients), STORE_BATCH):
        batch = new_patients[start : start + STORE_BATCH]
        new_ids = repo.insert_patients(session, batch, stamp, as_written)
        repo.insert_visits(session, [(pid, v) for pid, p in zip(new_ids, batch) for v in p.visits], stamp, as_written)
        repo.insert_treatments(session, [(pid, t) for pid, p in zip(new_ids, batch) for t in p.treatments], stamp,
                               as_written)
        repo.insert_events(session, [(pid, e) for pid, p in zip(new_ids, batch) for e in p.events], stamp, as_written)
        as_written.close_batch(new_ids)
        entries = []
        for pid, p in zip(new_ids, batch):
            values = sum(len(v.observations) for v in p.visits)
            entries.append(AuditItem(
                "import", "patient", entity_id=pid, patient_id=pid, reason=reason,
                new={"mrn": p.mrn, "name": p.name, "sex": p.sex, "birth_date": p.birth_date,
                     "diagnosis_date": p.diagnosis_date, "visits": len(p.visits), "values": values,
                     "treatments": len(p.treatments), "events": len(p.events)},
            ))
            summary.patients_created += 1
            summary.visits_added += len(p.visits)
            summary.values_added += values
            summary.treatments_added += len(p.treatments)
            summary.events_added += len(p.events)
            summary.mrns.append(p.mrn)
        audit.append_many(entries)  # one chain step per patient, one statement per batch
        if progress:
            progress(tr("Importing"), start + len(batch), total)

    for _pid, mrn, added in extended:
        summary.patients_extended += 1
        summary.visits_added += added["visits"]
        summary.values_added += added["values"]
        summary.treatments_added += added["treatments"]
        summary.events_added += added["events"]
        summary.mrns.append(mrn)
    audit.append_many([AuditItem("import", "patient", entity_id=pid, patient_id=pid, reason=reason, new={"added": added})
                       for pid, _mrn, added in extended])
    repo.insert_visits(session, visit_items, stamp)
    repo.insert_treatments(session, treatment_items, stamp)
    repo.insert_events(session, event_items, stamp)
    if progress and extended:
        progress(tr("Importing"), total, total)
    return summary


class _RawIndex:
    """The file's decoded patients by `mrn_key` (built once: a lookup per stored patient, not a scan)."""

    def __init__(self, raw_patients: list):
        self.by_key: dict[str, tuple[int, dict]] = {}
        for i, rp in enumerate(raw_patients):
            if isinstance(rp, dict) and isinstance(rp.get("mrn"), str):
                self.by_key.setdefault(mrn_key(rp["mrn"]), (i, rp))  # the first, as a scan would find

    def find(self, mrn: str, index: int) -> dict:
        found = self.by_key.get(mrn_key(mrn))
        return {"_index": found[0], **found[1]} if found is not None else {"_index": index}


def _raw_index(items: Any, predicate) -> int | None:  # noqa: ANN001
    for i, item in enumerate(items or []):
        if isinstance(item, dict) and predicate(item):
            return i
    return None


def _same_number(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)), abs(float(b)))
    return a == b


def _merge_into_existing(
    session: Session, stored: PatientRecord, incoming: PatientRecord, pid: int, raw: dict, index: int,
    stamp: repo.WriteStamp, problems: list[Problem], visit_items: list, treatment_items: list, event_items: list,
) -> dict[str, int] | None:
    """Queue what `incoming` adds to the stored patient; record every conflict in `problems`."""
    base = f"$.patients[{raw.get('_index', index)}]"
    mrn = incoming.mrn

    def conflict(path: str, message: str) -> None:
        problems.append(Problem(path, message, mrn))

    for fname in ("name", "sex", "birth_date", "diagnosis_date"):
        new, old = getattr(incoming, fname), getattr(stored, fname)
        if new != old and not (fname == "diagnosis_date" and new is None):
            conflict(f"{base}.{fname}", tr("{field} is {new} in the file but {old} is stored: nothing is overwritten; "
                                         "correct it in the app with a reason").format(field=fname, new=new, old=old))

    _check_death_against_stored(stored, incoming, raw, base, conflict)
    counts = {"visits": 0, "values": 0, "treatments": 0, "events": 0}
    stored_visits = {v.date: v for v in stored.visits}
    contents = []
    for visit in incoming.visits:
        vi = _raw_index(raw.get("visits"), lambda d, when=visit.date: d.get("date") == when.isoformat())
        vpath = f"{base}.visits[{vi if vi is not None else '?'}]"
        old = stored_visits.get(visit.date)
        if old is None:
            visit_items.append((pid, visit))
            counts["visits"] += 1
            counts["values"] += len(visit.observations)
            continue
        new_obs, new_feat, new_exams, new_note = _diff_visit(old, visit, vpath, raw, vi, conflict)
        if new_obs or new_feat or new_exams:
            contents.append((old.visit_id, new_obs, new_feat, new_exams))
            counts["values"] += len(new_obs)
        if new_note is not None:
            repo.set_visit_note(session, old.visit_id, new_note, stamp)
            counts["notes"] = counts.get("notes", 0) + 1
    if contents and not problems:
        repo.add_visit_contents(session, contents, stamp)
        repo.touch_visits(session, [visit_id for visit_id, *_ in contents], stamp)

    stored_treatments = {(t.regimen, t.start): t for t in stored.treatments}
    for t in incoming.treatments:
        old = stored_treatments.get((t.regimen, t.start))
        if old is None:
            treatment_items.append((pid, t))
            counts["treatments"] += 1
            continue
        for fname in ("stop", "thromboprophylaxis", "name", "engraftment_date", "melphalan_mg", "note"):
            if getattr(t, fname) != getattr(old, fname):
                ti = _raw_index(raw.get("treatments"), lambda d, t=t: d.get("regimen") == t.regimen and d.get("start") == t.start.isoformat())
                conflict(f"{base}.treatments[{ti}].{fname}", tr(
                    "{regimen} started {start}: {field} is {new} in the file but {old} is stored").format(
                    regimen=display_name(t.regimen), start=t.start, field=fname, new=getattr(t, fname), old=getattr(old, fname)))
    stored_events = {(e.type, e.date): e for e in stored.events}
    for e in incoming.events:
        old = stored_events.get((e.type, e.date))
        if old is None:
            event_items.append((pid, e))
            counts["events"] += 1
        elif old.note != e.note:
            ei = _raw_index(raw.get("events"), lambda d, e=e: d.get("type") == e.type and d.get("date") == e.date.isoformat())
            conflict(f"{base}.events[{ei}].note", tr("{event} on {d}: the note differs from the stored one").format(
                event=display_name(e.type), d=e.date))
    return counts if any(counts.values()) or contents else None


def _check_death_against_stored(stored: PatientRecord, incoming: PatientRecord, raw: dict, base: str, conflict) -> None:  # noqa: ANN001
    """Dates that cannot be, across the file and the stored record: nothing new after a stored
    death; a new death not before what is stored, and not a second one."""
    died_stored = death_date(stored)
    died_new = death_date(incoming)
    if died_new is not None and died_new != died_stored:
        ei = _raw_index(raw.get("events"), lambda d: d.get("type") == "death")
        where = f"{base}.events[{ei}].date"
        if died_stored is not None:
            conflict(where, second_death(died_new, died_stored))
        elif (later := records_after(stored, died_new)) is not None:
            conflict(where, death_before(died_new, *later))
    if died_stored is None:
        return
    stored_visits = {v.date for v in stored.visits}
    for v in incoming.visits:
        if v.date not in stored_visits and (msg := after_death(tr("visit date"), v.date, died_stored)) is not None:
            vi = _raw_index(raw.get("visits"), lambda d, when=v.date: d.get("date") == when.isoformat())
            conflict(f"{base}.visits[{vi}].date", msg)
    stored_treatments = {(t.regimen, t.start) for t in stored.treatments}
    for t in incoming.treatments:
        if (t.regimen, t.start) in stored_treatments:
            continue
        ti = _raw_index(raw.get("treatments"), lambda d, t=t: d.get("regimen") == t.regimen and d.get("start") == t.start.isoformat())
        for fname in ("start", "stop", "engraftment_date"):
            label = tr("{regimen} {field}").format(regimen=display_name(t.regimen), field=fname.replace("_", " "))
            if (msg := after_death(label, getattr(t, fname), died_stored)) is not None:
                conflict(f"{base}.treatments[{ti}].{fname}", msg)
    stored_events = {(e.type, e.date) for e in stored.events}
    for e in incoming.events:
        if e.type != "death" and (e.type, e.date) not in stored_events and (
                msg := after_death(tr("event date"), e.date, died_stored)) is not None:
            ei = _raw_index(raw.get("events"), lambda d, e=e: d.get("type") == e.type and d.get("date") == e.date.isoformat())
            conflict(f"{base}.events[{ei}].date", msg)


def _diff_visit(old: VisitRecord, new: VisitRecord, vpath: str, raw: dict, vi: int | None, conflict) -> tuple:  # noqa: ANN001
    raw_visit = (raw.get("visits") or [])[vi] if vi is not None else {}
    stored_obs = {o.code: o for o in old.observations}
    new_obs = []
    for o in new.observations:
        prior = stored_obs.get(o.code)
        if prior is None:
            new_obs.append(o)
        elif not _same_number(prior.value, o.value) or prior.qualifier != o.qualifier:
            oi = _raw_index(raw_visit.get("observations"), lambda d, code=o.code: d.get("code") == code)
            where = f"{vpath}.observations[{oi}].value" if oi is not None else vpath
            conflict(where, tr("visit {d}, {name}: the file has {new} but {old} {unit} is stored").format(
                d=new.date, name=display_name(o.code), new=o.value, old=prior.value, unit=prior.unit))
    stored_feat = dict(old.features)
    new_feat = []
    for code, status in new.features:
        prior = stored_feat.get(code)
        if prior is None:
            new_feat.append((code, status))
        elif prior != status:
            conflict(f"{vpath}.features.{code}", tr("visit {d}, {name}: the file says {new} but {old} is stored").format(
                d=new.date, name=display_name(code), new=status, old=prior))
    stored_exams = {x.kind: x for x in old.exams}
    new_exams = []
    for x in new.exams:
        prior = stored_exams.get(x.kind)
        if prior is None:
            new_exams.append(x)
        elif prior.result != x.result:
            xi = _raw_index(raw_visit.get("exams"), lambda d, kind=x.kind: d.get("kind") == kind)
            conflict(f"{vpath}.exams[{xi}].result", tr("visit {d}, {name}: the file says {new} but {old} is stored").format(
                d=new.date, name=display_name(x.kind), new=x.result, old=prior.result))
    if new.note and old.note and new.note != old.note:
        conflict(f"{vpath}.note", tr("visit {d}: the note differs from the stored one").format(d=new.date))
    new_note = new.note if new.note and not old.note else None  # a note where none was stored is new
    return new_obs, new_feat, new_exams, new_note


def export_timeline(db: Database, mrn: str | None = None) -> dict[str, Any]:
    """The timeline document of the whole clinic or of one patient (PatientNotFound if the MRN is unknown)."""
    with db.read() as session:
        patients = repo.load_timelines(session, mrns=[mrn] if mrn else None)
    if mrn and not patients:
        raise PatientNotFound(mrn)
    return timeline_to_json(patients)


# The file export is streamed from the database by its own module; imported here for the callers
# of this module's export (the CLI, the benchmarks, the tests).
from poems_monitor.services.timeline_export import (  # noqa: E402, F401
    export_timeline_file, json_indented, write_timeline_document,
)


def write_json_atomically(path: Path, document: Any) -> None:
    with atomic_text_file(path) as fh:
        json.dump(document, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
