"""Clinical flags (INTERFACES.md section 3): what changed in a patient's course that a busy clinic
could miss, each with the rule that raised it, its inputs and their dates.

Owns every flag kind and the one entry point `compute_flags(patient, protocol, as_of)`. Only
visits, treatments and events on or before `as_of` count. A flag's `date` is the visit (or
event, or treatment start) at which it first became true, and its `flag_id` is a short hash of
mrn + kind + code + date, so a physician's review can refer to it later and recomputing the
flags tomorrow yields the same identity.

Design choices a reviewer should know (the "why"):
- The first visit is the baseline: a feature present there is not "new".
- Serum and plasma VEGF are separate series with their own nadir and baseline; a VEGF on a
  different specimen (or from a different lab) than the previous one raises `specimen_change`.
- Run-type flags (thrombocytosis, polycythaemia, pft_decline, neuropathy_improved) fire at the
  first value of each run of abnormal values, not at every later visit; pft_decline and the
  count flags are raised again when the run worsens (see their functions).
- VEGF rise: the nadir runs from the first line's start or the previous rise (INTERFACES 3,
  amended 2026-12); a new, paused or restarted line does not reset it. VEGF response is
  anchored on the most recent line of therapy that started strictly before the value (a value
  drawn on the start day is the pre-treatment baseline). Supportive treatments (steroids alone,
  IVIG, plasma exchange) are not lines: see course.py.
- VEGF response needs a pre-treatment baseline above the upper reference limit: a 50 % fall
  within the normal range is not a response. A baseline older than `response_baseline_max_months`
  (the response table's limit) still raises the flag, which then says how old it is and that
  the response table has no baseline for it (a silent flag would also hide a relapse after it).
- `new_feature` and `feature_recurred` are not raised for thrombocytosis/polycythaemia: their own
  run flag already fires at every new run (and the criteria count them only once confirmed, so a
  "new" feature at the confirming count would repeat the run flag with a wrong "not seen before").
  For the same reason they are no relapse trigger on their own (reactive counts are common).

Pure: no Qt, no SQL, no file or clock access. Linear in the number of values per patient
(look-ups by bisection), so flags for a whole clinic stay cheap.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass, field
import datetime
from datetime import date
from enum import Enum
from typing import Iterator

from poems_monitor.domain.catalogue import (
    CRITERIA, EVENT_TYPES, FEATURES, FLAG_KIND_NAMES, MEASURES, REGIMENS, CriterionClass,
    Severity, display_name, thromboprophylaxis_label,
)
from poems_monitor.domain.course import (
    LineIndex, active_on, add_months, clip, lines_of_therapy, points, regimen_label, shown_number,
)
from poems_monitor.domain.criteria import criteria_from_history
from poems_monitor.domain.derived import ABSENT, PRESENT, VisitFeatures, feature_history
from poems_monitor.domain.protocol import Protocol
from poems_monitor.domain.timeline import PatientRecord, TreatmentRecord, VisitRecord, build_record
from poems_monitor import local_format
from poems_monitor.i18n import and_list, tr


class FlagKind(str, Enum):
    NEW_FEATURE = "new_feature"
    FEATURE_RECURRED = "feature_recurred"
    CRITERIA_MET = "criteria_met"
    VEGF_RISE = "vegf_rise"
    VEGF_RESPONSE = "vegf_response"
    THROMBOCYTOSIS = "thrombocytosis"
    POLYCYTHEMIA = "polycythemia"
    PFT_DECLINE = "pft_decline"
    NEUROPATHY_WORSE = "neuropathy_worse"
    NEUROPATHY_IMPROVED = "neuropathy_improved"
    THROMBOSIS_WATCH = "thrombosis_watch"
    SPECIMEN_CHANGE = "specimen_change"
    ECHO_ABNORMAL = "echo_abnormal"
    RELAPSE_SUSPECTED = "relapse_suspected"
    # safety rules (added 2026-12), raised by domain/safety_flags.py
    CYTOPENIA = "cytopenia"
    CRITICAL_VALUE = "critical_value"
    BLEEDING_RISK = "bleeding_risk"


def make_flag_id(mrn: str, kind: str, code: str, day: date) -> str:
    """Stable identity: the same flag recomputed later has the same id."""
    text = f"{mrn}|{kind}|{code}|{day.isoformat()}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Flag:
    mrn: str
    kind: FlagKind
    code: str  # what the flag is about: a feature, measure, regimen or event code
    date: date
    severity: Severity
    message: str
    rule: str
    evidence: dict = field(default_factory=dict, compare=False, hash=False)  # JSON-ready values
    flag_id: str = ""

    def __post_init__(self) -> None:
        if not self.flag_id:
            object.__setattr__(self, "flag_id", make_flag_id(self.mrn, self.kind.value, self.code, self.date))

    def to_json(self) -> dict:
        return {
            "flag_id": self.flag_id, "mrn": self.mrn, "kind": self.kind.value, "code": self.code,
            "date": self.date.isoformat(), "severity": self.severity.value, "message": self.message,
            "rule": self.rule, "evidence": self.evidence,
        }


def flags_to_json(flags: tuple[Flag, ...], as_of: date) -> dict:
    """The document of INTERFACES.md section 3."""
    return {"as_of": as_of.isoformat(), "flags": [f.to_json() for f in flags]}


# Which VEGF measure belongs to which specimen; the catalogue fixes it per code.
VEGF_CODES = ("vegf_plasma", "vegf_serum")
PFT_CODES = ("dlco_pct", "fvc_pct")
NEUROPATHY_SCALES = ("onls", "incat")
_UNDOCUMENTED_PROPHYLAXIS = (None, "", "none", "unknown")


class _Ctx:
    def __init__(self, patient: PatientRecord, protocol: Protocol, history: tuple[VisitFeatures, ...]):
        self.patient = patient
        self.p = protocol
        self.history = history
        self.lines = LineIndex(lines_of_therapy(patient))
        self.out: dict[str, Flag] = {}

    def add(self, kind: FlagKind, code: str, day: date, severity: Severity, message: str, evidence: dict,
            rule: str | None = None) -> None:
        mrn = self.patient.mrn  # built without the frozen dataclass's __init__ (`timeline.build_record`): same fields
        flag = build_record(Flag, {"mrn": mrn, "kind": kind, "code": code, "date": day, "severity": severity,
                                   "message": message, "rule": rule or kind.value, "evidence": evidence,
                                   "flag_id": make_flag_id(mrn, kind.value, code, day)})
        self.out.setdefault(flag.flag_id, flag)  # same identity twice (two DVTs one day): keep one


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _unit(ctx: _Ctx, code: str) -> str:
    """The unit a flag text quotes a value of `code` in: the clinic's (protocol [units])."""
    return ctx.p.units.label(code)


