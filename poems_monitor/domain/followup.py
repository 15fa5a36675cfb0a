"""The follow-up schedule (REFERENCE.md section 5; INTERFACES.md section 4, amended 2026-12).

Owns the ONE function that decides an item's status (`followup_status`), the per-patient
schedule of the items `echo`, `pft`, `vegf`, `hematology`, `imaging`, `endocrine`,
`neuropathy_score`, `thrombosis_review`, `review_visit`, `restaging` with intervals from the
protocol that depend on the patient's state, and waivers. Every screen and command must call
these rather than compare dates itself.

What counts as done (on a visit date; `visit_findings`): a resulted study of what the item is
for. A measurement whose catalogue `followup_items` (or exam kind) name the item, except that
the PFT needs a DLCO and haematology the monoclonal work-up (`COMPLETED_BY`); a resulted exam
(normal/abnormal) of a kind whose `EXAM_KINDS[kind].followup_item` is the item, except the PFT;
any visit for `review_visit` and `thrombosis_review`. A pending exam completes nothing. What was
only partly done after the last completion (pending, spirometry alone, a blood count alone) is
named at the end of the item's reason.

Patient state, and when it is read:
- "first year of a line": the next due date is counted from the anchor = the later of the last
  test and the start of the most recent line of therapy; the first-year interval applies while
  the anchor is within `first_year_of_line_months` of that start. So a new line restarts the
  3-monthly series from its start (this also yields the 3, 6, 12-month post-ASCT points).
- "stable remission" is read at as-of: at least one line given, none active, the last one ended
  `remission_stable_years` or more ago, and no relapse/progression event since. (A proxy until
  response assessment exists.)
- echo / PFT "abnormal": an abnormal part (PASP at or above the PH threshold or outside the
  catalogue reference, LVEF below its floor, a PFT value outside its reference, an abnormal exam)
  makes it abnormal even in an incomplete study; only a complete study (PASP or a resulted echo;
  a DLCO) makes it normal again; anything else leaves the last known state. While abnormal, the
  repeat counts from the latest abnormal study.
- time points (after radiotherapy, after the end of a systemic line, after ASCT) are met by a
  test done on or after (time point − due_soon_days); imaging goes on for life, at the remission
  interval after the yearly period.
- restaging: the triggers of the `relapse_suspected` flag (`restaging_triggers`: a relapse or
  progression event; after a response, a VEGF rise or a criteria feature new or back) put
  `restaging` due at once, and each of its components (imaging, VEGF, haematology, echo, PFT, a
  review after the trigger) due from that date until done.
- the engraftment-syndrome window after ASCT (`engraftment_window`) keeps the review visit due
  every day of the window; a window that ended without a visit in it stays "not assessed" until
  one is recorded in it, or an engraftment syndrome is recorded.
A patient with a recorded death gets no follow-up items.

Pure: no Qt, no SQL, no file or clock access; one pass over the visits per patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import lru_cache
from typing import Iterable, Iterator, NamedTuple

from poems_monitor.domain.catalogue import EXAM_KINDS, FOLLOWUP_ITEM_NAMES, FOLLOWUP_ITEMS, MEASURES, REGIMENS, display_name
from poems_monitor.domain.course import (
    LineIndex, active_on, add_months, add_years, clip, days, death_date, end_of, lines_of_therapy, regimen_label,
)
from poems_monitor.domain.derived import PRESENT, derive_features
from poems_monitor.domain.flags import Flag, FlagKind, relapse_triggers, vegf_rise_dates
from poems_monitor.domain.protocol import Protocol
from poems_monitor.domain.timeline import PatientRecord, TreatmentRecord, VisitRecord, remembered
from poems_monitor import local_format
from poems_monitor.i18n import ntr, tr

ITEMS = FOLLOWUP_ITEMS  # in the order the schedule lists them

# Features whose appearance brings an echo / PFT forward ("when dyspnoea or oedema appears",
# REFERENCE.md section 5). Not thresholds: the list of symptoms the clinic can record.
ECHO_TRIGGERS = ("peripheral_edema", "pleural_effusion", "ascites", "pericardial_effusion",
                 "pulmonary_hypertension", "cardiomyopathy")
PFT_TRIGGERS = ("pleural_effusion", "restrictive_lung_disease", "pulmonary_hypertension")
TRIGGER_CODES = frozenset(ECHO_TRIGGERS + PFT_TRIGGERS)
_ALWAYS_DONE_BY_VISIT = ("review_visit", "thrombosis_review")
BLOOD_COUNT_CODES = frozenset({"platelets", "hemoglobin", "hematocrit"})


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
    latest_abnormal: date | None = None  # the newest abnormal result of that run (the interval counts from it)


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
DONE_BY_CODE = _done_by_code()

# What completes an item (INTERFACES.md section 4, amended 2026-12): for these items only the
# listed measurements do; the item's other measurements are recorded as "partly done". PFT
# needs DLCO (spirometry alone is not the PFT); the haematology item is the response work-up,
# i.e. the monoclonal protein (a blood count alone is not). Echo is done by PASP, LVEF or a
# resulted echo exam; every other item by any of its measurements or a resulted exam.
COMPLETED_BY: dict[str, frozenset[str]] = {
    "pft": frozenset({"dlco_pct"}),
    "hematology": frozenset({"m_protein", "ife", "flc_kappa", "flc_lambda", "flc_ratio"}),
}
# Items a resulted exam alone does not complete (the measurement above is needed).
_EXAM_NOT_ENOUGH = frozenset({"pft"})


class VisitFindings(NamedTuple):
    """What one visit tells the schedule: items done, items partly done (why), echo/PFT verdicts."""

    done: set[str]
    partial: dict[str, str]  # item -> what was only partly done (see `partly_done_text`)
    verdict: dict[str, bool]  # echo/pft -> abnormal (True) or complete and normal (False); absent: no verdict


def _code_info() -> dict[str, tuple[tuple[str, ...], tuple[str, ...], str | None]]:
    """measure code -> (items it completes, items it only partly does, echo/pft item it judges)."""
    out = {}
    for code, (items, judged) in DONE_BY_CODE.items():
        completes = tuple(i for i in items if i not in COMPLETED_BY or code in COMPLETED_BY[i])
        partly = tuple(i for i in items if i not in completes)
        out[code] = (completes, partly, judged)
    return out


_CODE_INFO = _code_info()
# measure code -> the echo/pft item its value judges (only the codes that judge one)
_JUDGED_BY_CODE = {code: judged for code, (_, _, judged) in _CODE_INFO.items() if judged is not None}


@lru_cache(maxsize=4096)
def _items_measured(codes: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(items completed, items only partly done) by measurements of these codes. Visits repeat
    the same few panels: each panel is worked out once (a pure function of the codes)."""
    completes: set[str] = set()
    partly: set[str] = set()
    for code in codes:
        info = _CODE_INFO.get(code)
        if info is not None:
            completes.update(info[0])
            partly.update(info[1])
    return frozenset(completes), frozenset(partly)


