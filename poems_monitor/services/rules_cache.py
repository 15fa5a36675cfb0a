"""Gathering what the clinic-wide rules need, fast: a per-patient cache of reduced timelines and flags.

Owns how the worklist and the clinic's flags get their inputs without reading every value of
every patient each time (2,000 full timelines take about 10-20 s to load on a small machine,
while the schedule reads a few percent of them). For each patient the table `rules_cache` holds:

- `facts`: the *reduced timeline* that the follow-up schedule reads: every treatment and event;
  the first and the last visit (baseline, last review); per follow-up item what the newest visit
  that completed it and the newest that partly did hold for it; for echo and PFT the visits that
  fix the normal/abnormal state (last verdict, start of the trailing abnormal run); the VEGF
  values that reproduce every rise; every symptom change that brings an echo or PFT forward;
  the blood count of the last visit at which thrombocytosis or polycythaemia is known; and the
  last visit inside the engraftment-syndrome window; and the relapse triggers (dates and why)
  computed on the whole record by `followup.restaging_triggers` (the `relapse_suspected` rule
  reads every feature, VEGF and neuropathy score: no reduction of the visits keeps them, so the
  reduced record carries them as `PatientRecord.relapse_triggers`). The domain's own `schedule_for` runs on this reduced record, so
  there is one schedule, not a second implementation: for an as-of on or after the newest date
  in the record it yields exactly what the full record yields (the integration tests and the
  benchmark check this on demo clinics).
- `flags`: the patient's flags computed on the whole record (flags depend on as-of only by
  clipping the record, so they hold for any as-of on or after the newest date).

A row is used only when its stamps match: the patient's newest `audit_entry.id` (every write to
a patient's record is audited with its patient_id, in the same transaction), the sha256 of the
protocol in force and the version of the rules (a hash of the domain modules' source). Anything
else (a stale or missing row, or an as-of earlier than the record's newest date) is computed
from the full timeline, and stale rows are rewritten afterwards in a short write transaction
(best effort: a locked or read-only database only costs speed). The audit id is read before the
timelines, so a concurrent write can only make a row look stale, never fresh.

Derived data only: never audited, never exported as clinical data, safe to delete at any time.
No Qt.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlmodel import Session

from poems_monitor.domain import (
    catalogue, course, criteria, derived, flags as flags_module, followup, protocol as protocol_module, safety_flags, timeline,
)
from poems_monitor.domain.catalogue import EXAM_KINDS, MEASURES
from poems_monitor.domain.course import LineIndex, lines_of_therapy
from poems_monitor.domain.derived import derive_features
from poems_monitor.domain.flags import VEGF_CODES, Flag, FlagKind, Severity, _rises, compute_flags, vegf_rise_dates
# The schedule's own definitions of "done", "trigger" and "blood count", and its visit summary
# (`_Facts`) that checks each reduction: one definition, no copy to drift.
from poems_monitor.domain.followup import (
    _BLOOD_COUNT, _DONE_BY_CODE, _TRIGGERS, Status, WorklistItem, _Facts, engraftment_window, followup_plan, latest_asct,
    restaging_triggers, visit_findings,
)
from poems_monitor.domain.protocol import Protocol
from poems_monitor.domain.timeline import (
    EventRecord, ExamRecord, ObservationRecord, PatientRecord, TreatmentRecord, VisitRecord,
)
from poems_monitor.models import AuditEntry, Patient, RulesCache
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.audit import utcnow
from poems_monitor.services.protocol_store import ProtocolStatus, status_in

log = logging.getLogger(__name__)

RC = RulesCache.__table__
A = AuditEntry.__table__
P = Patient.__table__
CACHE_FORMAT = "3"  # bump when the reduction or the JSON layout below changes
_CHUNK = 900
_RUN_CODES = ("thrombocytosis", "polycythemia")


@lru_cache(maxsize=1)
def rules_version() -> str:
    """A fingerprint of the rules' code: a new version of a rule invalidates every cached row."""
    digest = hashlib.sha256(CACHE_FORMAT.encode())
    for module in (catalogue, course, criteria, derived, flags_module, followup, protocol_module, safety_flags, timeline):
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