def _num(ctx: _Ctx, code: str, value: float) -> str:
    """A canonical value of `code` as a flag text quotes it, in the clinic's unit; the rule
    compared the canonical value (text only)."""
    return local_format.decimal_text(ctx.p.units.quote(code, value))


def _since_text(line: TreatmentRecord | None) -> str:
    if line is None:
        return tr("(no line of therapy recorded before it)")
    return tr("since {regimen} started {start}").format(regimen=regimen_label(line), start=local_format.day(line.start))


# ---------------------------------------------------------------------------------------------
# Features: new_feature, feature_recurred, criteria_met
# ---------------------------------------------------------------------------------------------

_RUN_FLAGGED_FEATURES = frozenset({"thrombocytosis", "polycythemia"})


def _feature_flags(ctx: _Ctx) -> None:
    ever_present: set[str] = set()
    absent_after_present: set[str] = set()
    last_present: dict[str, date] = {}
    last_absent: dict[str, date] = {}
    for i, vf in enumerate(ctx.history):
        for code, state in vf.states.items():
            if state == PRESENT:
                if code not in ever_present:
                    if i > 0 and code not in _RUN_FLAGGED_FEATURES:  # the first visit is the baseline
                        _new_feature(ctx, vf, code, i, last_absent.get(code))
                    ever_present.add(code)
                elif code in absent_after_present and code not in _RUN_FLAGGED_FEATURES:
                    ctx.add(
                        FlagKind.FEATURE_RECURRED, code, vf.date, Severity.WARNING,
                        tr("{name} is present again on {date}: documented absent on {absent} after being present on {present}").format(
                            name=display_name(code), date=local_format.day(vf.date),
                            absent=local_format.day(last_absent[code]), present=local_format.day(last_present[code])),
                        {"present_again": vf.date.isoformat(), "last_absent": last_absent[code].isoformat(),
                         "last_present_before": last_present[code].isoformat()},
                    )
                absent_after_present.discard(code)
                last_present[code] = vf.date
            elif state == ABSENT:
                last_absent[code] = vf.date
                if code in ever_present:
                    absent_after_present.add(code)


def _new_feature(ctx: _Ctx, vf: VisitFeatures, code: str, earlier: int, last_absent: date | None) -> None:
    if earlier == 1:
        text = tr("{name} is new: absent or not seen at the earlier visit")
    else:
        text = tr("{name} is new: absent or not seen at the {n} earlier visits")
    message = text.format(name=display_name(code), n=earlier)
    evidence: dict = {"first_present": vf.date.isoformat(), "last_absent": _iso(last_absent), "earlier_visits": earlier}
    derived = vf.derived_feature(code)
    if derived is not None and derived.explanation:
        message += f" ({derived.explanation})"
        evidence["derived"] = {"source": derived.source, **derived.evidence}
    ctx.add(FlagKind.NEW_FEATURE, code, vf.date, Severity.WARNING, message, evidence)


def _criteria_flag(ctx: _Ctx) -> None:
    assessment = criteria_from_history(ctx.history)
    if assessment.fulfilled_on is None:
        return
    parts = []
    for label, klass in ((tr("mandatory"), "mandatory"), (tr("major"), "major"), (tr("minor"), "minor")):
        names = [
            tr("{name} ({date})").format(name=c.name, date=local_format.day(c.first_documented))
            for c in assessment.used if c.klass.value == klass
        ]
        parts.append(f"{label}: {', '.join(names)}")
    ctx.add(
        FlagKind.CRITERIA_MET, "poems_criteria", assessment.fulfilled_on, Severity.INFO,
        tr("POEMS diagnostic criteria fulfilled on {date} (both mandatory + one other major + one minor); {parts}").format(
            date=local_format.day(assessment.fulfilled_on), parts="; ".join(parts)),
        {"criteria": [c.to_json() for c in assessment.used],
         "not_counted": [{"feature": n.feature, "first_present": n.first_present.isoformat(), "reason": n.reason} for n in assessment.not_counted]},
    )


# ---------------------------------------------------------------------------------------------
# Runs of derived haematology: thrombocytosis, polycythemia (+ thrombosis watch while untreated)
# ---------------------------------------------------------------------------------------------


_COUNT_MEASURES = {"thrombocytosis": ("platelets",), "polycythemia": ("hemoglobin", "hematocrit")}
_NOT_COUNTED_SOURCES = ("clinician_absent", "unconfirmed")


def _critical_count(visit: VisitRecord, code: str) -> tuple[str, float, float] | None:
    """(measure, value, critical high limit) of the first count of `code` beyond its critical limit."""
    for measure in _COUNT_MEASURES[code]:
        obs = visit.value(measure)
        limit = MEASURES[measure].critical.high if MEASURES[measure].critical else None
        if obs is not None and obs.number is not None and limit is not None and obs.number > limit:
            return measure, float(obs.number), limit
    return None