def _echo_value_abnormal(code: str, value: float, sex: str, protocol: Protocol) -> bool:
    """PASP at or above the PH threshold, LVEF below its floor, or either outside the catalogue's
    reference range (the stricter one wins: a PASP of 40 is an intermediate ESC probability)."""
    ref = MEASURES[code].reference_for(sex)
    outside = ref is not None and not ref.contains(value)
    if code == "pasp":
        return outside or value >= protocol.pasp_pulmonary_hypertension
    if code == "lvef":
        return outside or value < protocol.lvef_floor_pct
    return outside


def visit_findings(visit: VisitRecord, sex: str, protocol: Protocol) -> VisitFindings:
    """The follow-up reading of one visit. One definition for the schedule and the rules cache
    (computed once per visit, sex and protocol: `timeline.remembered`; never change the result).

    An abnormal part makes a verdict "abnormal" even when the study is incomplete (caution); only
    a complete study can make it "normal": PFT with a DLCO, echo with a PASP or a resulted exam.
    A pending exam completes nothing and judges nothing."""
    return remembered(visit, "_findings", (protocol, sex), lambda: _visit_findings(visit, sex, protocol))


def _visit_findings(visit: VisitRecord, sex: str, protocol: Protocol) -> VisitFindings:
    observations = visit.observations
    completes, partly = _items_measured(frozenset([obs.code for obs in observations]))
    done: set[str] = set(completes)
    recorded: set[str] = set(partly)  # items a measurement partly did (spirometry, a blood count)
    abnormal: dict[str, bool] = {}
    complete_normal: dict[str, bool] = {}
    for obs in observations:
        judged = _JUDGED_BY_CODE.get(obs.code)
        if judged is not None and obs.number is not None:
            if judged == "echo":
                bad = _echo_value_abnormal(obs.code, obs.number, sex, protocol)
            else:
                ref = MEASURES[obs.code].reference_for(sex)
                bad = ref is not None and not ref.contains(obs.number)
            abnormal[judged] = abnormal.get(judged, False) or bad
            if obs.code in ("pasp", "dlco_pct"):
                complete_normal[judged] = True
    pending: dict[str, str] = {}
    resulted_without: dict[str, str] = {}
    for exam in visit.exams:
        kind = EXAM_KINDS.get(exam.kind)
        if kind is None or not kind.followup_item:
            continue
        item = kind.followup_item
        if exam.result == "pending":
            pending[item] = kind.code
            continue
        if item in _EXAM_NOT_ENOUGH:
            resulted_without[item] = exam.result
        else:
            done.add(item)
            complete_normal[item] = True
        if item in ("echo", "pft"):
            abnormal[item] = abnormal.get(item, False) or exam.result == "abnormal"
    verdict = {}
    for item, bad in abnormal.items():
        if bad:
            verdict[item] = True
        elif complete_normal.get(item) and (item in done):
            verdict[item] = False
    partial: dict[str, str] = {}
    for item, kind in pending.items():
        if item not in done:
            partial[item] = "pending:" + kind
    for item in COMPLETED_BY:
        if item in done or item in partial:
            continue
        if item == "pft" and item in recorded:
            partial[item] = "spirometry"
        elif item == "pft" and item in resulted_without:
            partial[item] = "pft_without_dlco"
        elif item == "hematology" and item in recorded:
            partial[item] = "blood_count"
    return VisitFindings(done, partial, verdict)


