"""The follow-up schedule (REFERENCE.md section 5; INTERFACES.md section 4).

Owns the ONE function that decides an item's status (`followup_status`), the per-patient
schedule of the items `echo`, `pft`, `vegf`, `hematology`, `imaging`, `endocrine`,
`neuropathy_score`, `thrombosis_review`, `review_visit` with intervals from the protocol that
depend on the patient's state, and waivers. Every screen and command must call these rather
than compare dates itself.

What counts as done (on a visit date): a measurement whose catalogue `followup_items` name the
item; an exam of a kind whose `EXAM_KINDS[kind].followup_item` is the item (a pending exam was
still performed); a measurement whose `exam_kind` maps to the item; any visit for
`review_visit` and `thrombosis_review`.

Patient state, and when it is read:
- "first year of a line": the next due date is counted from the anchor = the later of the last
  test and the start of the most recent line of therapy; the first-year interval applies while
  the anchor is within `first_year_of_line_months` of that start. So a new line restarts the
  3-monthly series from its start (this also yields the 3, 6, 12-month post-ASCT points).
- "stable remission" is read at as-of: at least one line given, none active, the last one ended
  `remission_stable_years` or more ago, and no relapse/progression event since. (A proxy until
  response assessment exists.)
- echo / PFT "abnormal": the last done exam was abnormal, or one of its measurements was outside
  the catalogue's reference range for the patient's sex.
- time points (after radiotherapy, after the end of a systemic line, after ASCT) are met by a
  test done on or after (time point − due_soon_days).
- the engraftment-syndrome window after ASCT is anchored on the engraftment date when recorded
  (Maiolino/Spitzer), otherwise on day +start..+end after infusion (DEFAULT); a review visit is
  due at its start until a visit falls inside it; after its end the rule no longer applies.
A patient with a recorded death gets no follow-up items.

Pure: no Qt, no SQL, no file or clock access; one pass over the visits per patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

from poems_monitor.domain.catalogue import EXAM_KINDS, FOLLOWUP_ITEMS, MEASURES, REGIMENS, display_name
from poems_monitor.domain.course import (
    LineIndex, active_on, add_months, add_years, clip, days, death_date, end_of, lines_of_therapy, regimen_label,
)
from poems_monitor.domain.derived import PRESENT, derive_features
from poems_monitor.domain.flags import vegf_rise_dates
from poems_monitor.domain.protocol import Protocol
from poems_monitor.domain.timeline import PatientRecord, TreatmentRecord
from poems_monitor.i18n import tr

ITEMS = FOLLOWUP_ITEMS  # in the order the schedule lists them

# Features whose appearance brings an echo / PFT forward ("when dyspnoea or oedema appears",
# REFERENCE.md section 5). Not thresholds: the list of symptoms the clinic can record.
ECHO_TRIGGERS = ("peripheral_edema", "pleural_effusion", "ascites", "pericardial_effusion",
                 "pulmonary_hypertension", "cardiomyopathy")
PFT_TRIGGERS = ("pleural_effusion", "restrictive_lung_disease", "pulmonary_hypertension")
_TRIGGERS = frozenset(ECHO_TRIGGERS + PFT_TRIGGERS)
_ALWAYS_DONE_BY_VISIT = ("review_visit", "thrombosis_review")
_BLOOD_COUNT = frozenset({"platelets", "hemoglobin", "hematocrit"})


class Status(str, Enum):
    NEVER_DONE = "never_done"
    OVERDUE = "overdue"
    DUE = "due"
    DUE_SOON = "due_soon"

    @property
    def rank(self) -> int:
        """Urgency for sorting (0 = most urgent)."""
        return _RANK[self]


_RANK = {Status.OVERDUE: 0, Status.NEVER_DONE: 1, Status.DUE: 2, Status.DUE_SOON: 3}


def followup_status(
    due: date | None, last_done: date | None, as_of: date, due_soon_days: int, grace_days: int = 0
) -> Status | None:
    """The status of one follow-up item on `as_of`. The one place where this is decided.

    - `last_done` is None                       -> NEVER_DONE (whatever `due` is: a baseline is missing)
    - `due` is None                             -> None (nothing scheduled)
    - as_of < due - due_soon_days               -> None (not yet)
    - due - due_soon_days <= as_of < due        -> DUE_SOON (first day: due - due_soon_days)
    - due <= as_of <= due + grace_days          -> DUE (due on the due date itself, and through the
                                                   grace period, a clinic DEFAULT)
    - as_of > due + grace_days                  -> OVERDUE (from the day after the grace period;
                                                   with grace 0, from the day after the due date)
    With due_soon_days = 0 there is no "due soon" period.
    """
    if due_soon_days < 0 or grace_days < 0:
        raise ValueError(tr("due_soon_days and grace_days must not be negative"))
    if last_done is None:
        return Status.NEVER_DONE
    if due is None:
        return None
    if as_of > due + days(grace_days):
        return Status.OVERDUE
    if as_of >= due:
        return Status.DUE
    if as_of >= due - days(due_soon_days):
        return Status.DUE_SOON
    return None


@dataclass(frozen=True)
class Waiver:
    """A decision not to do an item for this patient, with the reason and who decided."""

    item: str
    reason: str
    who: str
    until: date | None = None  # None: until withdrawn

    def applies(self, as_of: date) -> bool:
        return self.until is None or as_of <= self.until


@dataclass(frozen=True)
class WorklistItem:
    mrn: str
    name: str
    item: str
    status: Status | None  # None: scheduled, not yet due soon
    due: date | None
    last_done: date | None
    reason: str
    waiver: Waiver | None = None

    def to_json(self) -> dict:
        out = {
            "mrn": self.mrn, "name": self.name, "item": self.item,
            "status": self.status.value if self.status else None,
            "due": self.due.isoformat() if self.due else None,
            "last_done": self.last_done.isoformat() if self.last_done else None,
            "reason": self.reason,
        }
        if self.waiver is not None:
            out["waiver"] = {"reason": self.waiver.reason, "who": self.waiver.who,
                             "until": self.waiver.until.isoformat() if self.waiver.until else None}
        return out


def sort_key(item: WorklistItem) -> tuple:
    """Most urgent first, then oldest due date."""
    return (item.status.rank if item.status else 9, item.due or date.min, item.mrn, item.item)


# ---------------------------------------------------------------------------------------------
# One pass over the visits
# ---------------------------------------------------------------------------------------------


@dataclass
class _ExamState:
    abnormal: bool = False
    abnormal_since: date | None = None  # first abnormal result of the current abnormal run


def _done_by_code() -> dict[str, tuple[tuple[str, ...], str | None]]:
    """measure code -> (items it counts as done, echo/pft item whose abnormality it tells)."""
    out = {}
    for m in MEASURES.values():
        items = set(m.followup_items)
        exam = EXAM_KINDS.get(m.exam_kind) if m.exam_kind else None
        if exam is not None and exam.followup_item:
            items.add(exam.followup_item)
        judged = exam.followup_item if exam is not None and exam.followup_item in ("echo", "pft") else None
        out[m.code] = (tuple(sorted(items)), judged)
    return out


# Precomputed once: the visit loop below runs for every visit of every patient of the clinic.
_DONE_BY_CODE = _done_by_code()


class _Facts:
    def __init__(self, patient: PatientRecord):
        self.last_done: dict[str, date] = {}
        self.exam: dict[str, _ExamState] = {"echo": _ExamState(), "pft": _ExamState()}
        self.onsets: dict[str, tuple[date, str]] = {}  # item -> (latest trigger onset, feature)
        prev_state: dict[str, str] = {}
        sex = patient.sex
        last_done = self.last_done
        for visit in patient.visits:
            day = visit.date
            for item in _ALWAYS_DONE_BY_VISIT:
                last_done[item] = day
            abnormal: dict[str, bool] = {}
            for obs in visit.observations:
                entry = _DONE_BY_CODE.get(obs.code)
                if entry is None:
                    continue
                for item in entry[0]:
                    last_done[item] = day
                judged = entry[1]
                if judged is not None and obs.number is not None:
                    ref = MEASURES[obs.code].reference_for(sex)
                    out = ref is not None and not ref.contains(obs.number)
                    abnormal[judged] = abnormal.get(judged, False) or out
            for exam in visit.exams:
                kind = EXAM_KINDS.get(exam.kind)
                if kind is None or not kind.followup_item:
                    continue
                last_done[kind.followup_item] = day
                if kind.followup_item in self.exam:
                    abnormal[kind.followup_item] = abnormal.get(kind.followup_item, False) or exam.result == "abnormal"
            for item, is_abnormal in abnormal.items():
                state = self.exam[item]
                if is_abnormal and not state.abnormal:
                    state.abnormal_since = day
                state.abnormal = is_abnormal
                if not is_abnormal:
                    state.abnormal_since = None
            for code, status in visit.features:
                if code not in _TRIGGERS or status not in ("present", "absent"):
                    continue
                if status == PRESENT and prev_state.get(code) != PRESENT:
                    if code in ECHO_TRIGGERS:
                        self.onsets["echo"] = (day, code)
                    if code in PFT_TRIGGERS:
                        self.onsets["pft"] = (day, code)
                prev_state[code] = status


# ---------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------


class _Planner:
    def __init__(self, patient: PatientRecord, protocol: Protocol, as_of: date):
        self.patient = patient
        self.p = protocol
        self.as_of = as_of
        self.facts = _Facts(patient)
        self.lines = LineIndex(lines_of_therapy(patient))
        self.line = self.lines.on_or_before(as_of)
        self.remission_since = self._remission()
        self.baseline = patient.visits[0].date if patient.visits else patient.diagnosis_date

    # --- state ----------------------------------------------------------------------------
    def _remission(self) -> date | None:
        """The date the stable remission began counting (end of the last line), or None."""
        if not self.lines.lines:
            return None
        ends = [end_of(t) for t in self.lines.lines]
        if any(e is None for e in ends) or any(active_on(t, self.as_of) for t in self.lines.lines):
            return None
        last_end = max(ends)  # type: ignore[type-var]
        if self.as_of < add_years(last_end, self.p.remission_stable_years):
            return None
        if any(e.type in ("relapse", "progression") and e.date >= last_end for e in self.patient.events):
            return None
        return last_end

    def _latest(self, regimens: frozenset[str] | None = None, exclude: frozenset[str] = frozenset()) -> TreatmentRecord | None:
        found = None
        for t in self.lines.lines:
            if (regimens is None or t.regimen in regimens) and t.regimen not in exclude:
                found = t
        return found

    # --- building blocks ----------------------------------------------------------------------
    def _periodic(self, last: date, first_year: int | None, later: int, remission: int | None = None) -> tuple[date, str]:
        if remission is not None and self.remission_since is not None:
            return add_months(last, remission), tr("stable remission since {date}: every {n} months").format(
                date=self.remission_since.isoformat(), n=remission)
        line = self.line
        anchor = last
        if line is not None and line.start > last:
            anchor = line.start  # a new line restarts the series from its start
        if first_year is not None and line is not None and anchor < add_months(line.start, self.p.first_year_of_line_months):
            return add_months(anchor, first_year), tr("first year of {regimen} (started {start}): every {n} months").format(
                regimen=regimen_label(line), start=line.start.isoformat(), n=first_year)
        return add_months(anchor, later), tr("every {n} months").format(n=later)

    def _time_point(self, last: date, point: date, reason: str) -> tuple[date, str] | None:
        """A dated time point, met by a test on or after (point − due_soon_days)."""
        if last >= point - days(self.p.due_soon_days):
            return None
        return point, reason

    def _after_radiotherapy(self, last: date, what: str) -> tuple[date, str] | None:
        rt = self._latest(frozenset({"radiotherapy"}))
        if rt is None:
            return None
        end = end_of(rt) or rt.start
        n = self.p.after_radiotherapy_months
        return self._time_point(last, add_months(end, n), tr("{what} {n} months after radiotherapy (ended {end})").format(
            what=what, n=n, end=end.isoformat()))

    # --- items --------------------------------------------------------------------------------
    def vegf(self, last: date):
        yield self._periodic(last, self.p.vegf_first_year_months, self.p.vegf_months)
        yield self._after_radiotherapy(last, tr("reassess"))

    def hematology(self, last: date):
        yield self._periodic(last, self.p.hematology_first_year_months, self.p.hematology_months)

    def neuropathy_score(self, last: date):
        yield self._periodic(last, self.p.neuropathy_first_year_months, self.p.neuropathy_months)
        yield self._after_radiotherapy(last, tr("reassess"))

    def endocrine(self, last: date):
        yield self._periodic(last, None, self.p.endocrine_months, self.p.endocrine_remission_months)

    def review_visit(self, last: date):
        yield self._periodic(last, self.p.review_first_year_months, self.p.review_months, self.p.review_remission_months)
        yield self._engraftment_window(last)

    def _engraftment_window(self, last: date) -> tuple[date, str] | None:
        asct = self._latest(frozenset({"asct"}))
        if asct is None:
            return None
        if asct.engraftment_date is not None:
            start = asct.engraftment_date - days(self.p.es_days_before_engraftment)
            end = asct.engraftment_date + days(self.p.es_days_after_engraftment)
            why = tr("engraftment-syndrome watch {start} to {end} (engraftment {eng})").format(
                start=start.isoformat(), end=end.isoformat(), eng=asct.engraftment_date.isoformat())
        else:
            start = asct.start + days(self.p.es_watch_start_day)
            end = asct.start + days(self.p.es_watch_end_day)
            why = tr("engraftment-syndrome watch {start} to {end} (day +{a} to +{b} after infusion {inf}; "
                     "engraftment not recorded)").format(start=start.isoformat(), end=end.isoformat(),
                                                         a=self.p.es_watch_start_day, b=self.p.es_watch_end_day,
                                                         inf=asct.start.isoformat())
        if self.as_of > end or last >= start:
            return None
        return start, why

    def imaging(self, last: date):
        p = self.p
        yield self._after_radiotherapy(last, tr("imaging"))
        induction = None
        for t in self.lines.lines:
            if t.regimen not in ("asct", "radiotherapy") and t.stop is not None:
                induction = t if induction is None or t.stop >= induction.stop else induction
        if induction is not None:
            yield self._time_point(last, add_months(induction.stop, p.imaging_after_induction_months),
                                   tr("{n} months after the end of {regimen} ({stop})").format(
                                       n=p.imaging_after_induction_months, regimen=regimen_label(induction),
                                       stop=induction.stop.isoformat()))
        asct = self._latest(frozenset({"asct"}))
        if asct is not None:
            yield self._time_point(last, add_months(asct.start, p.imaging_after_asct_months),
                                   tr("{n} months after ASCT ({start})").format(n=p.imaging_after_asct_months,
                                                                                start=asct.start.isoformat()))
        rises = [d for d in vegf_rise_dates(self.patient, p) if d > last]
        if rises:
            yield rises[0], tr("VEGF rose on {date} (no imaging since)").format(date=rises[0].isoformat())
        anchor = self.line.start if self.line is not None else self.baseline
        if anchor is not None and p.imaging_yearly_years > 0:
            # as for the periodic items, a new line restarts the yearly series from its start
            due = add_months(max(last, anchor), p.imaging_months)
            if due <= add_years(anchor, p.imaging_yearly_years):
                what = (tr("the start of {regimen}").format(regimen=regimen_label(self.line)) if self.line is not None
                        else tr("the first visit"))
                yield due, tr("every {n} months for {y} years after {what} ({anchor})").format(
                    n=p.imaging_months, y=p.imaging_yearly_years, what=what, anchor=anchor.isoformat())

    def _exam(self, item: str, last: date, normal: int, abnormal_first: int, abnormal_later: int):
        state = self.facts.exam[item]
        if state.abnormal:
            since = state.abnormal_since or last
            if last < add_months(since, 12):
                yield add_months(last, abnormal_first), tr("last result abnormal (since {since}): every {n} months in the first year").format(
                    since=since.isoformat(), n=abnormal_first)
            else:
                yield add_months(last, abnormal_later), tr("last result abnormal (since {since}): every {n} months").format(
                    since=since.isoformat(), n=abnormal_later)
        else:
            yield add_months(last, normal), tr("last result normal: every {n} months").format(n=normal)
        onset = self.facts.onsets.get(item)
        if onset is not None and onset[0] > last:
            yield onset[0], tr("{feature} appeared on {date}").format(feature=display_name(onset[1]), date=onset[0].isoformat())

    def echo(self, last: date):
        yield from self._exam("echo", last, self.p.echo_normal_months, self.p.echo_abnormal_months,
                              self.p.echo_abnormal_later_months)

    def pft(self, last: date):
        yield from self._exam("pft", last, self.p.pft_normal_months, self.p.pft_abnormal_months,
                              self.p.pft_abnormal_months)

    def thrombosis_risk(self) -> str | None:
        """Why a thrombosis review is needed now, or None when no risk is recorded."""
        reasons = []
        for t in self.lines.lines:
            regimen = REGIMENS.get(t.regimen)
            if regimen is not None and "imid" in regimen.drug_classes and active_on(t, self.as_of):
                reasons.append(tr("on {regimen} (IMiD)").format(regimen=regimen_label(t)))
        window = self.p.thrombosis_risk_after_start_months
        for t in self.lines.lines:
            if t.start <= self.as_of < add_months(t.start, window):
                reasons.append(tr("within {n} months of starting {regimen} [MELLORS21]").format(n=window, regimen=regimen_label(t)))
        for visit in reversed(self.patient.visits):
            if not (any(o.code in _BLOOD_COUNT for o in visit.observations)
                    or any(code in ("thrombocytosis", "polycythemia") for code, _ in visit.features)):
                continue  # cheap test first: deriving formats sentences
            derived = {d.code: d for d in derive_features(visit, self.patient.sex, self.p, explain=False)
                       if d.code in ("thrombocytosis", "polycythemia")}
            known = [d for d in derived.values() if d.state.value != "unknown"]
            if known:
                for d in known:
                    if d.state.value == PRESENT:
                        reasons.append(tr("{name} at the last count ({date})").format(
                            name=tr("thrombocytosis") if d.code == "thrombocytosis" else tr("polycythaemia"),
                            date=visit.date.isoformat()))
                break
        return "; ".join(dict.fromkeys(reasons)) or None

    def plan(self) -> list[tuple[str, date | None, date | None, str]]:
        out = []
        for item in ITEMS:
            last = self.facts.last_done.get(item)
            if item == "thrombosis_review":
                risk = self.thrombosis_risk()
                if risk is None:
                    continue
                if last is None:
                    out.append((item, self.baseline, None, tr("thrombosis risk ({risk}): no visit recorded").format(risk=risk)))
                    continue
                due = add_months(last, self.p.thrombosis_review_months)
                out.append((item, due, last, tr("thrombosis risk ({risk}): every {n} months").format(
                    risk=risk, n=self.p.thrombosis_review_months)))
                continue
            if last is None:
                out.append((item, self.baseline, None, tr("never recorded: baseline needed")))
                continue
            candidates = [c for c in getattr(self, item)(last) if c is not None]
            if not candidates:
                out.append((item, None, last, tr("nothing scheduled")))
                continue
            due, reason = min(candidates, key=lambda c: c[0])
            out.append((item, due, last, reason))
        return out


def followup_plan(patient: PatientRecord, protocol: Protocol, as_of: date) -> tuple[WorklistItem, ...]:
    """Every applicable item of one patient, with its status (None when not yet due soon)."""
    record = clip(patient, as_of)
    if death_date(record) is not None:
        return ()
    planner = _Planner(record, protocol, as_of)
    return tuple(
        WorklistItem(record.mrn, record.name, item, followup_status(
            due, last, as_of, protocol.due_soon_days, protocol.overdue_grace_days), due, last, reason)
        for item, due, last, reason in planner.plan()
    )


def _waiver_for(item: str, waivers, as_of: date) -> Waiver | None:
    for w in waivers:
        if w.item == item and w.applies(as_of):
            return w
    return None


def schedule_for(
    patient: PatientRecord, protocol: Protocol, as_of: date, waivers: tuple[Waiver, ...] = ()
) -> tuple[WorklistItem, ...]:
    """The patient's worklist rows: items due soon, due, overdue or never done, not waived."""
    return tuple(
        i for i in followup_plan(patient, protocol, as_of)
        if i.status is not None and _waiver_for(i.item, waivers, as_of) is None
    )


def waived_for(
    patient: PatientRecord, protocol: Protocol, as_of: date, waivers: tuple[Waiver, ...]
) -> tuple[WorklistItem, ...]:
    """The rows a waiver left out (for `worklist --all`), each carrying its waiver."""
    out = []
    for i in followup_plan(patient, protocol, as_of):
        w = _waiver_for(i.item, waivers, as_of)
        if i.status is not None and w is not None:
            out.append(WorklistItem(i.mrn, i.name, i.item, i.status, i.due, i.last_done, i.reason, w))
    return tuple(out)