def _run_flags(ctx: _Ctx) -> None:
    """thrombocytosis / polycythemia (INTERFACES 3, amended 2026-12): at the first visit of each run
    of counts above the limit (or of the clinician's "present" without a count), and again when a
    count in the run passes the measure's critical limit. The flag follows the counts; it says
    whether the value counts for the criteria (confirmed, not yet confirmed, or overridden by the
    clinician's "absent" at that visit)."""
    for code, kind in (("thrombocytosis", FlagKind.THROMBOCYTOSIS), ("polycythemia", FlagKind.POLYCYTHEMIA)):
        in_run = False
        untreated_flagged = False
        critical_flagged = False
        for visit, vf in zip(ctx.patient.visits, ctx.history):
            derived = vf.derived_feature(code)
            raw = derived.measured_above if derived is not None else None
            state = vf.state(code)
            if raw is False or (raw is None and state == ABSENT):
                in_run = False
                continue
            if not (raw is True or (raw is None and state == PRESENT)):
                continue  # not measured at this visit: the run neither starts nor ends
            explanation = derived.explanation if derived is not None else ""
            # does this value count for the criteria? ("counted", "unconfirmed" or "clinician_absent")
            criteria = derived.source if derived is not None and derived.source in _NOT_COUNTED_SOURCES else "counted"
            evidence = {"date": vf.date.isoformat(), "source": derived.source if derived else "entered",
                        "criteria": criteria, **(derived.evidence if derived else {})}
            starts = not in_run
            if starts:
                in_run, untreated_flagged, critical_flagged = True, False, False
            critical = None if critical_flagged else _critical_count(visit, code)
            if critical is not None:  # one flag when the run starts beyond the critical limit
                critical_flagged = True
                measure, value, limit = critical
                ctx.add(kind, code, vf.date, Severity.CRITICAL,
                        tr("{name} on {date}: {measure} {value} {unit} is above the critical limit {limit} {unit}; {explanation}").format(
                            name=display_name(code), date=local_format.day(vf.date), measure=MEASURES[measure].label,
                            value=_num(ctx, measure, value), unit=_unit(ctx, measure), limit=_num(ctx, measure, limit),
                            explanation=explanation),
                        {**evidence, "critical": {"measure": measure, "value": value, "limit": limit}})
            elif starts:
                ctx.add(kind, code, vf.date, Severity.WARNING,
                        tr("{name} on {date}: {explanation}").format(
                            name=display_name(code), date=local_format.day(vf.date), explanation=explanation),
                        evidence)
            if not untreated_flagged and not ctx.lines.any_active(vf.date):
                untreated_flagged = True
                ctx.add(
                    FlagKind.THROMBOSIS_WATCH, f"{code}_untreated", vf.date, Severity.WARNING,
                    tr("{name} on {date} while no line of therapy is active: thrombosis risk ({explanation}) [MELLORS21]").format(
                        name=display_name(code), date=local_format.day(vf.date), explanation=explanation),
                    {**evidence, "active_lines": []}, rule="thrombosis_watch_untreated",
                )


# ---------------------------------------------------------------------------------------------
# VEGF: rise from nadir, response from baseline, specimen / lab change
# ---------------------------------------------------------------------------------------------


def _vegf_series(ctx: _Ctx) -> dict[str, list[tuple[date, float, str | None]]]:
    series: dict[str, list[tuple[date, float, str | None]]] = {c: [] for c in VEGF_CODES}
    for visit in ctx.patient.visits:
        for code in VEGF_CODES:
            obs = visit.value(code)
            if obs is not None and obs.number is not None:
                series[code].append((visit.date, float(obs.number), obs.lab))
    return series


def _uln(ctx: _Ctx, code: str) -> tuple[float, str]:
    key = "vegf_plasma_upper_reference" if code == "vegf_plasma" else "vegf_serum_upper_reference"
    return getattr(ctx.p, key), ctx.p.cite(key)


def _rises(lines: LineIndex, values: list[tuple[date, float, str | None]], fraction: float, uln: float,
           ) -> Iterator[tuple[date, float, date, float, TreatmentRecord | None, date | None]]:
    """Raw VEGF rises of one series: (day, value, nadir day, nadir, line, window start).

    The nadir (INTERFACES 3, amended 2026-12) is the lowest value since the later of the first
    line of therapy's start and the previous rise of this series. Starting, pausing, stopping or
    restarting a line does not reset it, so a relapse across a treatment interruption is a rise.
    A value drawn on the first line's start day is compared as pre-treatment (with every
    earlier value), then opens the treated window. `line` is the most recent line before the
    value (for the message). Kept free of message formatting: the schedule asks only for dates."""
    first_start = lines.lines[0].start if lines.lines else None
    since_rise: tuple[date, float] | None = None  # lowest value since the previous rise (any date)
    treated: tuple[date, float] | None = None  # the same, counting only values from the first start on
    rise_day: date | None = None
    for day, value, _lab in values:
        on_treatment = first_start is not None and day > first_start
        nadir = treated if on_treatment else since_rise
        if nadir is not None and value >= nadir[1] * (1 + fraction) - 1e-9 and value > uln:
            window = max((d for d in (rise_day, first_start if on_treatment else None) if d is not None), default=None)
            yield day, value, nadir[0], nadir[1], lines.before(day), window
            rise_day, since_rise = day, (day, value)  # the next nadir counts from this rise
            treated = (day, value) if first_start is not None and day >= first_start else None
            continue
        if since_rise is None or value < since_rise[1]:
            since_rise = (day, value)
        if first_start is not None and day >= first_start and (treated is None or value < treated[1]):
            treated = (day, value)