def partly_done_text(what: str, day: date) -> str:
    """The sentence for a partly done item (`VisitFindings.partial`), formatted only when shown."""
    when = local_format.day(day)
    if what.startswith("pending:"):
        kind = EXAM_KINDS[what.split(":", 1)[1]]
        return tr("{exam} pending since {date}").format(exam=kind.label, date=when)
    if what == "spirometry":
        return tr("spirometry without DLCO on {date}: PFT not complete").format(date=when)
    if what == "pft_without_dlco":
        return tr("PFT result without a DLCO value on {date}: PFT not complete").format(date=when)
    return tr("blood tests without the monoclonal work-up (M-protein, IFE, FLC) on {date}: "
              "haematology not complete").format(date=when)


class VisitSummary:
    """What the schedule reads of a patient's visits, per item: the newest visit that completed
    it, the partly-done visit it reports, the echo/PFT normal or abnormal state and the latest
    trigger onsets. Public so that `reduced_course` can check a reduced record against it."""

    def __init__(self, patient: PatientRecord, protocol: Protocol):
        self.last_done: dict[str, date] = {}
        self.partial: dict[str, tuple[date, str]] = {}  # item -> newest partly-done visit and what
        self.exam: dict[str, _ExamState] = {"echo": _ExamState(), "pft": _ExamState()}
        self.onsets: dict[str, tuple[date, str]] = {}  # item -> (latest trigger onset, feature)
        prev_state: dict[str, str] = {}
        sex = patient.sex
        last_done = self.last_done
        for visit in patient.visits:
            day = visit.date
            for item in _ALWAYS_DONE_BY_VISIT:
                last_done[item] = day
            if visit.observations or visit.exams:
                found = visit_findings(visit, sex, protocol)
                for item in found.done:
                    last_done[item] = day
                for item, what in found.partial.items():
                    before = self.partial.get(item)
                    if (before is not None and before[1] == what and what.startswith("pending:")
                            and before[0] > last_done.get(item, date.min)):
                        continue  # still pending: "pending since" the first of them
                    self.partial[item] = (day, what)
                for item, is_abnormal in found.verdict.items():
                    state = self.exam[item]
                    if is_abnormal:
                        if not state.abnormal:
                            state.abnormal_since = day
                        state.latest_abnormal = day
                    else:
                        state.abnormal_since = state.latest_abnormal = None
                    state.abnormal = is_abnormal
            for code, status in visit.features:
                if code not in TRIGGER_CODES or status not in ("present", "absent"):
                    continue
                if status == PRESENT and prev_state.get(code) != PRESENT:
                    if code in ECHO_TRIGGERS:
                        self.onsets["echo"] = (day, code)
                    if code in PFT_TRIGGERS:
                        self.onsets["pft"] = (day, code)
                prev_state[code] = status


