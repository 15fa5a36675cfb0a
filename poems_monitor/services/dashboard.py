"""The patient dashboard and the patient-list status, built from the record in a few queries.

Owns what a dashboard shows, as frozen dataclasses: the header texts, the flags with their
acknowledgements, the features-by-visit grid, the chart series (values in catalogue units with
their specimen, lab and the flags that point at them), the lines of therapy and events to mark,
and the follow-up items. The screens render only this; they never open a session, compute a
rule or compare dates themselves.

One dashboard = one read transaction: the patient's timeline (a handful of set-based selects in
the timelines repository), the flag reviews and the waivers. The rules (flags, criteria,
follow-up) run on the frozen records afterwards. A built dashboard is remembered in the rules
cache's one in-process memo under the patient's one stamp (`services.rules_cache`). No Qt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime
from collections.abc import Mapping

from poems_monitor.garbage_collector import collector_paused
from poems_monitor.domain.catalogue import (
    CHART_GROUPS, CRITERIA, EVENT_TYPES, FEATURES, MEASURES, REGIMENS, SEVERITY_RANK, thromboprophylaxis_label,
    CriterionClass, display_name, series_specimen,
)
from poems_monitor.domain.course import active_on, is_line, regimen_label
from poems_monitor.domain.criteria import CriteriaAssessment, criteria_from_history
from poems_monitor.domain.derived import PRESENT, feature_history
from poems_monitor.domain.flags import Flag, FlagKind, compute_flags
from poems_monitor.domain.followup import Status, Waiver, WorklistItem, followup_plan, schedule_for
from poems_monitor.domain.patient_status import PatientStatusAssessment, patient_status
from poems_monitor.domain.display_units import CANONICAL, DisplayUnits
from poems_monitor.domain.protocol import Protocol
from poems_monitor.domain.safety_flags import MelphalanExposure, cumulative_melphalan
from poems_monitor.domain.response import LineResponse, assess_response
from poems_monitor.domain.timeline import PatientRecord
from poems_monitor.i18n import tr
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories import patients as patients_repo
from poems_monitor.persistence.repositories import physician_decisions
from poems_monitor.persistence.repositories import visits as visits_repo
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services import rules_cache
from poems_monitor.services.errors import PatientNotFound
from poems_monitor.services.protocol_store import current_protocol
from poems_monitor.services.waivers import waivers_in


# The charts of the dashboard: (chart key, title, series codes), from the catalogue's chart groups.
CHARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = tuple((g.key, g.title, g.codes) for g in CHART_GROUPS)
CHART_CODES: tuple[str, ...] = tuple(c for _, _, codes in CHARTS for c in codes)

# Flags whose `code` is not a measure but points at one.
_FLAG_CODE_TO_MEASURES: dict[str, tuple[str, ...]] = {
    "thrombocytosis": ("platelets",),
    "polycythemia": ("hemoglobin",),
    "thrombocytosis_untreated": ("platelets",),
    "polycythemia_untreated": ("hemoglobin",),
}


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    reviewed_by: str
    reviewed_at: datetime
    comment: str


@dataclass(frozen=True)
class FlagEntry:
    flag: Flag
    review: Review | None = None

    @property
    def acknowledged(self) -> bool:
        return self.review is not None


@dataclass(frozen=True)
class SeriesPoint:
    date: date
    value: float
    specimen: str | None = None
    lab: str | None = None
    method: str | None = None
    qualifier: str | None = None
    entered: str | None = None  # "96 g/L" when typed in another unit than the one shown
    segment: int = 0  # the line breaks where the specimen, lab or method changes
    flags: tuple[str, ...] = ()  # messages of the flags raised at this value
    shown: str = ""  # `value` written in the clinic's unit ("" : the catalogue's decimals apply)


@dataclass(frozen=True)
class SeriesBreak:
    """Where a series' line breaks, and why: the specimen, laboratory or method changed."""

    date: date
    what: str  # "specimen" | "laboratory" | "method"
    before: str
    after: str


@dataclass(frozen=True)
class Series:
    code: str
    name: str
    unit: str  # unit label, as a person reads it
    points: tuple[SeriesPoint, ...]
    breaks: tuple[SeriesBreak, ...] = ()

    @property
    def flagged(self) -> tuple[SeriesPoint, ...]:
        return tuple(p for p in self.points if p.flags)