def _vegf_rise(ctx: _Ctx, code: str, values: list[tuple[date, float, str | None]]) -> None:
    fraction = ctx.p.vegf_rise_fraction
    uln, uln_cite = _uln(ctx, code)
    unit = _unit(ctx, code)
    first = ctx.lines.lines[0] if ctx.lines.lines else None
    for day, value, nadir_day, nadir, line, window in _rises(ctx.lines, values, fraction, uln):
        pct = tr("{n} %").format(n=int(round((value / nadir - 1) * 100))) if nadir > 0 else "∞"
        if first is not None and window == first.start:
            since = _since_text(first)
        elif window is not None:
            since = tr("since the previous rise on {date}").format(date=local_format.day(window))
        else:
            since = _since_text(None)
        treated = any(active_on(t, day) and t.start < day for t in ctx.lines.lines)  # a start-day draw is pre-dose
        if line is not None and not treated:
            since += tr("; no line of therapy was active on {date}").format(date=local_format.day(day))
        ctx.add(
            FlagKind.VEGF_RISE, code, day, Severity.WARNING,
            tr("{name} {value} {unit} on {date} is {pct} above its nadir {nadir} {unit} of {nadir_date} {since} "
               "(threshold +{threshold} {cite}; above the upper reference limit {uln} {unit} {uln_cite})").format(
                name=MEASURES[code].label, value=_num(ctx, code, value), unit=unit, date=local_format.day(day), pct=pct,
                nadir=_num(ctx, code, nadir), nadir_date=local_format.day(nadir_day), since=since,
                threshold=tr("{n} %").format(n=int(round(fraction * 100))), cite=ctx.p.cite("vegf_rise_fraction"),
                uln=_num(ctx, code, uln), uln_cite=uln_cite),
            {"value": value, "date": day.isoformat(), "nadir": nadir, "nadir_date": nadir_day.isoformat(),
             "nadir_since": _iso(window),
             "line_regimen": line.regimen if line else None, "line_start": _iso(line.start) if line else None,
             "on_treatment": treated,
             "rise_fraction": fraction, "upper_reference": uln, "specimen": MEASURES[code].specimen},
        )


def _vegf_response(ctx: _Ctx, code: str, values: list[tuple[date, float, str | None]]) -> None:
    fraction = ctx.p.vegf_response_fraction
    uln, uln_cite = _uln(ctx, code)
    unit = _unit(ctx, code)
    dates = [v[0] for v in values]
    done: dict[tuple[date, str], bool] = {}  # (line start, "fall"|"normal") already flagged
    for day, value, _lab in values:
        line = ctx.lines.before(day)
        if line is None:
            continue  # a response is a response to treatment
        i = bisect_right(dates, line.start) - 1
        if i < 0:
            continue  # no pre-treatment value of this specimen: nothing to compare with
        base_day, base_value = values[i][0], values[i][1]
        if base_value <= uln:
            continue  # a baseline within the reference range cannot respond: nothing to fall from
        fall = base_value > 0 and value <= base_value * (1 - fraction) + 1e-9 and not done.get((line.start, "fall"))
        normal = value <= uln and not done.get((line.start, "normal"))
        if not (fall or normal):
            continue
        parts = []
        if fall:
            done[(line.start, "fall")] = True
            parts.append(tr("{pct} below its pre-treatment baseline {base} {unit} of {base_date} (response threshold {threshold} {cite})").format(
                pct=tr("{n} %").format(n=int(round((1 - value / base_value) * 100))), base=_num(ctx, code, base_value),
                unit=unit, base_date=local_format.day(base_day),
                threshold=tr("{n} %").format(n=int(round(fraction * 100))), cite=ctx.p.cite("vegf_response_fraction")))
        if normal:
            done[(line.start, "normal")] = True
            parts.append(tr("normalised (at or below {uln} {unit} {cite}; baseline {base} {unit} of {base_date})").format(
                uln=_num(ctx, code, uln), unit=unit, cite=uln_cite, base=_num(ctx, code, base_value),
                base_date=local_format.day(base_day)))
        message = tr("{name} {value} {unit} on {date} is {parts}, {since}").format(
            name=MEASURES[code].label, value=_num(ctx, code, value), unit=unit, date=local_format.day(day),
            parts=and_list(parts), since=_since_text(line))
        # The response table (response.py) accepts a baseline at most `response_baseline_max_months`
        # old. The flag still speaks (a response it misses would also hide the relapse after it),
        # but names the baseline's age and that the table has no baseline (same rule, same dates).
        months = ctx.p.response_baseline_max_months
        stale = base_day < add_months(line.start, -months)
        if stale:
            message += tr("; caution: the baseline was taken {n} days before the line started, more than the "
                          "{m} months {cite} a response baseline may be old, so the response table has "
                          "no baseline and judges no response from it: confirm against a recent pre-treatment "
                          "value").format(
                n=(line.start - base_day).days, m=months, cite=ctx.p.cite("response_baseline_max_months"))
        ctx.add(
            FlagKind.VEGF_RESPONSE, code, day, Severity.INFO, message,
            {"value": value, "date": day.isoformat(), "baseline": base_value, "baseline_date": base_day.isoformat(),
             "baseline_days_before_line": (line.start - base_day).days, "baseline_too_old": stale,
             "line_regimen": line.regimen, "line_start": line.start.isoformat(), "fall": bool(fall),
             "normalised": bool(normal), "response_fraction": fraction, "upper_reference": uln,
             "specimen": MEASURES[code].specimen},
        )


def _specimen_change(ctx: _Ctx) -> None:
    prev: tuple[date, frozenset[str]] | None = None
    last_lab: dict[str, tuple[date, str]] = {}
    for visit in ctx.patient.visits:
        here: dict[str, str | None] = {}
        for code in VEGF_CODES:
            obs = visit.value(code)
            if obs is not None:
                here[MEASURES[code].specimen] = obs.lab
        if not here:
            continue
        specimens = frozenset(here)
        if prev is not None:
            for specimen in sorted(specimens - prev[1]):
                before = ", ".join(sorted(prev[1]))
                ctx.add(
                    FlagKind.SPECIMEN_CHANGE, f"vegf_{specimen}", visit.date, Severity.INFO,
                    tr("VEGF on {date} was measured in {specimen}; the previous VEGF ({prev_date}) was {before}: "
                       "the two are never compared, {specimen} VEGF starts its own series").format(
                        date=local_format.day(visit.date), specimen=specimen, prev_date=local_format.day(prev[0]), before=before),
                    {"change": "specimen", "specimen": specimen, "previous_specimen": sorted(prev[1]),
                     "previous_date": prev[0].isoformat()},
                )
        for specimen, lab in here.items():
            earlier = last_lab.get(specimen)
            if lab and earlier and earlier[1] != lab and specimen in (prev[1] if prev else ()):
                ctx.add(
                    FlagKind.SPECIMEN_CHANGE, f"vegf_{specimen}", visit.date, Severity.INFO,
                    tr("{specimen} VEGF on {date} comes from {lab}; the previous one ({prev_date}) came from {prev_lab}: "
                       "values of different laboratories may not be comparable").format(
                        specimen=specimen.capitalize(), date=local_format.day(visit.date), lab=lab,
                        prev_date=local_format.day(earlier[0]), prev_lab=earlier[1]),
                    {"change": "lab", "specimen": specimen, "lab": lab, "previous_lab": earlier[1],
                     "previous_date": earlier[0].isoformat()},
                    rule="specimen_change_lab",
                )
            if lab:
                last_lab[specimen] = (visit.date, lab)
        prev = (visit.date, specimens)