def visit_summary(patient: PatientRecord, protocol: Protocol) -> VisitSummary:
    """`VisitSummary(patient, protocol)`, computed once per record and protocol
    (`timeline.remembered`): the reduction's check and the schedule read the same summary of the
    same record. Read only."""
    return remembered(patient, "_summary", (protocol,), lambda: VisitSummary(patient, protocol))


def rise_dates(patient: PatientRecord, protocol: Protocol) -> tuple[date, ...]:
    """`flags.vegf_rise_dates`, computed once per record and protocol (as `visit_summary`)."""
    return remembered(patient, "_vegf_rises", (protocol,), lambda: vegf_rise_dates(patient, protocol))


# ---------------------------------------------------------------------------------------------
# Restaging after a suspected relapse, and the engraftment-syndrome window
# ---------------------------------------------------------------------------------------------

# What a restaging covers (issue 9, defect 5): each must be done on or after the trigger; the
# review visit after it (a visit on the trigger day is the one that raised the suspicion).
RESTAGING_COMPONENTS = ("imaging", "vegf", "hematology", "echo", "pft", "review_visit")


def restaging_triggers(patient: PatientRecord, protocol: Protocol, as_of: date,
                       flags: tuple[Flag, ...] | None = None) -> tuple[tuple[date, str], ...]:
    """Dates at which a relapse is suspected, oldest first, each with why: exactly the dates of
    the `relapse_suspected` flags, from the flag's own rule (`flags.relapse_triggers`: a relapse or
    progression event; after a response, a VEGF rise or a criteria feature new or back), so one
    rule raises the flag and puts restaging due. `flags`: the patient's flags already computed
    on the same record and as-of (read instead of computing the rule again). A reduced record
    (rules cache) carries them precomputed on the whole record (`PatientRecord.relapse_triggers`)."""
    if patient.relapse_triggers is not None:
        return tuple(t for t in patient.relapse_triggers if t[0] <= as_of)
    if flags is not None:
        return tuple((f.date, "; ".join(t["description"] for t in f.evidence["triggers"]))
                     for f in flags if f.kind is FlagKind.RELAPSE_SUSPECTED and f.date <= as_of)
    by_date: dict[date, list[str]] = {}
    for t in relapse_triggers(patient, protocol, as_of):
        by_date.setdefault(t.date, []).append(t.description)
    return tuple((day, "; ".join(why)) for day, why in sorted(by_date.items()))


def _first_trigger_after(triggers: tuple[tuple[date, str], ...], after: date | None) -> tuple[date, str] | None:
    """The oldest relapse trigger later than `after` (None: any), with why; None when there is none."""
    for day, why in triggers:
        if after is None or day > after:
            return day, why
    return None