@dataclass(frozen=True)
class TherapySpan:
    regimen: str
    label: str
    start: date
    end: date | None  # None: ongoing
    one_off: bool  # ASCT, radiotherapy: a mark rather than a band
    line: bool  # a line of therapy (supportive treatments are not)
    thromboprophylaxis: str | None
    engraftment_date: date | None = None


@dataclass(frozen=True)
class EventMark:
    date: date
    type: str
    name: str
    thrombotic: bool
    note: str = ""


@dataclass(frozen=True)
class FeatureRow:
    code: str
    name: str
    states: tuple[str, ...]  # per visit: present | absent | unknown
    new_at: frozenset[int]  # visit indexes where the feature was newly acquired
    derived: bool = False


@dataclass(frozen=True)
class FeatureGroup:
    criterion: str
    name: str
    klass: str  # mandatory | major | minor | other
    first_documented: date | None
    rows: tuple[FeatureRow, ...]


@dataclass(frozen=True)
class Thresholds:
    """Lines and bands the charts draw, from the protocol and the catalogue."""

    vegf_plasma_elevated: float
    vegf_serum_elevated: float
    vegf_plasma_upper_reference: float
    vegf_serum_upper_reference: float
    platelets_high: float
    hemoglobin_high: float | None  # None: sex other/unknown, no limit applies
    hemoglobin_reference: tuple[float | None, float | None] | None
    references: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    pasp_pulmonary_hypertension: float = 50.0  # the protocol's echo PASP threshold, in the clinic's unit


@dataclass(frozen=True)
class PatientDashboard:
    mrn: str
    name: str
    sex: str
    birth_date: date | None
    age: int | None
    diagnosis_date: date | None
    as_of: date
    last_visit: date | None
    visit_dates: tuple[date, ...]
    value_count: int
    criteria: CriteriaAssessment
    criteria_status: str
    current_therapy: str
    thromboprophylaxis: str
    flags: tuple[FlagEntry, ...]  # newest first
    features: tuple[FeatureGroup, ...]
    series: Mapping[str, Series]
    therapies: tuple[TherapySpan, ...]
    events: tuple[EventMark, ...]
    followup: tuple[WorklistItem, ...]  # every scheduled item, most urgent first (status None: not yet due)
    thresholds: Thresholds
    melphalan: MelphalanExposure | None = None  # cumulative melphalan as of `as_of` (header line)
    # Response per line of therapy (oldest first) and where the patient stands (domain/response.py,
    # domain/patient_status.py); defaults keep hand-built dashboards in tests valid.
    response: tuple[LineResponse, ...] = ()
    patient_status: PatientStatusAssessment | None = None

    @property
    def days_since_last_visit(self) -> int | None:
        return (self.as_of - self.last_visit).days if self.last_visit else None

    @property
    def since_last_visit(self) -> str:
        return describe_interval(self.last_visit, self.as_of)

    @property
    def unacknowledged(self) -> tuple[FlagEntry, ...]:
        return tuple(f for f in self.flags if not f.acknowledged)

    def chart_series(self, key: str) -> tuple[Series, ...]:
        for chart_key, _title, codes in CHARTS:
            if chart_key == key:
                return tuple(self.series[c] for c in codes if c in self.series)
        raise KeyError(key)


@dataclass(frozen=True)
class PatientStatus:
    """One patient's line of the clinic overview (patient-list columns and filters)."""

    mrn: str
    new_flags: int  # unacknowledged flags
    flags: int
    worst_new: str | None  # severity of the worst unacknowledged flag
    overdue: int  # overdue or never done
    due: int  # due or due soon


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------

def clinic_protocol(db: Database) -> Protocol:
    """The clinic's protocol (its owner is services.protocol_store), or the shipped default."""
    return current_protocol(db)


def describe_interval(since: date | None, as_of: date) -> str:
    if since is None:
        return tr("no visit yet")
    n = (as_of - since).days
    if n < 0:
        return tr("in {n} days").format(n=-n)
    if n == 0:
        return tr("today")
    if n < 60:
        return tr("{n} days ago").format(n=n)
    months = round(n / 30.44)
    if months < 24:
        return tr("{n} months ago").format(n=months)
    return tr("{n:.1f} years ago").format(n=n / 365.25)


def _age(birth: date | None, as_of: date) -> int | None:
    if birth is None:
        return None
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