def vegf_rise_dates(patient: PatientRecord, protocol: Protocol) -> tuple[date, ...]:
    """Dates of VEGF rise flags (either specimen), for the imaging trigger of the schedule.
    `patient` must already be clipped to as-of."""
    ctx = _Ctx(patient, protocol, ())
    out = []
    for code, values in _vegf_series(ctx).items():
        uln, _ = _uln(ctx, code)
        out.extend(r[0] for r in _rises(ctx.lines, values, protocol.vegf_rise_fraction, uln))
    return tuple(sorted(out))


def vegf_rise_nadirs(patient: PatientRecord, protocol: Protocol) -> tuple[tuple[str, date, date], ...]:
    """(code, day of the rise, day of its nadir) of every VEGF rise of the record: the two values
    that make each rise. `reduced_course` keeps exactly these values (the nadir restarts at each
    rise, so nothing between two kept values can rise over a kept nadir)."""
    ctx = _Ctx(patient, protocol, ())
    out = []
    for code, values in _vegf_series(ctx).items():
        uln, _ = _uln(ctx, code)
        out.extend((code, r[0], r[2]) for r in _rises(ctx.lines, values, protocol.vegf_rise_fraction, uln))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Lung function
# ---------------------------------------------------------------------------------------------


def _pft_decline(ctx: _Ctx) -> None:
    """DLCO / FVC decline (INTERFACES 3, amended 2026-12): the first value of a run that is the
    configured points below the best of the look-back window or crosses the floor; again at each
    further fall of those points from the value of the previous pft_decline; and when the first
    value after a gap longer than the window is those points below the last value before it (the
    window is then empty, so without this a fall over a long gap would be silent)."""
    threshold = ctx.p.pft_decline_points
    months = ctx.p.pft_decline_window_months
    for code in PFT_CODES:
        floor_key = "dlco_floor_pct" if code == "dlco_pct" else "fvc_floor_pct"
        floor = getattr(ctx.p, floor_key)
        values = [(v.date, float(o.number)) for v in ctx.patient.visits
                  if (o := v.value(code)) is not None and o.number is not None]
        in_run = False
        last_flag: tuple[date, float] | None = None
        for i, (day, value) in enumerate(values):
            window_start = add_months(day, -months)
            best: tuple[date, float] | None = None
            j = i - 1
            while j >= 0 and values[j][0] >= window_start:  # PFTs are yearly: the window holds few values
                if best is None or values[j][1] > best[1]:
                    best = values[j]
                j -= 1
            prev = values[i - 1] if i > 0 else None
            declined = best is not None and best[1] - value >= threshold - 1e-9
            crossed = floor > 0 and prev is not None and value < floor <= prev[1]
            after_gap = prev is not None and prev[0] < window_start and prev[1] - value >= threshold - 1e-9
            further = last_flag is not None and last_flag[1] - value >= threshold - 1e-9
            condition = declined or crossed
            if (condition and not in_run) or after_gap or further:
                reasons = []
                if declined:
                    reasons.append(tr("{drop} below its best {best} % of {best_date} in the previous {months} months "
                                      "(threshold {threshold} {cite})").format(
                        drop=points(best[1] - value), best=shown_number(best[1]), best_date=local_format.day(best[0]),
                        months=months, threshold=points(threshold), cite=ctx.p.cite("pft_decline_points")))
                if after_gap:
                    reasons.append(tr("{drop} below the last value {prev} % of {prev_date}, measured more than {months} months "
                                      "earlier (threshold {threshold} {cite})").format(
                        drop=points(prev[1] - value), prev=shown_number(prev[1]), prev_date=local_format.day(prev[0]),
                        months=months, threshold=points(threshold), cite=ctx.p.cite("pft_decline_points")))
                if further:
                    reasons.append(tr("{drop} below {prev} % of {prev_date}, the value of the previous decline flag").format(
                        drop=points(last_flag[1] - value), prev=shown_number(last_flag[1]), prev_date=local_format.day(last_flag[0])))
                if crossed:
                    reasons.append(tr("below the floor {floor} % ({cite}; previous {prev} % on {prev_date})").format(
                        floor=shown_number(floor), cite=ctx.p.cite(floor_key), prev=shown_number(prev[1]),
                        prev_date=local_format.day(prev[0])))
                ctx.add(
                    FlagKind.PFT_DECLINE, code, day, Severity.WARNING,
                    tr("{name} {value} % predicted on {date} is {reasons}").format(
                        name=MEASURES[code].label, value=shown_number(value), date=local_format.day(day),
                        reasons=and_list(reasons)),
                    {"value": value, "date": day.isoformat(), "best": best[1] if best else None,
                     "best_date": _iso(best[0]) if best else None, "window_months": months,
                     "decline_points": threshold, "floor": floor, "declined": declined, "crossed_floor": crossed,
                     "after_gap": after_gap, "previous": prev[1] if prev else None,
                     "previous_date": _iso(prev[0]) if prev else None, "further_fall": further,
                     "previous_flag_value": last_flag[1] if last_flag else None,
                     "previous_flag_date": _iso(last_flag[0]) if last_flag else None},
                )
                last_flag = (day, value)
            in_run = condition or after_gap