def engraftment_window(asct: TreatmentRecord, protocol: Protocol) -> tuple[date, date, str]:
    """The engraftment-syndrome watch after an ASCT: (first day, last day, why). REFERENCE.md
    section 7: day +start..+end after infusion (DEFAULT), narrowed to Maiolino/Spitzer around the
    neutrophil engraftment once its date is recorded."""
    p = protocol
    if asct.engraftment_date is not None:
        start = asct.engraftment_date - days(p.es_days_before_engraftment)
        end = asct.engraftment_date + days(p.es_days_after_engraftment)
        why = tr("engraftment-syndrome watch {start} to {end} (engraftment {eng})").format(
            start=local_format.day(start), end=local_format.day(end), eng=local_format.day(asct.engraftment_date))
    else:
        start = asct.start + days(p.es_watch_start_day)
        end = asct.start + days(p.es_watch_end_day)
        why = tr("engraftment-syndrome watch {start} to {end} (day +{a} to +{b} after infusion {inf}; "
                 "engraftment not recorded)").format(start=local_format.day(start), end=local_format.day(end),
                                                     a=p.es_watch_start_day, b=p.es_watch_end_day,
                                                     inf=local_format.day(asct.start))
    return start, end, why


def latest_asct(patient: PatientRecord) -> TreatmentRecord | None:
    found = None
    for t in patient.treatments:
        if t.regimen == "asct" and (found is None or t.start >= found.start):
            found = t
    return found


# ---------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------


# What an item's rule yields: candidate (due date, reason) pairs; None where a rule does not apply.
_Dues = Iterator[tuple[date, str] | None]