def build_dashboard(db: Database, mrn: str, as_of: date | None = None, protocol: Protocol | None = None, *,
                    fresh: bool = False) -> PatientDashboard:
    """Everything the dashboard of `mrn` shows, as of `as_of` (default today). PatientNotFound if unknown.

    Remembered in the rules cache's memo under the patient's stamp (`rules_cache.read_stamps`:
    its newest audit entry, the protocol's digest, the rules' version), so reopening a patient
    whose record did not change skips the queries and the rules; `fresh` computes it again
    regardless; an explicit `protocol` is never remembered."""
    as_of = as_of or date.today()
    view = ("dashboard", as_of)
    with db.read() as session:
        stamps = pid = None
        if protocol is None:
            found = patients_repo.find_patient(session, mrn)
            pid = found.id if found is not None else None
            # First the stamp, then the data (as the rules cache does): a concurrent write can
            # only make a remembered dashboard look stale, never fresh.
            stamps = rules_cache.read_stamps(session, db, [pid] if pid is not None else [])
            if pid is not None and not fresh:
                known = rules_cache.recall_view(stamps, pid, view)
                if known is not None:
                    return known
            protocol = stamps.status.protocol
        records = load_timelines(session, mrns=[mrn])
        if not records:
            raise PatientNotFound(mrn)
        patient = records[0]
        reviews = _reviews(session, [patient.patient_id])
        waivers = waivers_in(session, [patient.patient_id])
    d = dashboard_from_record(patient, protocol, as_of, reviews.get(patient.patient_id, {}),
                              waivers.get(patient.patient_id, ()))
    if stamps is not None and pid == patient.patient_id:
        rules_cache.remember_view(stamps, pid, view, d)
    return d


def forget_dashboards() -> None:
    """Drop every remembered dashboard (tests, benchmarks; never needed for correctness)."""
    rules_cache.forget(views_only=True)


def _reviews(session, patient_ids) -> dict[int, dict[str, Review]]:  # noqa: ANN001
    out: dict[int, dict[str, Review]] = {}
    for r in physician_decisions.flag_reviews(session, patient_ids):
        out.setdefault(r.patient_id, {})[r.flag_id] = Review(r.reviewed_by, r.reviewed_at, r.comment or "")
    return out


def dashboard_from_record(
    patient: PatientRecord, protocol: Protocol, as_of: date,
    reviews: Mapping[str, Review] | None = None, waivers: tuple[Waiver, ...] = (),
) -> PatientDashboard:
    """The dashboard of an already loaded record (pure: used by tests and the benchmark too)."""
    reviews = reviews or {}
    visits = tuple(v for v in patient.visits if v.date <= as_of)
    history = feature_history(patient if len(visits) == len(patient.visits) else _clipped(patient, as_of), protocol)
    criteria = criteria_from_history(history)
    flags = compute_flags(patient, protocol, as_of, history=history)  # the same clipped visits: computed once
    entries = tuple(FlagEntry(f, reviews.get(f.flag_id)) for f in sorted(flags, key=lambda f: f.date, reverse=True))
    series = _series(visits, flags, protocol.units)
    therapies = tuple(
        TherapySpan(
            regimen=t.regimen, label=regimen_label(t, mid_sentence=False), start=t.start, end=t.stop,
            one_off=t.regimen in ("asct", "radiotherapy"), line=is_line(t), thromboprophylaxis=t.thromboprophylaxis,
            engraftment_date=t.engraftment_date,
        )
        for t in patient.treatments if t.start <= as_of
    )
    events = tuple(
        EventMark(e.date, e.type, EVENT_TYPES[e.type].label if e.type in EVENT_TYPES else display_name(e.type),
                  bool(EVENT_TYPES.get(e.type) and EVENT_TYPES[e.type].thrombotic), e.note)
        for e in patient.events if e.date <= as_of
    )
    therapy_text, prophylaxis_text = _current_therapy(patient, as_of)
    sex = patient.sex
    hb = MEASURES["hemoglobin"].reference_for(sex)
    hb_high = protocol.hemoglobin_high_female if sex == "female" else (
        protocol.hemoglobin_high_male if sex == "male" else None)
    # The charts draw lines in the clinic's unit of each measure; the rules compared the
    # canonical values with the canonical thresholds above (nothing here decides a flag).
    units = protocol.units

    def shown(code: str, value: float | None) -> float | None:
        return None if value is None else units.to_display(code, value)

    references = {}
    for code in CHART_CODES:
        ref = MEASURES[code].reference_for(sex)
        if ref is not None:
            references[code] = (shown(code, ref.low), shown(code, ref.high))
    thresholds = Thresholds(
        vegf_plasma_elevated=shown("vegf_plasma", protocol.vegf_plasma_elevated),
        vegf_serum_elevated=shown("vegf_serum", protocol.vegf_serum_elevated),
        vegf_plasma_upper_reference=shown("vegf_plasma", protocol.vegf_plasma_upper_reference),
        vegf_serum_upper_reference=shown("vegf_serum", protocol.vegf_serum_upper_reference),
        platelets_high=shown("platelets", protocol.platelets_high),
        hemoglobin_high=shown("hemoglobin", hb_high),
        hemoglobin_reference=(shown("hemoglobin", hb.low), shown("hemoglobin", hb.high)) if hb else None,
        references=references,
        pasp_pulmonary_hypertension=shown("pasp", protocol.pasp_pulmonary_hypertension),
    )
    return PatientDashboard(
        mrn=patient.mrn, name=patient.name, sex=sex, birth_date=patient.birth_date, age=_age(patient.birth_date, as_of),
        diagnosis_date=patient.diagnosis_date, as_of=as_of, last_visit=visits[-1].date if visits else None,
        visit_dates=tuple(v.date for v in visits), value_count=sum(len(v.observations) for v in visits),
        criteria=criteria, criteria_status=_criteria_text(criteria), current_therapy=therapy_text,
        thromboprophylaxis=prophylaxis_text, flags=entries, features=_feature_groups(history),
        series=series, therapies=therapies, events=events,
        followup=_followup(patient, protocol, as_of, waivers, flags),
        thresholds=thresholds, melphalan=cumulative_melphalan(patient, as_of),
        **_response_and_status(patient, protocol, as_of, criteria),
    )