# ---------------------------------------------------------------------------------------------
# Echo: PASP and LVEF
# ---------------------------------------------------------------------------------------------


def _echo(ctx: _Ctx) -> None:
    """echo_abnormal (INTERFACES 3, added 2026-12): PASP at or above the pulmonary-hypertension
    threshold [LI13], or risen by the configured step since the previous echo's PASP, or LVEF
    below its floor. Raised at the first echo of each run of high PASP or of low LVEF (a patient
    whose PH persists is not re-flagged at every echo) and at every step rise. An echo exam
    without PASP or LVEF is not read here: its result is the schedule's business."""
    p = ctx.p
    high, step, floor = p.pasp_pulmonary_hypertension, p.pasp_rise_step, p.lvef_floor_pct
    prev_pasp: tuple[date, float] | None = None
    in_high = in_low = False
    for visit in ctx.patient.visits:
        pasp, lvef = visit.value("pasp"), visit.value("lvef")
        pasp_v = float(pasp.number) if pasp is not None and pasp.number is not None else None
        lvef_v = float(lvef.number) if lvef is not None and lvef.number is not None else None
        if pasp_v is None and lvef_v is None:
            continue
        reasons: list[str] = []
        parts: list[str] = []
        if pasp_v is not None:
            is_high = pasp_v >= high - 1e-9
            if is_high and not in_high:
                reasons.append("pasp_high")
                parts.append(tr("PASP {value} mmHg is at or above {limit} mmHg (pulmonary hypertension threshold {cite})").format(
                    value=shown_number(pasp_v), limit=shown_number(high), cite=p.cite("pasp_pulmonary_hypertension")))
            in_high = is_high
            if prev_pasp is not None and pasp_v - prev_pasp[1] >= step - 1e-9:
                reasons.append("pasp_rise")
                parts.append(tr("PASP rose {diff} mmHg since the previous echo ({prev} mmHg on {prev_date}; step {step} mmHg {cite})").format(
                    diff=shown_number(pasp_v - prev_pasp[1]), prev=shown_number(prev_pasp[1]), prev_date=local_format.day(prev_pasp[0]),
                    step=shown_number(step), cite=p.cite("pasp_rise_step")))
        if lvef_v is not None:
            is_low = lvef_v < floor - 1e-9
            if is_low and not in_low:
                reasons.append("lvef_low")
                parts.append(tr("LVEF {value} % is below {floor} % ({cite})").format(
                    value=shown_number(lvef_v), floor=shown_number(floor), cite=p.cite("lvef_floor_pct").strip("()")))
            in_low = is_low
        if reasons:
            ctx.add(
                FlagKind.ECHO_ABNORMAL, "echo", visit.date, Severity.WARNING,
                tr("Echo on {date}: {parts}").format(date=local_format.day(visit.date), parts="; ".join(parts)),
                {"date": visit.date.isoformat(), "reasons": reasons, "pasp": pasp_v, "lvef": lvef_v,
                 "previous_pasp": prev_pasp[1] if prev_pasp else None,
                 "previous_pasp_date": _iso(prev_pasp[0]) if prev_pasp else None,
                 "pasp_threshold": high, "pasp_rise_step": step, "lvef_floor": floor},
            )
        if pasp_v is not None:
            prev_pasp = (visit.date, pasp_v)


# ---------------------------------------------------------------------------------------------
# Neuropathy scores
# ---------------------------------------------------------------------------------------------


def _scores(ctx: _Ctx, scale: str) -> list[tuple[date, float]]:
    out = []
    for visit in ctx.patient.visits:
        obs = visit.value(scale)
        if obs is not None and obs.number is not None:
            out.append((visit.date, float(obs.number)))
        elif scale == "onls":  # ONLS total = arm + leg when only the parts were entered
            arm, leg = visit.value("onls_arm"), visit.value("onls_leg")
            if arm is not None and leg is not None and arm.number is not None and leg.number is not None:
                out.append((visit.date, float(arm.number + leg.number)))
    return out


def _neuropathy(ctx: _Ctx) -> None:
    worse_pts, better_pts = ctx.p.neuropathy_worse_points, ctx.p.neuropathy_improved_points
    risky = [t for t in ctx.patient.treatments if REGIMENS.get(t.regimen) and REGIMENS[t.regimen].neuropathy_risk]
    for scale in NEUROPATHY_SCALES:
        values = _scores(ctx, scale)
        dates = [d for d, _ in values]
        name = MEASURES[scale].label
        anchor: object = object()
        in_run = False
        for i, (day, value) in enumerate(values):
            if i > 0 and value - values[i - 1][1] >= worse_pts - 1e-9:
                prev_day, prev = values[i - 1]
                on = [t for t in risky if active_on(t, day)]
                facts = dict(name=name, value=shown_number(value), date=local_format.day(day), diff=points(value - prev),
                             prev=shown_number(prev), prev_date=local_format.day(prev_day))
                if on:  # one whole sentence each: a clause appended in English order reads wrong translated
                    message = tr("{name} {value} on {date} is {diff} worse than the previous score {prev} of "
                                 "{prev_date} while on {regimens} (can worsen neuropathy [DISP23])").format(
                        regimens=", ".join(regimen_label(t) for t in on), **facts)
                else:
                    message = tr("{name} {value} on {date} is {diff} worse than the previous score {prev} of "
                                 "{prev_date}").format(**facts)
                ctx.add(FlagKind.NEUROPATHY_WORSE, scale, day, Severity.WARNING, message,
                        {"score": value, "date": day.isoformat(), "previous": prev, "previous_date": prev_day.isoformat(),
                         "threshold_points": worse_pts, "neurotoxic_regimens": [t.regimen for t in on]})
            # Baseline: the last score on or before the start of the most recent line before this
            # score; without such a line, the first score of the series.
            line = ctx.lines.before(day)
            if line is not anchor:
                anchor, in_run = line, False
            k = bisect_right(dates, line.start) - 1 if line is not None else 0
            if k < 0:
                k = 0
            if k >= i:
                continue
            base_day, base = values[k]
            improved = base - value >= better_pts - 1e-9
            if improved and not in_run:
                ctx.add(
                    FlagKind.NEUROPATHY_IMPROVED, scale, day, Severity.INFO,
                    tr("{name} {value} on {date} is {diff} better than the baseline {base} of {base_date} {since}").format(
                        name=name, value=shown_number(value), date=local_format.day(day), diff=points(base - value),
                        base=shown_number(base), base_date=local_format.day(base_day), since=_since_text(line)),
                    {"score": value, "date": day.isoformat(), "baseline": base, "baseline_date": base_day.isoformat(),
                     "line_regimen": line.regimen if line else None, "threshold_points": better_pts},
                )
            in_run = improved


