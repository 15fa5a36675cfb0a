"""The reduced course: the few parts of a patient record that the follow-up schedule reads.

Pure (no SQL, files or clock). `services.rules_cache` stores the reduced record of each patient
so that the clinic-wide worklist need not read every value of every patient; this module decides
*what* is kept, the cache only *where* it is kept. Kept whole: every treatment and event, the
first and the last visit (baseline, last review); per follow-up item the visits the schedule's
own summary (`followup.VisitSummary`) ends on: the newest visit that completed it and the
partly-done visit it reports; for echo and PFT the visits that fix the normal/abnormal state
(last verdict, start of the trailing abnormal run and the normal verdict before it); the VEGF
values that reproduce every rise (`flags.vegf_rise_nadirs`); every symptom change that brings an
echo or PFT forward; the blood count of the last visit at which thrombocytosis or polycythaemia
is known; the last visit inside the engraftment-syndrome window; and the relapse triggers
computed on the whole record (`followup.restaging_triggers` reads every feature, VEGF and
neuropathy score, which no reduction of the visits keeps, so the reduced record carries them as
`PatientRecord.relapse_triggers`).

The domain's own `followup.schedule_for` runs on the reduced record: one schedule, not two. For
an as-of on or after `latest_date(p)` it yields exactly what the full record yields: every
reduction is checked with `schedule_inputs` and the full record is returned when they differ.
If a new rule needs an input the reduction drops, extend it here and bump
`services.rules_cache.CACHE_FORMAT`.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from poems_monitor.domain.catalogue import EXAM_KINDS
from poems_monitor.domain.derived import derive_features
from poems_monitor.domain.flags import Flag, vegf_rise_nadirs
from poems_monitor.domain.followup import (
    BLOOD_COUNT_CODES, DONE_BY_CODE, TRIGGER_CODES, VisitSummary, engraftment_window, latest_asct, restaging_triggers,
    rise_dates, visit_findings, visit_summary,
)
from poems_monitor.domain.protocol import Protocol
from poems_monitor.domain.timeline import PatientRecord, VisitRecord

# The derived features the schedule's thrombosis review reads (`followup._Planner.thrombosis_risk`).
RUN_CODES = ("thrombocytosis", "polycythemia")


@lru_cache(maxsize=256)
def _codes_of(items: frozenset[str]) -> frozenset[str]:
    """The measure codes that count for any of these follow-up items (`followup.DONE_BY_CODE`):
    a kept visit keeps its values of them. A pure function of a few items: worked out once."""
    return frozenset(code for code, (done, _) in DONE_BY_CODE.items() if items.intersection(done))


def latest_date(p: PatientRecord) -> date | None:
    """The newest date in the record: clipping at any as-of on or after it changes nothing."""
    days = [v.date for v in p.visits[-1:]] + [e.date for e in p.events]
    for t in p.treatments:
        days.extend(d for d in (t.start, t.stop, t.engraftment_date) if d is not None)
    return max(days) if days else None


def thrombosis_visit(p: PatientRecord, protocol: Protocol) -> int | None:
    """Index of the last visit at which thrombocytosis or polycythaemia is known: the one the
    schedule's thrombosis review reads (same test as `followup._Planner.thrombosis_risk`)."""
    for i in range(len(p.visits) - 1, -1, -1):
        visit = p.visits[i]
        if not (any(o.code in BLOOD_COUNT_CODES for o in visit.observations)
                or any(code in RUN_CODES for code, _ in visit.features)):
            continue
        for d in derive_features(visit, p.sex, protocol, explain=False):
            if d.code in RUN_CODES and d.state.value != "unknown":
                return i
    return None


def vegf_points(p: PatientRecord, protocol: Protocol,
                nadirs: tuple[tuple[str, date, date], ...] | None = None) -> set[tuple[int, str]]:
    """(visit index, code) of the VEGF values that reproduce every VEGF rise of the record.
    `nadirs`: `vegf_rise_nadirs(p, protocol)` when the caller has it."""
    index = {v.date: vi for vi, v in enumerate(p.visits)}
    keep: set[tuple[int, str]] = set()
    for code, day, nadir_day in (nadirs if nadirs is not None else vegf_rise_nadirs(p, protocol)):
        keep.add((index[day], code))
        keep.add((index[nadir_day], code))
    return keep