class _Planner:
    def __init__(self, patient: PatientRecord, protocol: Protocol, as_of: date, flags: tuple[Flag, ...] | None = None):
        self.patient = patient
        self.p = protocol
        self.as_of = as_of
        self.flags = flags  # the patient's flags on the same record and as-of, when the caller has them
        self.facts = visit_summary(patient, protocol)
        self.vegf_rises = rise_dates(patient, protocol)  # read by imaging
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
                date=local_format.day(self.remission_since), n=remission)
        line = self.line
        anchor = last
        if line is not None and line.start > last:
            anchor = line.start  # a new line restarts the series from its start
        if first_year is not None and line is not None and anchor < add_months(line.start, self.p.first_year_of_line_months):
            return add_months(anchor, first_year), tr("first year of {regimen} (started {start}): every {n} months").format(
                regimen=regimen_label(line), start=local_format.day(line.start), n=first_year)
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
            what=what, n=n, end=local_format.day(end)))

    # --- items --------------------------------------------------------------------------------
    def vegf(self, last: date) -> _Dues:
        yield self._periodic(last, self.p.vegf_first_year_months, self.p.vegf_months)
        yield self._after_radiotherapy(last, tr("reassess"))

    def hematology(self, last: date) -> _Dues:
        yield self._periodic(last, self.p.hematology_first_year_months, self.p.hematology_months)

    def neuropathy_score(self, last: date) -> _Dues:
        yield self._periodic(last, self.p.neuropathy_first_year_months, self.p.neuropathy_months)
        yield self._after_radiotherapy(last, tr("reassess"))

    def endocrine(self, last: date) -> _Dues:
        yield self._periodic(last, None, self.p.endocrine_months, self.p.endocrine_remission_months)

    def review_visit(self, last: date) -> _Dues:
        yield self._periodic(last, self.p.review_first_year_months, self.p.review_months, self.p.review_remission_months)
        yield self._engraftment_window()

    def _engraftment_window(self) -> tuple[date, str] | None:
        """The watch covers the whole window: due from its first day and again the day after each
        assessment (any visit) until its last day; it closes when the window has had an
        assessment and is over, or when an engraftment syndrome is recorded. A window that ended
        without any assessment stays on the list as "not assessed" (waive it if it cannot be)."""
        asct = latest_asct(self.patient)
        if asct is None:
            return None
        start, end, why = engraftment_window(asct, self.p)
        if any(e.type == "engraftment_syndrome" and e.date >= asct.start for e in self.patient.events):
            return None  # recognised and recorded: the watch has done its job
        if self.as_of < start:
            return start, why
        assessed = [v.date for v in self.patient.visits if start <= v.date <= end]
        if self.as_of > end:
            if assessed:
                return None
            return start, tr("{watch}: not assessed (no visit recorded inside the window)").format(watch=why)
        if not assessed:
            return start, tr("{watch}: assess every day of the window").format(watch=why)
        if assessed[-1] >= end:
            return None
        return assessed[-1] + days(1), tr("{watch}: assess every day of the window (last assessed {d})").format(
            watch=why, d=local_format.day(assessed[-1]))

    def imaging(self, last: date) -> _Dues:
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
                                       stop=local_format.day(induction.stop)))
        asct = self._latest(frozenset({"asct"}))
        if asct is not None:
            yield self._time_point(last, add_months(asct.start, p.imaging_after_asct_months),
                                   tr("{n} months after ASCT ({start})").format(n=p.imaging_after_asct_months,
                                                                                start=local_format.day(asct.start)))
        rises = [d for d in self.vegf_rises if d > last]
        if rises:
            yield rises[0], tr("VEGF rose on {date} (no imaging since)").format(date=local_format.day(rises[0]))
        anchor = self.line.start if self.line is not None else self.baseline
        if anchor is not None:
            # as for the periodic items, a new line restarts the yearly series from its start;
            # after the yearly period imaging goes on for life at the longer remission interval
            what = (tr("the start of {regimen}").format(regimen=regimen_label(self.line)) if self.line is not None
                    else tr("the first visit"))
            due = add_months(max(last, anchor), p.imaging_months)
            if p.imaging_yearly_years > 0 and due <= add_years(anchor, p.imaging_yearly_years):
                yield due, tr("every {n} months for {y} years after {what} ({anchor})").format(
                    n=p.imaging_months, y=p.imaging_yearly_years, what=what, anchor=local_format.day(anchor))
            else:
                yield add_months(max(last, anchor), p.imaging_remission_months), tr(
                    "every {n} months after the first {y} years after {what} ({anchor}): imaging never stops").format(
                    n=p.imaging_remission_months, y=p.imaging_yearly_years, what=what, anchor=local_format.day(anchor))

    def _exam(self, item: str, last: date, normal: int, abnormal_first: int, abnormal_later: int) -> _Dues:
        state = self.facts.exam[item]
        if state.abnormal:
            since = state.abnormal_since or last
            # counted from the newest abnormal result: a later incomplete study (LVEF alone,
            # spirometry) neither resets the state nor pushes the repeat away
            latest = state.latest_abnormal or last
            if latest == last:
                head = tr("last result abnormal (since {since})").format(since=local_format.day(since))
            else:
                head = tr("last abnormal result {latest} (abnormal since {since})").format(
                    latest=local_format.day(latest), since=local_format.day(since))
            if latest < add_months(since, 12):
                yield add_months(latest, abnormal_first), tr("{head}: every {n} months in the first year").format(
                    head=head, n=abnormal_first)
            else:
                yield add_months(latest, abnormal_later), tr("{head}: every {n} months").format(head=head, n=abnormal_later)
        else:
            yield add_months(last, normal), tr("last result normal: every {n} months").format(n=normal)
        onset = self.facts.onsets.get(item)
        if onset is not None and onset[0] > last:
            yield onset[0], tr("{feature} appeared on {date}").format(feature=display_name(onset[1]), date=local_format.day(onset[0]))

    def echo(self, last: date) -> _Dues:
        yield from self._exam("echo", last, self.p.echo_normal_months, self.p.echo_abnormal_months,
                              self.p.echo_abnormal_later_months)

    def pft(self, last: date) -> _Dues:
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
            if not (any(o.code in BLOOD_COUNT_CODES for o in visit.observations)
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
                            date=local_format.day(visit.date)))
                break
        return "; ".join(dict.fromkeys(reasons)) or None

    def restaging(self) -> tuple[date, str, list[str]] | None:
        """The oldest relapse trigger whose restaging is not complete: (date, why, components
        still needed). A component counts when done on or after the trigger (the review: after)."""
        done = self.facts.last_done
        effective: dict[str, date | None] = {}
        for c in RESTAGING_COMPONENTS:
            last = done.get(c)
            effective[c] = (last - days(1) if c == "review_visit" else last) if last is not None else None
        known = [d for d in effective.values() if d is not None]
        after = min(known) if len(known) == len(effective) else None
        found = _first_trigger_after(restaging_triggers(self.patient, self.p, self.as_of, self.flags), after)
        if found is None:
            return None
        day, why = found
        missing = [c for c, d in effective.items() if d is None or d < day]
        return day, why, missing

    def plan(self) -> list[tuple[str, date | None, date | None, str, date | None]]:
        """Per item: (item, due, last done, reason, the date the status counts as "started")."""
        out = []
        restage = self.restaging()
        for item in ITEMS:
            last = self.facts.last_done.get(item)
            if item == "restaging":
                if restage is not None:
                    day, why, missing = restage
                    n = self.p.restaging_within_months
                    out.append((item, day, None, ntr(
                        "relapse suspected on {date} ({why}): restage at once, complete within {n} month {cite}: "
                        "{missing} still needed",
                        "relapse suspected on {date} ({why}): restage at once, complete within {n} months {cite}: "
                        "{missing} still needed", n).format(
                        date=local_format.day(day), why=why, n=n, cite=self.p.cite("restaging_within_months"),
                        missing=", ".join(FOLLOWUP_ITEM_NAMES[c] for c in missing)), day))
                continue
            if item == "thrombosis_review":
                risk = self.thrombosis_risk()
                if risk is None:
                    continue
                if last is None:
                    out.append((item, self.baseline, None, tr("thrombosis risk ({risk}): no visit recorded").format(risk=risk), None))
                    continue
                due = add_months(last, self.p.thrombosis_review_months)
                out.append((item, due, last, tr("thrombosis risk ({risk}): every {n} months").format(
                    risk=risk, n=self.p.thrombosis_review_months), last))
                continue
            partial = self.facts.partial.get(item)
            partly = (f"; {partly_done_text(partial[1], partial[0])}"
                      if partial is not None and (last is None or partial[0] > last) else "")
            if last is None:
                out.append((item, self.baseline, None, tr("never recorded: baseline needed") + partly, None))
                continue
            candidates = [c for c in getattr(self, item)(last) if c is not None]
            if restage is not None and item in restage[2]:
                candidates.append((restage[0], tr("restaging: relapse suspected on {date} ({why})").format(
                    date=local_format.day(restage[0]), why=restage[1])))
            if not candidates:
                out.append((item, None, last, tr("nothing scheduled") + partly, last))
                continue
            due, reason = min(candidates, key=lambda c: c[0])
            out.append((item, due, last, reason + partly, last))
        return out