# ---------------------------------------------------------------------------------------------
# Thrombosis watch: IMiD without prophylaxis, thrombotic events
# ---------------------------------------------------------------------------------------------


def _thrombosis(ctx: _Ctx) -> None:
    for t in ctx.patient.treatments:
        regimen = REGIMENS.get(t.regimen)
        if regimen is None or "imid" not in regimen.drug_classes:
            continue
        if t.thromboprophylaxis in _UNDOCUMENTED_PROPHYLAXIS:
            recorded = thromboprophylaxis_label(t.thromboprophylaxis)
            ctx.add(
                FlagKind.THROMBOSIS_WATCH, t.regimen, t.start, Severity.CRITICAL,
                tr("{regimen} (an IMiD) started {start} without thromboprophylaxis (recorded: {recorded}); "
                   "IMiDs need VTE prophylaxis [PALUMBO08][MELLORS21]").format(
                    regimen=regimen_label(t, mid_sentence=False), start=local_format.day(t.start), recorded=recorded.lower()),
                {"regimen": t.regimen, "start": t.start.isoformat(), "stop": _iso(t.stop),
                 "thromboprophylaxis": t.thromboprophylaxis},
                rule="thrombosis_watch_imid",
            )
    for e in ctx.patient.events:
        etype = EVENT_TYPES.get(e.type)
        if etype is None or not etype.thrombotic:
            continue
        on = [t for t in ctx.patient.treatments if active_on(t, e.date)]
        therapy = ", ".join(
            tr("{regimen} (prophylaxis: {p})").format(
                regimen=regimen_label(t), p=thromboprophylaxis_label(t.thromboprophylaxis).lower())
            for t in on) or tr("no treatment active")
        ctx.add(
            FlagKind.THROMBOSIS_WATCH, e.type, e.date, Severity.CRITICAL,
            tr("{event} on {date} ({therapy}): review anticoagulation and prophylaxis; thrombosis recurs in about "
               "one in five [MELLORS21][SAYAR20]").format(event=etype.label, date=local_format.day(e.date), therapy=therapy),
            {"event": e.type, "date": e.date.isoformat(), "note": e.note,
             "active_treatments": [{"regimen": t.regimen, "thromboprophylaxis": t.thromboprophylaxis} for t in on]},
            rule="thrombosis_watch_event",
        )


# ---------------------------------------------------------------------------------------------
# Relapse suspected (and the dated triggers the follow-up schedule restages from)
# ---------------------------------------------------------------------------------------------

_RELAPSE_EVENTS = ("relapse", "progression")
_CRITERIA_CLASSES = (CriterionClass.MANDATORY, CriterionClass.MAJOR, CriterionClass.MINOR)


@dataclass(frozen=True)
class RelapseTrigger:
    """One reason to suspect a relapse, with its date (restaging is due from it)."""

    date: date
    kind: str  # "event" | "vegf_rise" | "new_feature" | "feature_recurred"
    code: str  # the event type, VEGF measure or feature code
    description: str  # a clause naming the values and dates
    after_response: datetime.date | None  # the response it follows (None for a recorded relapse/progression)
    response_kind: str | None = None  # "vegf_response" | "neuropathy_improved"
    response_code: str | None = None

    def to_json(self) -> dict:
        return {"date": self.date.isoformat(), "kind": self.kind, "code": self.code, "description": self.description,
                "after_response": _iso(self.after_response)}


def _in_sentence(name: str) -> str:
    """'Ascites' -> 'ascites' inside a sentence; acronyms ('VEGF elevation') stay as they are."""
    return name[0].lower() + name[1:] if len(name) > 1 and name[0].isupper() and name[1].islower() else name


def _is_criteria_feature(code: str) -> bool:
    feature = FEATURES.get(code)
    return (feature is not None and feature.counts_alone and feature.criterion in CRITERIA
            and CRITERIA[feature.criterion].klass in _CRITERIA_CLASSES)


_TRIGGER_KINDS = frozenset({FlagKind.VEGF_RISE, FlagKind.NEW_FEATURE, FlagKind.FEATURE_RECURRED})


