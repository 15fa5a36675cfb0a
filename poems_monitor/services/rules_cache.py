"""The rules cache: one store, one stamp, one in-process memo for what the rules computed per patient.

The pure part lives in the domain: `domain.reduced_course` decides which parts of a record the
follow-up schedule reads (the *reduced course*) and checks each reduction; `domain.flags` and
`domain.followup` compute flags and worklist rows. This module only keeps their results:

- **The stamp** (`read_stamps`, the one place it is computed): per patient its newest
  `audit_entry` (id and hash: every write to a patient's record, flag reviews and waivers
  included, is audited with its patient_id in the same transaction), the sha256 of the protocol
  in force and `rules_version()` (a hash of the rule modules' source). Read before any data, so
  a concurrent write can only make a result look stale, never fresh. The database is named by
  its *lineage* (URL and first audit hash): another clinic put at the same path never matches.
- **The table** `rules_cache` (survives the process): per patient the reduced course (`facts`),
  the flags computed on the whole record (`flags`; flags depend on as-of only by clipping, so
  they hold for any as-of on or after the record's newest date) and the worklist rows of the
  last as-of asked for (`plan`). A row is used only when its audit id, protocol digest and rules
  version equal the stamp (the hash is not stored: the table lives in the same file as the audit
  trail it is stamped by). Stale rows are rewritten in a short write transaction afterwards,
  with the worklist rows computed with them (a clinic-wide evaluation writes every STORE_EVERY
  rows as it goes, so it never holds the rows of the whole clinic; best effort: a locked or
  read-only database only costs speed).
- **The memo** (`_MEMO`, this process only): per (lineage, patient) one entry with its stamp and
  what is known under it: the parsed reduced record, the flags, the worklist rows per as-of, and
  views built by other services (the dashboard, `recall_view`/`remember_view`). A new stamp
  drops the whole entry, so nothing can outlive the record it was computed from. An evaluation
  of more than MEMO_RECORDS_UP_TO patients keeps only its results there (worklist rows, flags
  asked for), as worker processes do: the parsed parts come from the table when asked for.

`gather` serves the clinic-wide rules (worklist, flags, overview): from the memo, else the table,
else the full timeline (also for an as-of earlier than the record's newest date). Full timelines
are read and evaluated GATHER_BATCH patients at a time, so no more than a batch is held; from
POOL_MIN_PATIENTS records on (a cold cache after an import or a protocol change), worker
processes (one fewer than the cores, at most POOL_WORKERS) share the batches with this process,
which takes those no worker has begun. Derived data only: never audited, never exported as
clinical data, safe to delete at any time. No Qt.
"""

from __future__ import annotations

from collections.abc import Iterator

import gc
import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import bindparam, delete, func, select, update
from sqlmodel import Session

from poems_monitor.garbage_collector import collector_paused
from poems_monitor.domain import (
    catalogue, course, criteria, derived, display_units, flags as flags_module, followup, protocol as protocol_module,
    reduced_course, safety_flags, timeline,
)
from poems_monitor.domain.flags import Flag, FlagKind, Severity, compute_flags
from poems_monitor.domain.followup import Status, WorklistItem, followup_plan
from poems_monitor.domain.protocol import Protocol
from poems_monitor.domain.reduced_course import latest_date, reduce_for_schedule
from poems_monitor.domain.timeline import (
    EventRecord, ExamRecord, ObservationRecord, PatientRecord, TreatmentRecord, VisitRecord, build_record,
)
from poems_monitor.models import AuditEntry, Patient, RulesCache
from poems_monitor.persistence.bulk_insert import insert_rows
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.audit import utcnow
from poems_monitor.services.protocol_store import ProtocolStatus, status_in

__all__ = [
    "CACHE_FORMAT", "Gathered", "Stamp", "Stamps", "clear_cache", "facts_from_json", "facts_to_json", "forget", "gather",
    "cache_version", "latest_date", "read_stamps", "recall_view", "reduce_for_schedule", "remember_view", "rules_version",
    "store_plans",
]

log = logging.getLogger(__name__)

RC = RulesCache.__table__
A = AuditEntry.__table__
P = Patient.__table__
CACHE_FORMAT = "3"  # bump when the reduction (domain.reduced_course) or the JSON layout below changes
_CHUNK = 900