def _transferred_away(record: PatientRecord) -> bool:
    transfers = [e.date for e in record.events if e.type == "transferred"]
    if not transfers:
        return False
    last_visit = max((v.date for v in record.visits), default=None)
    return last_visit is None or max(transfers) >= last_visit


def followup_plan(patient: PatientRecord, protocol: Protocol, as_of: date, *,
                  flags: tuple[Flag, ...] | None = None) -> tuple[WorklistItem, ...]:
    """Every applicable item of one patient, with its status (None when not yet due soon).
    Nothing for a patient who has died (follow-up ends at death), nor for one whose care was
    transferred elsewhere with no visit here since (the clinic no longer schedules their studies;
    a visit after the transfer brings them back). `flags`: `compute_flags(patient, protocol,
    as_of)` when the caller has them (the restaging triggers are read from them, not computed
    again: see `restaging_triggers`)."""
    record = clip(patient, as_of)
    if death_date(record) is not None or _transferred_away(record):
        return ()
    planner = _Planner(record, protocol, as_of, flags)
    return tuple(
        WorklistItem(record.mrn, record.name, item, followup_status(
            due, started, as_of, protocol.due_soon_days, protocol.overdue_grace_days), due, last, reason)
        for item, due, last, reason, started in planner.plan()
    )


def _waiver_for(item: str, waivers: Iterable[Waiver], as_of: date) -> Waiver | None:
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