def _collect_relapse_triggers(ctx: _Ctx) -> tuple[RelapseTrigger, ...]:
    """From the flags already in `ctx`: a recorded relapse or progression; or, after a response to
    a line (a VEGF response, or a neuropathy improvement from a line's baseline), a VEGF rise or a
    criteria feature that is new or present again. A feature that never counts for the criteria
    (diabetes, cherry angioma, diarrhoea...) is no trigger."""
    responses = sorted(
        (f for f in ctx.out.values()
         if f.kind is FlagKind.VEGF_RESPONSE
         or (f.kind is FlagKind.NEUROPATHY_IMPROVED and f.evidence.get("line_regimen"))),
        key=lambda f: f.date)
    out: list[RelapseTrigger] = []
    for e in ctx.patient.events:
        if e.type in _RELAPSE_EVENTS:
            text = tr("{event} recorded").format(event=_in_sentence(EVENT_TYPES[e.type].label))
            out.append(RelapseTrigger(e.date, "event", e.type, f"{text} ({e.note})" if e.note else text, None))
    # Only a flag that follows a response can be a trigger: the others are neither sorted nor worded.
    candidates = [f for f in ctx.out.values() if f.kind in _TRIGGER_KINDS and responses and responses[0].date < f.date]
    for f in sorted(candidates, key=lambda f: (f.date, f.kind.value, f.code)):
        if f.kind is not FlagKind.VEGF_RISE and not _is_criteria_feature(f.code):
            continue  # a new or recurring feature that never counts for the criteria
        r = [r for r in responses if r.date < f.date][-1]  # the response it follows
        if f.kind is FlagKind.VEGF_RISE:
            text = tr("{name} rose to {value} {unit} ({nadir} {unit} at its nadir of {nadir_date})").format(
                name=MEASURES[f.code].label, value=_num(ctx, f.code, f.evidence["value"]), unit=_unit(ctx, f.code),
                nadir=_num(ctx, f.code, f.evidence["nadir"]), nadir_date=local_format.day(date.fromisoformat(f.evidence["nadir_date"])))
        elif f.kind is FlagKind.NEW_FEATURE:
            text = tr("{name} is new").format(name=_in_sentence(display_name(f.code)))
        else:
            text = tr("{name} is present again (documented absent on {absent})").format(
                name=_in_sentence(display_name(f.code)), absent=local_format.day(date.fromisoformat(f.evidence["last_absent"])))
        out.append(RelapseTrigger(f.date, f.kind.value, f.code, text, r.date, r.kind.value, r.code))
    return tuple(sorted(out, key=lambda t: (t.date, t.kind != "event", t.kind, t.code)))


def _relapse_flags(ctx: _Ctx) -> None:
    by_date: dict[date, list[RelapseTrigger]] = {}
    for t in _collect_relapse_triggers(ctx):
        by_date.setdefault(t.date, []).append(t)
    kind_names = {"vegf_response": FLAG_KIND_NAMES["vegf_response"], "neuropathy_improved": tr("neuropathy improved")}
    for day, triggers in by_date.items():
        responded = [t for t in triggers if t.after_response is not None]
        message = tr("Relapse suspected on {date}: {triggers}").format(
            date=local_format.day(day), triggers="; ".join(t.description for t in triggers))
        after = None
        if responded:
            r = responded[0]
            after = {"kind": r.response_kind, "code": r.response_code, "date": r.after_response.isoformat()}
            message += tr("; after a response on {date} ({kind}, {name})").format(
                date=local_format.day(r.after_response), kind=kind_names.get(r.response_kind, r.response_kind),
                name=display_name(r.response_code))
        message += tr(". Restaging is due from {date}").format(date=local_format.day(day))
        ctx.add(FlagKind.RELAPSE_SUSPECTED, "relapse", day, Severity.WARNING, message,
                {"date": day.isoformat(), "triggers": [t.to_json() for t in triggers], "after_response": after})


def _history_of(record: PatientRecord, protocol: Protocol, history: tuple[VisitFeatures, ...] | None,
                ) -> tuple[VisitFeatures, ...]:
    """`history` when the caller computed it already (`feature_history` of `record`, the record
    clipped to as-of: it is checked to be of the same visits), else computed here."""
    if history is None:
        return feature_history(record, protocol)
    visits = record.visits
    if len(history) != len(visits) or any(h.date != v.date for h, v in zip(history, visits)):
        raise ValueError("the feature history passed is not that of the record clipped to as-of")
    return history


def _relapse_context(patient: PatientRecord, protocol: Protocol, as_of: date,
                     history: tuple[VisitFeatures, ...] | None = None) -> _Ctx:
    record = clip(patient, as_of)
    ctx = _Ctx(record, protocol, _history_of(record, protocol, history))
    _feature_flags(ctx)
    for code, values in _vegf_series(ctx).items():
        _vegf_rise(ctx, code, values)
        _vegf_response(ctx, code, values)
    _neuropathy(ctx)
    return ctx


def relapse_triggers(patient: PatientRecord, protocol: Protocol, as_of: date, *,
                     history: tuple[VisitFeatures, ...] | None = None) -> tuple[RelapseTrigger, ...]:
    """The dated reasons to suspect a relapse as of `as_of` (same inputs as `compute_flags`),
    oldest first: the `relapse_suspected` flags group them by date, and the follow-up schedule
    puts `restaging` due from them (INTERFACES 4, added 2026-12). `history`: as for `compute_flags`."""
    return _collect_relapse_triggers(_relapse_context(patient, protocol, as_of, history))


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------

_KIND_ORDER = {k: i for i, k in enumerate(FlagKind)}


def compute_flags(patient: PatientRecord, protocol: Protocol, as_of: date, *,
                  history: tuple[VisitFeatures, ...] | None = None) -> tuple[Flag, ...]:
    """Every flag of one patient as of `as_of`, sorted by date, kind and code. `history`: the
    `feature_history` of the record clipped to `as_of` when the caller has it already (the
    dashboard reads it too: one evaluation computes it once); a history of other visits raises
    ValueError."""
    record = clip(patient, as_of)
    ctx = _Ctx(record, protocol, _history_of(record, protocol, history))
    _feature_flags(ctx)
    _criteria_flag(ctx)
    _run_flags(ctx)
    for code, values in _vegf_series(ctx).items():
        _vegf_rise(ctx, code, values)
        _vegf_response(ctx, code, values)
    _specimen_change(ctx)
    _pft_decline(ctx)
    _echo(ctx)
    _neuropathy(ctx)
    _thrombosis(ctx)
    # Safety rules live in their own module (it imports this one, hence the late import).
    from poems_monitor.domain.safety_flags import safety_flags

    for flag in safety_flags(record, protocol, ctx.history):
        ctx.out.setdefault(flag.flag_id, flag)
    _relapse_flags(ctx)  # reads the flags above: keep it last
    return tuple(sorted(ctx.out.values(), key=lambda f: (f.date, _KIND_ORDER[f.kind], f.code)))