def engraftment_last_visit(p: PatientRecord, protocol: Protocol) -> int | None:
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


def schedule_inputs(p: PatientRecord, protocol: Protocol, facts: VisitSummary | None = None) -> tuple:
    """Everything the follow-up schedule reads from the visits, for as-of on or after the newest
    date: a reduction is kept only when this is equal for the full and the reduced record.
    `facts`: the record's `VisitSummary` when the caller has it already."""
    facts = facts if facts is not None else visit_summary(p, protocol)
    return _inputs(p, protocol, facts, thrombosis_visit(p, protocol), engraftment_last_visit(p, protocol),
                   rise_dates(p, protocol))


def _inputs(p: PatientRecord, protocol: Protocol, facts: VisitSummary, ti: int | None, es: int | None,
            rises: tuple[date, ...]) -> tuple:
    """`schedule_inputs` from its parts: the summary, the thrombosis and engraftment visits and
    the VEGF rise dates of `p` (the reduction has them already for the full record)."""
    blood = None
    if ti is not None:
        blood = (p.visits[ti].date, tuple((d.code, d.state) for d in derive_features(p.visits[ti], p.sex, protocol, explain=False)
                                          if d.code in RUN_CODES))
    return (facts.last_done, facts.partial,
            {k: (x.abnormal, x.abnormal_since, x.latest_abnormal) for k, x in facts.exam.items()}, facts.onsets,
            rises, p.visits[0].date if p.visits else None, blood,
            p.visits[es].date if es is not None else None)


def reduce_for_schedule(p: PatientRecord, protocol: Protocol, flags: tuple[Flag, ...] | None = None) -> PatientRecord:
    """What `followup.schedule_for` reads of `p` (see the module docstring); same schedule for
    any as-of on or after `latest_date(p)`. Checked: when the reduced record would not give the
    same schedule inputs, `p` itself is returned (a record with visits is otherwise always a new
    object, so a caller can tell). `flags`: the flags of `p` as of `latest_date(p)` when known
    (the relapse triggers are read from them, not computed again); the triggers are carried as
    computed on `p`, not reduced.

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
            if code in TRIGGER_CODES and status in ("present", "absent") and previous.get(code) != status:
                keep_feat.setdefault(vi, set()).add(fi)  # only the changes matter (onsets)
                previous[code] = status
    index = {v.date: vi for vi, v in enumerate(visits)}
    facts = visit_summary(p, protocol)  # the visits the schedule's own summary ends on, per item
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
    nadirs = vegf_rise_nadirs(p, protocol)
    for vi, code in vegf_points(p, protocol, nadirs):
        v = visits[vi]
        keep_obs.setdefault(vi, set()).update(i for i, o in enumerate(v.observations) if o.code == code)
    ti = thrombosis_visit(p, protocol)
    if ti is not None:
        keep_items.setdefault(ti, set()).add("hematology")  # the blood count, read as the schedule reads it
        v = visits[ti]
        keep_obs.setdefault(ti, set()).update(i for i, o in enumerate(v.observations) if o.code in BLOOD_COUNT_CODES)
        keep_feat.setdefault(ti, set()).update(i for i, (c, _) in enumerate(v.features) if c in RUN_CODES)
    es = engraftment_last_visit(p, protocol)
    wanted = sorted({0, len(visits) - 1} | set(keep_items) | set(keep_obs) | set(keep_feat)
                    | ({es} if es is not None else set()))
    reduced_visits = []
    for vi in wanted:
        v = visits[vi]
        items = keep_items.get(vi, set())
        obs_idx = set(keep_obs.get(vi, ()))
        if items:
            codes = _codes_of(frozenset(items))
            obs_idx.update(i for i, o in enumerate(v.observations) if o.code in codes)
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
    # The check: every input of the schedule read from the reduced record (its summary and rise
    # dates are kept on it for the schedule that runs on it next) against the full record's,
    # whose parts were computed above (the rise dates are the days of the rises of `nadirs`).
    full = _inputs(p, protocol, facts, ti, es, tuple(sorted(day for _, day, _ in nadirs)))
    if schedule_inputs(reduced, protocol) != full:
        return p  # the caller logs it (the domain has no logging of its own)
    return reduced