# ---------------------------------------------------------------------------------------------
# The reduced timeline
# ---------------------------------------------------------------------------------------------


def latest_date(p: PatientRecord) -> date | None:
    """The newest date in the record: clipping at any as-of on or after it changes nothing."""
    days = [v.date for v in p.visits[-1:]] + [e.date for e in p.events]
    for t in p.treatments:
        days.extend(d for d in (t.start, t.stop, t.engraftment_date) if d is not None)
    return max(days) if days else None


def _thrombosis_visit(p: PatientRecord, protocol: Protocol) -> int | None:
    """Index of the last visit at which thrombocytosis or polycythaemia is known: the one the
    schedule's thrombosis review reads (same test as `followup._Planner.thrombosis_risk`)."""
    for i in range(len(p.visits) - 1, -1, -1):
        visit = p.visits[i]
        if not (any(o.code in _BLOOD_COUNT for o in visit.observations)
                or any(code in _RUN_CODES for code, _ in visit.features)):
            continue
        for d in derive_features(visit, p.sex, protocol, explain=False):
            if d.code in _RUN_CODES and d.state.value != "unknown":
                return i
    return None


def _vegf_points(p: PatientRecord, protocol: Protocol) -> set[tuple[int, str]]:
    """(visit index, code) of the VEGF values that reproduce every VEGF rise of the record: per
    rise the value and its nadir (the nadir restarts at each rise, so nothing between two kept
    points can rise over a kept nadir)."""
    lines = LineIndex(lines_of_therapy(p))
    keep: set[tuple[int, str]] = set()
    for code in VEGF_CODES:
        uln = protocol.vegf_plasma_upper_reference if code == "vegf_plasma" else protocol.vegf_serum_upper_reference
        series = [(v.date, float(o.number), vi) for vi, v in enumerate(p.visits)
                  if (o := v.value(code)) is not None and o.number is not None]
        if len(series) < 2:
            continue
        index = {day: vi for day, _, vi in series}
        for day, _value, nadir_day, *_rest in _rises(lines, [(d, x, None) for d, x, _ in series],
                                                     protocol.vegf_rise_fraction, uln):
            keep.add((index[day], code))
            keep.add((index[nadir_day], code))
    return keep


def _es_last_visit(p: PatientRecord, protocol: Protocol) -> int | None:
    """Index of the last visit inside the engraftment-syndrome window of the latest ASCT (the
    watch reads whether, and when last, the window was assessed)."""
    asct = latest_asct(p)
    if asct is None:
        return None
    start, end, _ = engraftment_window(asct, protocol)
    found = None
    for vi, v in enumerate(p.visits):
        if start <= v.date <= end:
            found = vi
    return found


def _schedule_inputs(p: PatientRecord, protocol: Protocol) -> tuple:
    """Everything the follow-up schedule reads from the visits, for as-of on or after the newest
    date: the reduction is kept only when this is equal for the full and the reduced record."""
    facts = _Facts(p, protocol)
    ti = _thrombosis_visit(p, protocol)
    blood = None
    if ti is not None:
        blood = (p.visits[ti].date, tuple((d.code, d.state) for d in derive_features(p.visits[ti], p.sex, protocol, explain=False)
                                          if d.code in _RUN_CODES))
    es = _es_last_visit(p, protocol)
    return (facts.last_done, facts.partial,
            {k: (x.abnormal, x.abnormal_since, x.latest_abnormal) for k, x in facts.exam.items()}, facts.onsets,
            vegf_rise_dates(p, protocol), p.visits[0].date if p.visits else None, blood,
            p.visits[es].date if es is not None else None)