@lru_cache(maxsize=1)
def rules_version() -> str:
    """A fingerprint of the rules' code: a new version of a rule invalidates every cached row.

    A frozen bundle has no sources to read: its build computed this same fingerprint from the
    sources it froze and stamped it into the bundle (packaging/build.py), so it follows the rules
    there too. Only a bundle built without the stamp falls back to the package version."""
    from poems_monitor import shipped  # imported here: this change stays inside the fingerprint

    stamp = shipped.build_stamp() if shipped.frozen() else None
    if stamp and stamp.get("rules_fingerprint"):
        return str(stamp["rules_fingerprint"])
    digest = hashlib.sha256(CACHE_FORMAT.encode())
    # display_units: the flag texts quote values in the clinic's unit through it
    for module in (catalogue, course, criteria, derived, display_units, flags_module, followup, protocol_module,
                   reduced_course, safety_flags, timeline):
        try:
            digest.update(Path(module.__file__).read_bytes())
        except (OSError, TypeError):  # frozen build without sources: the package version decides
            from importlib.metadata import PackageNotFoundError, version

            try:
                digest.update(version("poems-monitor").encode())
            except PackageNotFoundError:
                digest.update(b"unknown")
    try:
        digest.update(Path(__file__).read_bytes())
    except OSError:
        pass
    return digest.hexdigest()[:32]


def cache_version() -> str:
    """What a cached row is stamped with: the rules' fingerprint and, the cached flags and
    worklist rows being translated text, the language they were written in (English rows keep
    the bare fingerprint; another language's rows are never served in English or the reverse)."""
    from poems_monitor.i18n import SOURCE_LANGUAGE, current_language

    language, version = current_language(), rules_version()
    return version if language == SOURCE_LANGUAGE else f"{version[:29]}-{language}"  # the column holds 32


# ---------------------------------------------------------------------------------------------
# The stored form of a reduced record, its flags and its worklist rows
# ---------------------------------------------------------------------------------------------