def _response_and_status(patient: PatientRecord, protocol: Protocol, as_of: date, criteria: CriteriaAssessment) -> dict:
    lines = assess_response(patient, protocol, as_of)
    return {"response": lines, "patient_status": patient_status(patient, protocol, as_of, criteria, lines)}


def _clipped(patient: PatientRecord, as_of: date) -> PatientRecord:
    from poems_monitor.domain.course import clip

    return clip(patient, as_of)


def _followup_key(item: WorklistItem) -> tuple:
    return (item.status.rank if item.status else 9, item.due or date.max, item.item)


def _followup(patient: PatientRecord, protocol: Protocol, as_of: date, waivers: tuple[Waiver, ...],
              flags: tuple[Flag, ...]) -> tuple[WorklistItem, ...]:
    """Every scheduled item (due or not yet), most urgent first; waived items are left out.
    `flags`: the screen's flags of the same as-of (the restaging triggers are read from them)."""
    waived = {w.item for w in waivers if w.applies(as_of)}
    plan = followup_plan(patient, protocol, as_of, flags=flags)
    return tuple(sorted((i for i in plan if i.item not in waived), key=_followup_key))


def _criteria_text(c: CriteriaAssessment) -> str:
    if c.fulfilled_on is not None:
        return tr("Criteria fulfilled since {date}").format(date=c.fulfilled_on.isoformat())
    documented = {r.code for r in c.criteria if r.first_documented is not None}
    missing = []
    for r in c.criteria:
        if r.klass is CriterionClass.MANDATORY and r.code not in documented:
            missing.append(r.name.lower())
    if not any(r.klass is CriterionClass.MAJOR and r.code in documented for r in c.criteria):
        missing.append(tr("another major criterion"))
    if not any(r.klass is CriterionClass.MINOR and r.code in documented for r in c.criteria):
        missing.append(tr("a minor criterion"))
    return tr("Criteria not fulfilled: {missing} not documented").format(missing=", ".join(missing))


def _current_therapy(patient: PatientRecord, as_of: date) -> tuple[str, str]:
    active = [t for t in patient.treatments if t.start <= as_of and active_on(t, as_of)]
    if active:
        text = "; ".join(
            tr("{regimen} since {start}").format(regimen=regimen_label(t, mid_sentence=False), start=t.start.isoformat())
            for t in active)
        prophylaxis = "; ".join(
            thromboprophylaxis_label(t.thromboprophylaxis)
            for t in active if REGIMENS.get(t.regimen) and "imid" in REGIMENS[t.regimen].drug_classes
        ) or thromboprophylaxis_label(active[-1].thromboprophylaxis)
        return text, prophylaxis
    past = [t for t in patient.treatments if t.start <= as_of]
    if past:
        last = past[-1]
        end = last.stop or last.start
        return tr("None active (last: {regimen}, ended {end})").format(
            regimen=regimen_label(last, mid_sentence=False), end=end.isoformat()), tr("Not on therapy")
    return tr("No treatment recorded"), tr("Not on therapy")