def reduce_for_schedule(p: PatientRecord, protocol: Protocol, flags: tuple[Flag, ...] | None = None) -> PatientRecord:
    """What `followup.schedule_for` reads of `p` (see the module docstring); same schedule for
    any as-of on or after `latest_date(p)`. Checked: when the reduced record would not give the
    same schedule inputs, the full record is returned. `flags`: the flags of `p` as of
    `latest_date(p)` when known (the relapse triggers are read from them, not computed again);
    the triggers are carried as computed on `p`, not reduced.

    Per item, a few visits keep everything they hold for that item (so each kept visit reads
    exactly as it did: done, partly done, normal or abnormal): the last visit that completed it,
    the partly-done visit the schedule reports (the newest; the first of a run still pending),
    and for echo/PFT the last verdict, the start of the trailing
    abnormal run and the normal verdict before it."""
    visits = p.visits
    if not visits:
        return p
    keep_items: dict[int, set[str]] = {}  # visit -> items whose content is kept whole there
    keep_obs: dict[int, set[int]] = {}
    keep_feat: dict[int, set[int]] = {}
    verdicts: dict[str, list[tuple[int, bool]]] = {}
    previous: dict[str, str] = {}
    for vi, v in enumerate(visits):
        if v.observations or v.exams:
            found = visit_findings(v, p.sex, protocol)
            for item, bad in found.verdict.items():
                verdicts.setdefault(item, []).append((vi, bad))
        for fi, (code, status) in enumerate(v.features):
            if code in _TRIGGERS and status in ("present", "absent") and previous.get(code) != status:
                keep_feat.setdefault(vi, set()).add(fi)  # only the changes matter (onsets)
                previous[code] = status
    index = {v.date: vi for vi, v in enumerate(visits)}
    facts = _Facts(p, protocol)  # the visits the schedule's own summary ends on, per item
    for item, day in facts.last_done.items():
        keep_items.setdefault(index[day], set()).add(item)
    for item, (day, _) in facts.partial.items():
        keep_items.setdefault(index[day], set()).add(item)
    for item, seq in verdicts.items():
        keep_items.setdefault(seq[-1][0], set()).add(item)  # the last verdict
        k = len(seq) - 1
        while k > 0 and seq[k - 1][1] and seq[k][1]:
            k -= 1
        if seq[k][1]:
            keep_items.setdefault(seq[k][0], set()).add(item)  # the start of the trailing abnormal run
            if k > 0:
                keep_items.setdefault(seq[k - 1][0], set()).add(item)  # and the normal verdict before it
    for vi, code in _vegf_points(p, protocol):
        v = visits[vi]
        keep_obs.setdefault(vi, set()).update(i for i, o in enumerate(v.observations) if o.code == code)
    ti = _thrombosis_visit(p, protocol)
    if ti is not None:
        keep_items.setdefault(ti, set()).add("hematology")  # the blood count, read as the schedule reads it
        v = visits[ti]
        keep_obs.setdefault(ti, set()).update(i for i, o in enumerate(v.observations) if o.code in _BLOOD_COUNT)
        keep_feat.setdefault(ti, set()).update(i for i, (c, _) in enumerate(v.features) if c in _RUN_CODES)
    es = _es_last_visit(p, protocol)
    wanted = sorted({0, len(visits) - 1} | set(keep_items) | set(keep_obs) | set(keep_feat)
                    | ({es} if es is not None else set()))
    reduced_visits = []
    for vi in wanted:
        v = visits[vi]
        items = keep_items.get(vi, set())
        obs_idx = set(keep_obs.get(vi, ()))
        for i, o in enumerate(v.observations):
            entry = _DONE_BY_CODE.get(o.code)
            if entry is not None and items.intersection(entry[0]):
                obs_idx.add(i)
        exams = tuple(x for x in v.exams
                      if (kind := EXAM_KINDS.get(x.kind)) is not None and kind.followup_item in items)
        reduced_visits.append(VisitRecord(
            date=v.date,
            observations=tuple(v.observations[i] for i in sorted(obs_idx)),
            features=tuple(v.features[i] for i in sorted(keep_feat.get(vi, ()))),
            exams=exams,
        ))
    latest = latest_date(p)
    reduced = PatientRecord(p.mrn, p.name, p.sex, p.birth_date, p.diagnosis_date, tuple(reduced_visits),
                            p.treatments, p.events, p.patient_id,
                            relapse_triggers=restaging_triggers(p, protocol, latest, flags) if latest is not None else ())
    if _schedule_inputs(reduced, protocol) != _schedule_inputs(p, protocol):
        log.warning("reduced timeline of patient id %s differs from the full one; the full record is cached", p.patient_id)
        return p
    return reduced


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