def _d(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def facts_to_json(p: PatientRecord) -> str:
    return json.dumps({
        "v": [[v.date.isoformat(), [[o.code, o.value, o.qualifier] for o in v.observations],
               [list(f) for f in v.features], [[x.kind, x.result] for x in v.exams]] for v in p.visits],
        "t": [[t.regimen, _d(t.start), _d(t.stop), t.thromboprophylaxis, t.name, _d(t.engraftment_date)]
              for t in p.treatments],
        "e": [[e.type, _d(e.date)] for e in p.events],
        "r": None if p.relapse_triggers is None else [[_d(day), why] for day, why in p.relapse_triggers],
    }, separators=(",", ":"), ensure_ascii=False)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text is not None else None


def facts_from_json(text: str, head: PatientRecord) -> PatientRecord:
    """The reduced record stored in `text`, with identity fields from `head`."""
    data = json.loads(text)
    fromiso = date.fromisoformat
    visits = tuple(
        build_record(VisitRecord, {
            "date": fromiso(day),
            "observations": tuple(build_record(ObservationRecord, {"code": code, "value": value, "unit": "", "qualifier": q})
                                  for code, value, q in obs),
            "features": tuple((c, s) for c, s in feats),
            "exams": tuple(build_record(ExamRecord, {"kind": kind, "result": result}) for kind, result in exams),
        })
        for day, obs, feats, exams in data["v"]
    )
    treatments = tuple(TreatmentRecord(r, _day(start), _day(stop), proph, name, _day(eng))
                       for r, start, stop, proph, name, eng in data["t"])
    events = tuple(EventRecord(t, fromiso(day)) for t, day in data["e"])
    triggers = None if data["r"] is None else tuple((fromiso(day), why) for day, why in data["r"])
    return PatientRecord(head.mrn, head.name, head.sex, head.birth_date, head.diagnosis_date, visits, treatments,
                         events, head.patient_id, relapse_triggers=triggers)


def flags_to_text(flags: tuple[Flag, ...]) -> str:
    return json.dumps([f.to_json() for f in flags], separators=(",", ":"), ensure_ascii=False)


def plan_to_text(items: tuple[WorklistItem, ...]) -> str:
    return json.dumps([[i.item, i.status.value, _d(i.due), _d(i.last_done), i.reason] for i in items],
                      separators=(",", ":"), ensure_ascii=False)


_STATUSES = {s.value: s for s in Status}


def plan_from_text(text: str, head: PatientRecord) -> tuple[WorklistItem, ...]:
    return tuple(WorklistItem(head.mrn, head.name, item, _STATUSES[status], _day(due), _day(last), reason)
                 for item, status, due, last, reason in json.loads(text))


_KINDS = {k.value: k for k in FlagKind}
_SEVERITIES = {s.value: s for s in Severity}


def flags_from_text(text: str) -> tuple[Flag, ...]:
    fromiso = date.fromisoformat
    return tuple(
        build_record(Flag, {"mrn": f["mrn"], "kind": _KINDS[f["kind"]], "code": f["code"], "date": fromiso(f["date"]),
                       "severity": _SEVERITIES[f["severity"]], "message": f["message"], "rule": f["rule"],
                       "evidence": f["evidence"], "flag_id": f["flag_id"]})
        for f in json.loads(text)
    )


# ---------------------------------------------------------------------------------------------
# The stamp
# ---------------------------------------------------------------------------------------------


class Stamp(NamedTuple):
    """What one patient's cached results were computed from (see the module docstring)."""

    audit_id: int  # the patient's newest audit entry, 0 when it has none
    audit_hash: str | None
    protocol_sha: str
    rules_version: str

    @property
    def row(self) -> tuple[int, str, str]:
        """The part a `rules_cache` row stores and is checked against."""
        return (self.audit_id, self.protocol_sha, self.rules_version)


@dataclass
class Stamps:
    """The stamps of some patients, read in one go, with the database lineage and protocol."""

    lineage: str  # names the database in the memo: its URL and first audit hash
    status: ProtocolStatus
    newest: dict[int, tuple[int, str]]  # patient_id -> (audit id, hash) of its newest audit entry

    def of(self, patient_id: int) -> Stamp:
        audit_id, audit_hash = self.newest.get(patient_id, (0, None))
        return Stamp(audit_id, audit_hash, self.status.digest, cache_version())


def _in_chunks(session: Session, query, column, ids):  # noqa: ANN001, ANN202
    if ids is None:
        return session.execute(query).all()
    out = []
    ids = list(ids)
    for i in range(0, len(ids), _CHUNK):
        out.extend(session.execute(query.where(column.in_(ids[i:i + _CHUNK]))).all())
    return out


def read_stamps(session: Session, db: Database, patient_ids: list[int] | None = None) -> Stamps:
    """The stamps of these patients (None: every patient), the one place they are computed.
    Read them before any data, in the same read transaction."""
    first = session.execute(select(A.c.hash).order_by(A.c.id).limit(1)).scalar()
    status = status_in(session)
    newest: dict[int, tuple[int, str]] = {}
    chunks = [None] if patient_ids is None else [
        list(patient_ids)[i:i + _CHUNK] for i in range(0, len(patient_ids), _CHUNK)]
    for chunk in chunks:
        latest = select(func.max(A.c.id)).where(A.c.patient_id.is_not(None)).group_by(A.c.patient_id)
        if chunk is not None:
            latest = latest.where(A.c.patient_id.in_(chunk))
        for pid, audit_id, audit_hash in session.execute(
                select(A.c.patient_id, A.c.id, A.c.hash).where(A.c.id.in_(latest.scalar_subquery()))):
            newest[pid] = (audit_id, audit_hash)
    return Stamps(f"{db.url}#{first}", status, newest)


# ---------------------------------------------------------------------------------------------
# The in-process memo
# ---------------------------------------------------------------------------------------------


@dataclass
class _Entry:
    """What this process knows of one patient under one stamp."""

    stamp: Stamp
    record: PatientRecord | None = None  # the reduced course (valid for as-of on or after its newest date)
    flags: tuple[Flag, ...] | None = None  # the flags on the whole record (same validity)
    plans: dict[date, tuple[WorklistItem, ...]] = field(default_factory=dict)  # as-of -> worklist rows
    views: dict[tuple, object] = field(default_factory=dict)  # built by other services, e.g. ("dashboard", as_of)


# (lineage, patient id) -> entry. A screen that refreshes re-reads only the stamps; anything is
# recomputed only when its patient's stamp changed.
_MEMO: dict[tuple[str, int], _Entry] = {}
_MEMO_LIMIT = 50_000
_PLANS_PER_ENTRY = 8
# Views are large (a dashboard holds every series): only the most recently used few are kept.
_VIEWS: OrderedDict[tuple[str, int, tuple], None] = OrderedDict()
_VIEWS_LOCK = threading.Lock()
VIEW_LIMIT = 24


def _entry(lineage: str, patient_id: int, stamp: Stamp, *, create: bool = False) -> _Entry | None:
    """The memo entry of this patient if it has this stamp; else a new empty one (`create`) or None."""
    entry = _MEMO.get((lineage, patient_id))
    if entry is not None and entry.stamp == stamp:
        return entry
    if not create:
        return None
    if len(_MEMO) >= _MEMO_LIMIT:
        forget()
    entry = _MEMO[(lineage, patient_id)] = _Entry(stamp)
    return entry


def _keep_plan(entry: _Entry, as_of: date, items: tuple[WorklistItem, ...]) -> tuple[WorklistItem, ...]:
    if len(entry.plans) >= _PLANS_PER_ENTRY:
        entry.plans.clear()
    entry.plans[as_of] = items
    return items


def recall_view(stamps: Stamps, patient_id: int, key: tuple) -> object | None:
    """A view of this patient remembered under its current stamp (None when there is none)."""
    entry = _entry(stamps.lineage, patient_id, stamps.of(patient_id))
    view = entry.views.get(key) if entry is not None else None
    if view is not None:
        with _VIEWS_LOCK:
            _VIEWS[(stamps.lineage, patient_id, key)] = None
            _VIEWS.move_to_end((stamps.lineage, patient_id, key))
    return view


def remember_view(stamps: Stamps, patient_id: int, key: tuple, view: object) -> None:
    """Remember a view built from this patient's record as it was when `stamps` were read."""
    entry = _entry(stamps.lineage, patient_id, stamps.of(patient_id), create=True)
    entry.views[key] = view
    with _VIEWS_LOCK:  # screens build dashboards off the GUI thread
        _VIEWS[(stamps.lineage, patient_id, key)] = None
        _VIEWS.move_to_end((stamps.lineage, patient_id, key))
        while len(_VIEWS) > VIEW_LIMIT:
            (lineage, pid, old), _ = _VIEWS.popitem(last=False)
            other = _MEMO.get((lineage, pid))
            if other is not None:
                other.views.pop(old, None)


def forget(*, views_only: bool = False) -> None:
    """Drop what this process remembers (tests, benchmarks; never needed for correctness)."""
    with _VIEWS_LOCK:
        if views_only:
            for entry in list(_MEMO.values()):
                entry.views.clear()
        else:
            _MEMO.clear()
        _VIEWS.clear()


# ---------------------------------------------------------------------------------------------
# Gathering
# ---------------------------------------------------------------------------------------------


@dataclass
class Gathered:
    """Per patient (in MRN order): a record the schedule may run on, and/or the flags."""

    as_of: date
    status: ProtocolStatus
    heads: list[PatientRecord]  # identity only (no visits), MRN order
    records: dict[int, PatientRecord] = field(default_factory=dict)  # patient_id -> full or reduced record
    flags: dict[int, tuple[Flag, ...]] = field(default_factory=dict)  # patient_id -> flags as of `as_of`
    from_cache: int = 0
    computed: int = 0
    url: str = ""  # the database lineage (`Stamps.lineage`)
    stamps: dict[int, Stamp] = field(default_factory=dict)  # patient_id -> what its inputs were computed from
    workers: int = 0  # worker processes that evaluated full records (0: all in this process)

    plans: dict[int, tuple[WorklistItem, ...]] = field(default_factory=dict)  # worklist rows known already
    storable: set[int] = field(default_factory=set)  # rows whose cache row may keep the plan of `as_of`
    new_plans: dict[int, tuple[WorklistItem, ...]] = field(default_factory=dict)  # computed here, to store

    def plan(self, patient_id: int) -> tuple[WorklistItem, ...]:
        """The worklist rows of one patient as of `as_of`: `followup_plan` without the rows that
        are not yet due soon. From the stored plan of the same as-of when there is one, else
        computed by the domain (and kept in the memo under the patient's stamp)."""
        items = self.plans.get(patient_id)
        if items is not None:
            return items
        entry = _entry(self.url, patient_id, self.stamps[patient_id], create=True)
        items = entry.plans.get(self.as_of)
        if items is None:
            items = _keep_plan(entry, self.as_of, tuple(
                i for i in followup_plan(self.records[patient_id], self.protocol, self.as_of) if i.status is not None))
            if patient_id in self.storable:
                self.new_plans[patient_id] = items
        self.plans[patient_id] = items
        return items

    @property
    def protocol(self) -> Protocol:
        return self.status.protocol


@dataclass
class _NewRow:
    patient_id: int
    stamp: Stamp
    latest: date | None
    facts: str
    flags: str


def gather(
    db: Database, as_of: date, *, mrns: list[str] | None = None, want_schedule: bool = True, want_flags: bool = False,
    use_cache: bool = True,
) -> Gathered:
    """Inputs for the clinic-wide rules, from the memo or the table where valid, else from the record."""
    new_rows: list[_NewRow] = []
    with db.read() as session:
        query = select(P.c.id, P.c.mrn, P.c.name, P.c.sex, P.c.birth_date, P.c.diagnosis_date).order_by(P.c.mrn)
        if mrns is not None:
            query = query.where(P.c.mrn.in_(list(mrns)))
        heads = [PatientRecord(r.mrn, r.name, r.sex, r.birth_date, r.diagnosis_date, patient_id=r.id)
                 for r in session.execute(query)]
        ids = None if mrns is None else [h.patient_id for h in heads]
        # First the stamps, then the data (see the module docstring).
        stamps = read_stamps(session, db, ids)
        url = stamps.lineage
        out = Gathered(as_of, stamps.status, heads, url=url)
        if not heads:
            return out
        cached: dict[int, tuple] = {}
        if use_cache:
            cols = (RC.c.patient_id, RC.c.audit_id, RC.c.protocol_sha, RC.c.rules_version, RC.c.latest_date,
                    RC.c.plan_as_of)
            for row in _in_chunks(session, select(*cols), RC.c.patient_id, ids):
                cached[row[0]] = row
        fresh: set[int] = set()
        need_full: list[int] = []
        from_rows: list[tuple[PatientRecord, Stamp]] = []
        for h in heads:
            pid = h.patient_id
            row = cached.get(pid)
            stamp = out.stamps[pid] = stamps.of(pid)
            ok = row is not None and (row.audit_id, row.protocol_sha, row.rules_version) == stamp.row
            if ok:
                fresh.add(pid)
            if ok and (row.latest_date is None or as_of >= row.latest_date):
                from_rows.append((h, stamp))
                out.storable.add(pid)
                out.from_cache += 1
            else:
                need_full.append(pid)
        # Per patient, what must be read from its row: the stored plan of this as-of (then no
        # timeline at all), else the reduced timeline, and the flags; the memo saves re-parsing.
        need: dict[int, set[str]] = {}
        for h, stamp in from_rows:
            pid = h.patient_id
            parts = need.setdefault(pid, set())
            entry = _entry(url, pid, stamp)
            if want_schedule:
                memo_plan = entry.plans.get(as_of) if entry is not None else None
                if memo_plan is not None:
                    out.plans[pid] = memo_plan
                    if cached[pid].plan_as_of != as_of:
                        out.new_plans[pid] = memo_plan  # keep it for the next process too
                elif cached[pid].plan_as_of == as_of:
                    parts.add("plan")
                elif entry is None or entry.record is None:
                    parts.add("facts")
            if want_flags and (entry is None or entry.flags is None):
                parts.add("flags")
        wanted = sorted(pid for pid, parts in need.items() if parts)
        parsed: dict[int, dict] = {}
        if wanted:
            any_part = set().union(*(need[pid] for pid in wanted))
            cols = [RC.c.patient_id, RC.c.audit_id, RC.c.protocol_sha, RC.c.rules_version]
            cols += [RC.c[name] if name in any_part else RC.c.audit_id for name in ("facts", "flags", "plan")]
            head_of = {h.patient_id: h for h, _ in from_rows}
            for pid, audit_id, sha, rules, facts_text, flags_text, plan_text in _in_chunks(
                    session, select(*cols), RC.c.patient_id, wanted):
                stamp = out.stamps[pid]
                if (audit_id, sha, rules) != stamp.row:  # rewritten meanwhile (another workstation): recompute
                    continue
                h, parts, got = head_of[pid], need[pid], {}
                entry = _entry(url, pid, stamp, create=True)
                if "plan" in parts and plan_text:
                    out.plans[pid] = _keep_plan(entry, as_of, plan_from_text(plan_text, h))
                elif "plan" in parts:
                    parts.add("facts")
                    facts_text = session.execute(select(RC.c.facts).where(RC.c.patient_id == pid)).scalar()
                if "facts" in parts:
                    got["facts"] = entry.record = facts_from_json(facts_text, h)
                if "flags" in parts:
                    got["flags"] = entry.flags = flags_from_text(flags_text)
                parsed[pid] = got
        for h, stamp in from_rows:
            pid = h.patient_id
            entry = _entry(url, pid, stamp)
            got = parsed.get(pid, {})
            record = got.get("facts") or (entry.record if entry is not None else None)
            flags = got["flags"] if "flags" in got else (entry.flags if entry is not None else None)
            if (want_schedule and pid not in out.plans and record is None) or (want_flags and flags is None):
                need_full.append(pid)
                out.from_cache -= 1
                out.plans.pop(pid, None)
                continue
            if want_schedule and record is not None:
                out.records[pid] = record
            if want_flags:
                out.flags[pid] = flags
        if need_full:  # in this read transaction (one snapshot with the stamps), or in worker processes
            _evaluate_records(db, session, out, need_full, fresh, new_rows, want_schedule=want_schedule,
                              want_flags=want_flags, use_cache=use_cache)
    if new_rows:
        _store(db, new_rows, out)
    return out


# ---------------------------------------------------------------------------------------------
# Evaluating the rules on full records, a batch of patients at a time
# ---------------------------------------------------------------------------------------------

# Patients read and evaluated per batch: bounds the timelines held in memory (the rows of a batch
# are dropped before the next is read) whatever the size of the clinic. With workers, the caller
# waits at the end for the batches a worker has begun (up to three): measured on 2,000 patients,
# 20 a batch shortened that wait by about what reading 100 batches instead of 40 cost (0.35 s of
# CPU), so one process keeps the cheaper read.
GATHER_BATCH = 50
# From how many records to evaluate a pool of worker processes shares the work (each worker
# starts a Python of its own, about a second: below this it does not pay). None: never.
POOL_MIN_PATIENTS: int | None = 600
# At most this many worker processes, and one fewer than the cores: the caller evaluates too.
POOL_WORKERS = 2
# An evaluation of more patients than this keeps only its results in the memo (the worklist rows,
# the flags asked for), as one in worker processes does: the reduced records and whole flags of
# a clinic (about a hundred megabytes for 2,000 patients) are parsed from their stored rows when
# a later question needs them.
MEMO_RECORDS_UP_TO = 50
# New cache rows are written (with their worklist rows) whenever this many are pending, so that a
# cold evaluation never holds the rows of the whole clinic; each write is one short transaction.
STORE_EVERY = 500


@dataclass
class _Evaluated:
    """What the rules gave for one patient's full record (the worker processes return these)."""

    patient_id: int
    latest: date | None
    row: _NewRow | None = None  # the cache row to store (None: the row is fresh, or no cache)
    flags: tuple[Flag, ...] | None = None  # the flags as of `as_of` (when asked for)
    plan: tuple[WorklistItem, ...] | None = None  # the worklist rows as of `as_of` (when asked for)
    reduced: PatientRecord | None = None  # the reduced course (in-process only: not sent back by workers)
    whole_flags: tuple[Flag, ...] | None = None  # the flags on the whole record (in-process only)


@dataclass(frozen=True)
class _Task:
    """One evaluation's settings, the same for every batch (sent once to each worker)."""

    as_of: date
    stamps: dict[int, Stamp]
    fresh: frozenset[int]
    want_schedule: bool
    want_flags: bool
    use_cache: bool


def _evaluate(record: PatientRecord, protocol: Protocol, task: _Task) -> _Evaluated:
    """The rules on one full record: its cache row (flags on the whole record and the reduced
    course), its flags and its worklist rows as of `task.as_of`."""
    pid, as_of = record.patient_id, task.as_of
    latest = latest_date(record)
    out = _Evaluated(pid, latest)
    valid = latest is None or as_of >= latest  # the record's whole flags and reduction hold at as-of
    schedule_record = record
    if task.use_cache and pid not in task.fresh:
        whole = compute_flags(record, protocol, latest or as_of)
        reduced = reduce_for_schedule(record, protocol, whole if latest is not None else None)
        if reduced is record and record.visits:
            log.warning("reduced timeline of patient id %s differs from the full one; the full record is cached", pid)
        out.row = _NewRow(pid, task.stamps[pid], latest, facts_to_json(reduced), flags_to_text(whole))
        out.reduced, out.whole_flags = reduced, whole
        if valid:
            schedule_record = reduced  # the reduction gives the same schedule (checked by reduce_for_schedule)
    flags_at = out.whole_flags if valid else None  # the flags as of `as_of`, when computed
    if task.want_flags:
        out.flags = flags_at = flags_at if flags_at is not None else compute_flags(record, protocol, as_of)
    if task.want_schedule:
        # On the full record the schedule reads its restaging triggers from the flags of the same
        # as-of when they were computed (else it computes them itself); a reduced record carries its own.
        known = flags_at if schedule_record is record else None
        out.plan = tuple(i for i in followup_plan(schedule_record, protocol, as_of, flags=known) if i.status is not None)
    return out


def _evaluate_batch(session: Session, patient_ids: list[int], protocol: Protocol, task: _Task) -> list[_Evaluated]:
    return [_evaluate(record, protocol, task) for record in load_timelines(session, patient_ids=patient_ids)]


# The worker processes' state, set once per worker by `_worker_start`.
_WORKER: dict = {}


def _worker_start(url: str, protocol_text: str, default: bool) -> None:
    """A worker's settings, sent once when it starts. They must stay small whatever the clinic:
    the start message goes down a pipe (64 KB) before the worker has imported anything, and the
    caller waits on a larger one instead of evaluating batches (`_batch_task` sends the rest)."""
    from poems_monitor.domain.protocol import default_protocol, load_protocol
    from poems_monitor.persistence.db import create_database_engine

    gc.disable()  # a worker only evaluates batches (see `garbage_collector`); it ends with the pool
    _WORKER["engine"] = create_database_engine(url)
    _WORKER["protocol"] = default_protocol() if default else load_protocol(protocol_text)
    gc.freeze()  # what the worker imported is never garbage: the collection after each batch skips it


def _batch_task(task: _Task, patient_ids: list[int]) -> _Task:
    """`task` as one batch needs it: the stamps (and fresh rows) of its patients only."""
    return replace(task, stamps={pid: task.stamps[pid] for pid in patient_ids}, fresh=task.fresh.intersection(patient_ids))


def _worker_batch(patient_ids: list[int], task: _Task) -> list[_Evaluated]:
    """One batch in a worker: its own read transaction (begun after the caller read the stamps,
    so it can only see newer data than they name: a result can only look stale, never fresh)."""
    with Session(_WORKER["engine"], expire_on_commit=False) as session:
        found = _evaluate_batch(session, patient_ids, _WORKER["protocol"], task)
    for e in found:
        e.reduced = e.whole_flags = None  # the parent parses the stored row when it needs them
    gc.collect()  # what the batch left in cycles (the collector is off here; see `_worker_start`)
    return found


def _pool_workers(db: Database, count: int, batches: int) -> int:
    """How many worker processes evaluate `count` records (in `batches`) beside the caller: 0 (all
    here) for a small evaluation, an in-memory database, a frozen app or one core; else one fewer
    than the cores (the caller is busy too: a worker more only shares the same cores, at the
    price of its start), at most POOL_WORKERS and the batches."""
    import sys

    if (POOL_MIN_PATIENTS is None or count < POOL_MIN_PATIENTS or db.path is None
            or getattr(sys, "frozen", False)):  # a frozen app would start itself again as a worker
        return 0
    return max(0, min(POOL_WORKERS, (os.cpu_count() or 1) - 1, batches))


def _evaluated_batches(db: Database, session: Session, status: ProtocolStatus, ids: list[int], task: _Task,
                       workers: list[int]) -> Iterator:
    """The evaluation of `ids` (MRN order), a batch at a time: in this process, or in a pool of
    worker processes for a large clinic (the rules are pure Python: threads would not run them
    side by side)."""
    batches = [ids[i:i + GATHER_BATCH] for i in range(0, len(ids), GATHER_BATCH)]
    first, last = 0, len(batches)  # batches[first:last] are still to be evaluated
    workers[0] = _pool_workers(db, len(ids), len(batches))
    if workers[0]:
        import multiprocessing
        from concurrent.futures import Future, ProcessPoolExecutor

        default = not status.stored or status.problem is not None
        try:
            with ProcessPoolExecutor(max_workers=workers[0],
                                     mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start,
                                     initargs=(db.url, status.text, default)) as pool:
                futures: list[Future | None] = [pool.submit(_worker_batch, batch, _batch_task(task, batch)) for batch in batches]
                # While the workers start (a Python of their own each) and whenever the next
                # result is not ready, this process evaluates a batch from the end that no worker
                # has begun; the results come in any order (each is keyed by patient).
                while first < last:
                    if not futures[first].done() and futures[last - 1].cancel():
                        evaluated = _evaluate_batch(session, batches[last - 1], status.protocol, task)
                        last -= 1
                        yield evaluated
                    else:
                        evaluated = futures[first].result()
                        futures[first] = None  # the results are ours now: kept here, they grew with the clinic
                        first += 1
                        yield evaluated
            return
        except Exception as exc:  # noqa: BLE001 (no process may start, the file may be unreadable to them...)
            log.warning("rules worker processes failed (%s); the rest is evaluated in this process", exc)
            workers[0] = 0
    for batch in batches[first:last]:
        yield _evaluate_batch(session, batch, status.protocol, task)


def _evaluate_records(db: Database, session: Session, out: Gathered, ids: list[int], fresh: set[int], new_rows: list[_NewRow], *,
                      want_schedule: bool, want_flags: bool, use_cache: bool) -> None:
    """Evaluate the rules on the full records of `ids` and put the results in `out` (and the
    memo); the cache rows to store go to `new_rows`. No full record outlives its batch."""
    with collector_paused():
        _evaluate_records_now(db, session, out, ids, fresh, new_rows, want_schedule=want_schedule,
                              want_flags=want_flags, use_cache=use_cache)


def _evaluate_records_now(db: Database, session: Session, out: Gathered, ids: list[int], fresh: set[int],
                          new_rows: list[_NewRow], *, want_schedule: bool, want_flags: bool, use_cache: bool) -> None:
    task = _Task(out.as_of, {pid: out.stamps[pid] for pid in ids}, frozenset(fresh), want_schedule, want_flags,
                 use_cache)
    workers = [0]
    remember = len(ids) <= MEMO_RECORDS_UP_TO
    # Rows are written as they come only where a write may run beside this open read: another
    # connection (not the one connection of an in-memory database).
    store_now = not (db.is_sqlite and db.path is None)
    for batch in _evaluated_batches(db, session, out.status, ids, task, workers):
        gc.collect(0)  # the collector is paused: free what the batch left in cycles (only its own objects are scanned)
        for e in batch:
            pid = e.patient_id
            out.computed += 1
            entry = _entry(out.url, pid, out.stamps[pid], create=True)
            if e.row is not None:
                new_rows.append(e.row)
                if e.reduced is not None and remember:
                    entry.record, entry.flags = e.reduced, e.whole_flags
                if e.latest is None or out.as_of >= e.latest:
                    out.storable.add(pid)  # its new row may keep the plan of this as-of
            if e.plan is not None:
                out.plans[pid] = e.plan
                if e.latest is None or out.as_of >= e.latest:
                    _keep_plan(entry, out.as_of, e.plan)
                if pid in out.storable:
                    out.new_plans[pid] = e.plan
            if e.flags is not None:
                out.flags[pid] = e.flags
        del batch
        if store_now and len(new_rows) >= STORE_EVERY:
            _store(db, new_rows, out)
            new_rows.clear()
    out.workers = workers[0]
    for pid in set(ids) - set(out.plans if want_schedule else out.flags):  # deleted since the stamps were read
        if want_schedule:
            out.plans[pid] = ()
        if want_flags:
            out.flags[pid] = ()


_ROW_KEYS = ("patient_id", "audit_id", "protocol_sha", "rules_version", "latest_date", "facts", "flags", "computed_at",
             "plan_as_of", "plan")


def _store(db: Database, rows: list[_NewRow], g: Gathered | None = None) -> None:
    """Replace the cache rows of these patients, each with its worklist rows of `g.as_of` when
    `g` computed them (they are then no longer pending for `store_plans`): one transaction. A
    failure only costs speed next time."""
    plans = g.new_plans if g is not None else {}
    as_of = g.as_of if g is not None else None
    try:
        now = utcnow()
        with db.write() as session:
            ids = [r.patient_id for r in rows]
            for i in range(0, len(ids), _CHUNK):
                session.execute(delete(RC).where(RC.c.patient_id.in_(ids[i:i + _CHUNK])))
            insert_rows(session.connection(), RC, [(
                r.patient_id, r.stamp.audit_id, r.stamp.protocol_sha, r.stamp.rules_version, r.latest, r.facts, r.flags,
                now, as_of if r.patient_id in plans else None,
                plan_to_text(plans[r.patient_id]) if r.patient_id in plans else None) for r in rows], keys=_ROW_KEYS)
    except Exception as exc:  # noqa: BLE001 (locked, read-only, or a patient deleted meanwhile)
        log.warning("rules cache not updated (%d patients): %s", len(rows), exc)
        return
    for r in rows:
        plans.pop(r.patient_id, None)


def store_plans(db: Database, g: Gathered) -> None:
    """Keep the worklist rows computed in `g` in their cache rows (only where the row still has
    the stamp they were computed from), so the next process asking for the same as-of reads
    them instead of computing. Best effort, like `_store`."""
    if not g.new_plans:
        return
    rows = [dict(pid=pid, audit=g.stamps[pid].audit_id, sha=g.stamps[pid].protocol_sha,
                 rules=g.stamps[pid].rules_version, plan_as_of=g.as_of, plan=plan_to_text(items))
            for pid, items in g.new_plans.items()]
    statement = (update(RC).where(RC.c.patient_id == bindparam("pid"), RC.c.audit_id == bindparam("audit"),
                                  RC.c.protocol_sha == bindparam("sha"), RC.c.rules_version == bindparam("rules"))
                 .values(plan_as_of=bindparam("plan_as_of"), plan=bindparam("plan")))
    try:
        with db.write() as session:
            session.connection().execute(statement, rows)
    except Exception as exc:  # noqa: BLE001
        log.warning("worklist plans not kept (%d patients): %s", len(rows), exc)
    g.new_plans.clear()


def clear_cache(db: Database) -> int:
    """Delete every cached row (always safe); returns how many there were."""
    with db.write() as session:
        return session.execute(delete(RC)).rowcount or 0