def _flag_targets(flag: Flag) -> tuple[str, ...]:
    if flag.code in _FLAG_CODE_TO_MEASURES:
        return _FLAG_CODE_TO_MEASURES[flag.code]
    if flag.code in MEASURES:
        return (flag.code,)
    return ()


def _series(visits, flags: tuple[Flag, ...], units: DisplayUnits = CANONICAL) -> dict[str, Series]:  # noqa: ANN001
    """The chart series, each in the clinic's unit of its measure (protocol [units])."""
    flagged: dict[tuple[str, date], list[str]] = {}
    for f in flags:
        if f.kind is FlagKind.THROMBOSIS_WATCH and not f.code.endswith("_untreated"):
            continue
        for code in _flag_targets(f):
            flagged.setdefault((code, f.date), []).append(f.message)
    points: dict[str, list[SeriesPoint]] = {c: [] for c in CHART_CODES}
    breaks: dict[str, list[SeriesBreak]] = {c: [] for c in CHART_CODES}
    last_source: dict[str, tuple] = {}
    segment: dict[str, int] = {}
    for v in visits:
        present = {o.code: o for o in v.observations}
        if "onls" not in present and "onls_arm" in present and "onls_leg" in present:
            arm, leg = present["onls_arm"].number, present["onls_leg"].number
            if arm is not None and leg is not None:
                from poems_monitor.domain.timeline import ObservationRecord

                present["onls"] = ObservationRecord("onls", arm + leg, MEASURES["onls"].unit, derived=True)
        for code, o in present.items():
            if code not in points or o.number is None:
                continue
            specimen = series_specimen(code, o.specimen)
            source = (specimen, o.lab, o.method)
            if code in last_source and last_source[code] != source:
                segment[code] = segment.get(code, 0) + 1
                breaks[code].append(_break(v.date, last_source[code], source))
            last_source[code] = source
            entered = None
            shown_unit = units.unit(code)
            if o.entered_unit and o.entered_value is not None and o.entered_unit.lower() != shown_unit.lower():
                conv = MEASURES[code].conversion_for(o.entered_unit)
                entered = f"{o.entered_value:g} {conv.label if conv else o.entered_unit}" if isinstance(
                    o.entered_value, (int, float)) else f"{o.entered_value} {o.entered_unit}"
            typed = o.entered_value if isinstance(o.entered_value, (int, float)) else None
            value, shown = float(o.number), ""
            if not units.is_canonical(code):
                shown = units.number(code, value, typed, o.entered_unit)
                value = float(shown)
            points[code].append(SeriesPoint(
                date=v.date, value=value, specimen=specimen, lab=o.lab,
                method=o.method, qualifier=o.qualifier, entered=entered, segment=segment.get(code, 0),
                flags=tuple(flagged.get((code, v.date), ())), shown=shown,
            ))
    return {
        code: Series(code, MEASURES[code].label, units.label(code), tuple(pts), tuple(breaks[code]))
        for code, pts in points.items() if pts
    }


_SOURCE_PARTS = (tr("specimen"), tr("laboratory"), tr("method"))  # the order of a series point's source


def _break(day: date, before: tuple, after: tuple) -> SeriesBreak:
    """The first of specimen, laboratory, method that differs (the one a reader checks first)."""
    def said(x: str | None) -> str:
        return x.replace("_", " ") if x else tr("not recorded")

    what = next(i for i in range(len(_SOURCE_PARTS)) if before[i] != after[i])
    return SeriesBreak(day, _SOURCE_PARTS[what], said(before[what]), said(after[what]))