def _record(cls, values: dict):  # noqa: ANN001, ANN202
    """A frozen timeline record built without its generated __init__ (which sets each field
    through object.__setattr__): parsing 2,000 cached rows is a third of the worklist's time.
    Fields left out keep their class-level defaults, exactly as __init__ would set them."""
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


def facts_from_json(text: str, head: PatientRecord) -> PatientRecord:
    """The reduced record stored in `text`, with identity fields from `head`."""
    data = json.loads(text)
    fromiso = date.fromisoformat
    visits = tuple(
        _record(VisitRecord, {
            "date": fromiso(day),
            "observations": tuple(_record(ObservationRecord, {"code": code, "value": value, "unit": "", "qualifier": q})
                                  for code, value, q in obs),
            "features": tuple((c, s) for c, s in feats),
            "exams": tuple(_record(ExamRecord, {"kind": kind, "result": result}) for kind, result in exams),
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
        _record(Flag, {"mrn": f["mrn"], "kind": _KINDS[f["kind"]], "code": f["code"], "date": fromiso(f["date"]),
                       "severity": _SEVERITIES[f["severity"]], "message": f["message"], "rule": f["rule"],
                       "evidence": f["evidence"], "flag_id": f["flag_id"]})
        for f in json.loads(text)
    )


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
    url: str = ""
    stamps: dict[int, tuple] = field(default_factory=dict)  # patient_id -> what its inputs were computed from

    plans: dict[int, tuple[WorklistItem, ...]] = field(default_factory=dict)  # worklist rows known already
    storable: set[int] = field(default_factory=set)  # rows whose cache row may keep the plan of `as_of`
    new_plans: dict[int, tuple[WorklistItem, ...]] = field(default_factory=dict)  # computed here, to store

    def plan(self, patient_id: int) -> tuple[WorklistItem, ...]:
        """The worklist rows of one patient as of `as_of`: `followup_plan` without the rows that
        are not yet due soon. From the stored plan of the same as-of when there is one, else
        computed by the domain (and memoised per stamp and as-of in this process)."""
        items = self.plans.get(patient_id)
        if items is not None:
            return items
        key = (self.url, patient_id, self.stamps.get(patient_id), self.as_of)
        items = _PLANS.get(key)
        if items is None:
            if len(_PLANS) >= _MEMO_LIMIT:
                _PLANS.clear()
            items = tuple(i for i in followup_plan(self.records[patient_id], self.protocol, self.as_of)
                          if i.status is not None)
            _PLANS[key] = items
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
    audit_id: int
    latest: date | None
    facts: str
    flags: str


def _in_chunks(session: Session, query, column, ids):  # noqa: ANN001, ANN202
    if ids is None:
        return session.execute(query).all()
    out = []
    ids = list(ids)
    for i in range(0, len(ids), _CHUNK):
        out.extend(session.execute(query.where(column.in_(ids[i:i + _CHUNK]))).all())
    return out


# In-process memo of parsed cache rows: (database url, patient id) -> (stamp, reduced record, flags).
# A screen that refreshes the worklist re-reads only the stamps; a row is re-parsed only when its
# stamp (audit id, protocol, rules version) changed.
_MEMO: dict[tuple[str, int], tuple[tuple, PatientRecord | None, tuple[Flag, ...] | None]] = {}
_MEMO_LIMIT = 50_000
_PLANS: dict[tuple, tuple[WorklistItem, ...]] = {}


def _remember(url: str, pid: int, stamp: tuple, record: PatientRecord | None, flags: tuple[Flag, ...] | None) -> None:
    if len(_MEMO) >= _MEMO_LIMIT:
        _MEMO.clear()
    old = _MEMO.get((url, pid))
    if old is not None and old[0] == stamp:  # keep what is known already
        record = record if record is not None else old[1]
        flags = flags if flags is not None else old[2]
    _MEMO[(url, pid)] = (stamp, record, flags)


def gather(
    db: Database, as_of: date, *, mrns: list[str] | None = None, want_schedule: bool = True, want_flags: bool = False,
    use_cache: bool = True,
) -> Gathered:
    """Inputs for the clinic-wide rules, from the cache where it is valid, else from the record."""
    new_rows: list[_NewRow] = []
    version = rules_version()
    with db.read() as session:
        # The memo's key names the database by its URL and its first audit hash: a different
        # clinic put at the same path (a restored foreign file, a test) never reuses entries.
        first = session.execute(select(A.c.hash).order_by(A.c.id).limit(1)).scalar()
        url = f"{db.url}#{first}"
        status = status_in(session)
        query = select(P.c.id, P.c.mrn, P.c.name, P.c.sex, P.c.birth_date, P.c.diagnosis_date).order_by(P.c.mrn)
        if mrns is not None:
            query = query.where(P.c.mrn.in_(list(mrns)))
        heads = [PatientRecord(r.mrn, r.name, r.sex, r.birth_date, r.diagnosis_date, patient_id=r.id)
                 for r in session.execute(query)]
        out = Gathered(as_of, status, heads, url=url)
        if not heads:
            return out
        ids = None if mrns is None else [h.patient_id for h in heads]
        # First the audit stamps, then the data (see the module docstring).
        stamps = dict(_in_chunks(session, select(A.c.patient_id, func.max(A.c.id)).where(A.c.patient_id.is_not(None))
                                 .group_by(A.c.patient_id), A.c.patient_id, ids))
        cached: dict[int, tuple] = {}
        if use_cache:
            cols = (RC.c.patient_id, RC.c.audit_id, RC.c.protocol_sha, RC.c.rules_version, RC.c.latest_date,
                    RC.c.plan_as_of)
            for row in _in_chunks(session, select(*cols), RC.c.patient_id, ids):
                cached[row[0]] = row
        fresh: set[int] = set()
        need_full: list[int] = []
        from_rows: list[tuple[PatientRecord, tuple]] = []
        for h in heads:
            pid = h.patient_id
            row = cached.get(pid)
            stamp = out.stamps[pid] = (stamps.get(pid, 0), status.digest, version)
            ok = row is not None and (row.audit_id, row.protocol_sha, row.rules_version) == stamp
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
            if want_schedule:
                memo_plan = _PLANS.get((url, pid, stamp, as_of))
                if memo_plan is not None:
                    out.plans[pid] = memo_plan
                    if cached[pid].plan_as_of != as_of:
                        out.new_plans[pid] = memo_plan  # keep it for the next process too
                elif cached[pid].plan_as_of == as_of:
                    parts.add("plan")
                elif not _memo_has(url, pid, stamp, 1):
                    parts.add("facts")
            if want_flags and not _memo_has(url, pid, stamp, 2):
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
                if (audit_id, sha, rules) != stamp:  # rewritten meanwhile (another workstation): recompute
                    continue
                h, parts, got = head_of[pid], need[pid], {}
                if "plan" in parts and plan_text:
                    out.plans[pid] = _PLANS[(url, pid, stamp, as_of)] = plan_from_text(plan_text, h)
                elif "plan" in parts:
                    parts.add("facts")
                    facts_text = session.execute(select(RC.c.facts).where(RC.c.patient_id == pid)).scalar()
                if "facts" in parts:
                    got["facts"] = facts_from_json(facts_text, h)
                if "flags" in parts:
                    got["flags"] = flags_from_text(flags_text)
                parsed[pid] = got
                _remember(url, pid, stamp, got.get("facts"), got.get("flags"))
        for h, stamp in from_rows:
            pid = h.patient_id
            memo = _MEMO.get((url, pid))
            memo = memo if memo is not None and memo[0] == stamp else (None, None, None)
            got = parsed.get(pid, {})
            record = got.get("facts") or memo[1]
            flags = got["flags"] if "flags" in got else memo[2]
            if (want_schedule and pid not in out.plans and record is None) or (want_flags and flags is None):
                need_full.append(pid)
                out.from_cache -= 1
                out.plans.pop(pid, None)
                continue
            if want_schedule and record is not None:
                out.records[pid] = record
            if want_flags:
                out.flags[pid] = flags
        full = load_timelines(session, patient_ids=need_full) if need_full else []
    protocol = status.protocol
    for record in full:
        pid = record.patient_id
        out.computed += 1
        latest = latest_date(record)
        whole_flags = None
        if use_cache and pid not in fresh:
            whole_flags = compute_flags(record, protocol, latest or as_of)
            reduced = reduce_for_schedule(record, protocol, whole_flags if latest is not None else None)
            new_rows.append(_NewRow(pid, stamps.get(pid, 0), latest, facts_to_json(reduced), flags_to_text(whole_flags)))
            _remember(url, pid, (stamps.get(pid, 0), status.digest, version), reduced, whole_flags)
            if latest is None or as_of >= latest:
                out.storable.add(pid)  # its new row may keep the plan of this as-of
        if want_schedule:
            out.records[pid] = record  # the domain clips it to as-of
        if want_flags:
            valid = latest is None or as_of >= latest
            out.flags[pid] = whole_flags if (whole_flags is not None and valid) else compute_flags(record, protocol, as_of)
    if new_rows:
        _store(db, new_rows, status.digest, version)
    return out


def _memo_has(url: str, pid: int, stamp: tuple, part: int) -> bool:
    entry = _MEMO.get((url, pid))
    return entry is not None and entry[0] == stamp and entry[part] is not None


def _store(db: Database, rows: list[_NewRow], protocol_sha: str, version: str) -> None:
    """Replace the cache rows of these patients; a failure only costs speed next time."""
    try:
        now = utcnow()
        with db.write() as session:
            ids = [r.patient_id for r in rows]
            for i in range(0, len(ids), _CHUNK):
                session.execute(delete(RC).where(RC.c.patient_id.in_(ids[i:i + _CHUNK])))
            session.execute(insert(RC), [dict(
                patient_id=r.patient_id, audit_id=r.audit_id, protocol_sha=protocol_sha, rules_version=version,
                latest_date=r.latest, facts=r.facts, flags=r.flags, computed_at=now) for r in rows])
    except Exception as exc:  # noqa: BLE001 (locked, read-only, or a patient deleted meanwhile)
        log.warning("rules cache not updated (%d patients): %s", len(rows), exc)


def store_plans(db: Database, g: Gathered) -> None:
    """Keep the worklist rows computed in `g` in their cache rows (only where the row still has
    the stamp they were computed from), so the next process asking for the same as-of reads
    them instead of computing. Best effort, like `_store`."""
    if not g.new_plans:
        return
    rows = [dict(pid=pid, audit=g.stamps[pid][0], sha=g.stamps[pid][1], rules=g.stamps[pid][2],
                 plan_as_of=g.as_of, plan=plan_to_text(items)) for pid, items in g.new_plans.items()]
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