def _feature_groups(history) -> tuple[FeatureGroup, ...]:  # noqa: ANN001
    documented = set()
    for vf in history:
        documented.update(vf.states)
    first_doc: dict[str, date] = {}
    groups = []
    for crit in CRITERIA.values():
        rows = []
        for feature in FEATURES.values():
            if feature.criterion != crit.code:
                continue
            if feature.code not in documented and crit.klass is CriterionClass.OTHER:
                continue  # "other features" never documented: keep the grid short
            states = tuple(vf.state(feature.code) for vf in history)
            new_at = set()
            seen = False
            for i, s in enumerate(states):
                if s == PRESENT:
                    if not seen and i > 0:
                        new_at.add(i)
                    if not seen:
                        first_doc.setdefault(crit.code, history[i].date)
                    seen = True
            rows.append(FeatureRow(feature.code, feature.label, states, frozenset(new_at), feature.derived))
        if rows:
            groups.append(FeatureGroup(crit.code, crit.label, crit.klass.value, first_doc.get(crit.code), tuple(rows)))
    return tuple(groups)


# ---------------------------------------------------------------------------------------------
# Clinic overview for the patient list
# ---------------------------------------------------------------------------------------------

_SEVERITY_RANK = SEVERITY_RANK  # one order, in the catalogue


OVERVIEW_CHUNK = 100  # patients per step of the clinic overview
# Objects a first pass leaves behind (the rules memo) that are worth taking out of the collector's
# later scans (a later pass, the memo filled, leaves few).
_FREEZE_AFTER = 50_000


def _status_of(mrn: str, flags, acked: Mapping[str, Review], items) -> PatientStatus:  # noqa: ANN001
    new = [f for f in flags if f.flag_id not in acked]
    worst = min((f.severity.value for f in new), key=lambda s: _SEVERITY_RANK.get(s, 9), default=None)
    overdue = sum(1 for i in items if i.status in (Status.OVERDUE, Status.NEVER_DONE))
    due = sum(1 for i in items if i.status in (Status.DUE, Status.DUE_SOON))
    return PatientStatus(mrn, len(new), len(flags), worst, overdue, due)


def clinic_overview(db: Database, as_of: date | None = None, protocol: Protocol | None = None) -> dict[str, PatientStatus]:
    """Per MRN: unacknowledged flags and overdue follow-up, for the patient list.

    The flags and the follow-up plan come from the per-patient rules cache (`rules_cache.gather`:
    reduced timelines and flags stamped with each patient's newest audit entry), so only patients
    whose record changed since the last time are computed from their full timeline. The clinic is
    taken `OVERVIEW_CHUNK` patients at a time: screens run this off the GUI thread, and between
    chunks the GUI thread gets the interpreter back (one select of a whole clinic's values would
    hold it for seconds). With an explicit `protocol` (tests, what-if) every patient is computed
    from the full record under that protocol."""
    as_of = as_of or date.today()
    with db.read() as session:
        mrns = patients_repo.mrns_in_order(session)
        reviews = _reviews(session, None)
        waivers = waivers_in(session)
    out: dict[str, PatientStatus] = {}
    with collector_paused(freeze_after=_FREEZE_AFTER):
        _overview_chunks(db, as_of, protocol, mrns, reviews, waivers, out)
    return out


def _overview_chunks(db: Database, as_of: date, protocol: Protocol | None, mrns: list[str],
                     reviews: dict[int, dict[str, Review]], waivers: dict[int, tuple[Waiver, ...]],
                     out: dict[str, PatientStatus]) -> None:

    for i in range(0, len(mrns), OVERVIEW_CHUNK):
        chunk = mrns[i:i + OVERVIEW_CHUNK]
        if protocol is not None:
            with db.read() as session:
                records = load_timelines(session, mrns=chunk)
            for p in records:
                out[p.mrn] = _status_of(p.mrn, compute_flags(p, protocol, as_of), reviews.get(p.patient_id, {}),
                                        schedule_for(p, protocol, as_of, waivers.get(p.patient_id, ())))
        else:
            g = rules_cache.gather(db, as_of, mrns=chunk, want_schedule=True, want_flags=True)
            for head in g.heads:
                pid = head.patient_id
                w = waivers.get(pid, ())
                items = [item for item in g.plan(pid) if item.status is not None
                         and not any(x.item == item.item and x.applies(as_of) for x in w)]  # = schedule_for
                out[head.mrn] = _status_of(head.mrn, g.flags[pid], reviews.get(pid, {}), items)
        time.sleep(0.001)  # let a waiting GUI thread run


def richest_patient(db: Database) -> str | None:
    """The MRN of the patient with the most chart data (most charts filled, then most values):
    the default patient of screenshots and demos."""
    with db.read() as session:
        return visits_repo.mrn_with_most_values(session, CHART_CODES)
