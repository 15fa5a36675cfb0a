"""Safety flags (INTERFACES.md section 3, amended 2026-12): the rules that watch the treatment
rather than the disease.

Owns:
- `thrombosis_watch` for an IMiD on aspirin alone while more thrombosis risk factors are present
  than the protocol allows (IMWG [PALUMBO08], POEMS additions [MELLORS21]); the flag lists the
  factors it found and the ones the record cannot show;
- `bleeding_risk`: anticoagulant thromboprophylaxis while platelets are below the protocol limit;
- `cytopenia`: platelets, haemoglobin or neutrophils below the protocol limits (CTCAE v5.0 grade 2
  by default), naming alkylator exposure (cumulative melphalan) and ASCT;
- `critical_value`: a value beyond its measure's critical limits that no one confirmed at entry
  (it came by timeline import or lab file);
- `cumulative_melphalan`, which the patient header and the printed summary also show.

Design choices a reviewer should know:
- A risk factor is taken only from what the record shows, at the latest visit that documents it
  on or before the day judged; a factor the record cannot show is listed as not evaluable, never
  assumed (high-dose dexamethasone needs a dose, which the record does not hold).
- A previous venous thromboembolism (DVT or PE) counts for life: "a patient with a previous VTE
  stays at risk".
- Run-type flags (bleeding risk, cytopenia) fire at the first value of each run, like the other
  run flags; a visit without that value neither starts nor ends a run.

Called by `flags.compute_flags` on the record clipped to as-of. Pure: no Qt, no SQL, no clock.
"""

from __future__ import annotations

import math

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from poems_monitor.domain.catalogue import EVENT_TYPES, MEASURES, REGIMENS, display_name, thromboprophylaxis_label, value_label
from poems_monitor.domain.display_units import DisplayUnits
from poems_monitor.domain.course import active_on, end_of, regimen_label, shown_number
from poems_monitor.domain.derived import ABSENT, PRESENT, DerivedFeature, VisitFeatures, Why, written
from poems_monitor.domain.flags import Flag, FlagKind, Severity
from poems_monitor.domain.protocol import Protocol
from poems_monitor.domain.timeline import ObservationRecord, PatientRecord
from poems_monitor import local_format
from poems_monitor.i18n import N_, ntr, tr

ANTICOAGULANTS = frozenset({"lmwh", "doac", "warfarin"})
VENOUS_THROMBOEMBOLISM = ("dvt", "pe")
CARDIAC_EVENTS = ("myocardial_infarction",)
MELPHALAN_REGIMENS = frozenset({"melphalan_dexamethasone", "asct"})

# NCI CTCAE v5.0 grade limits (REFERENCE.md section 7 [CTCAE5]): value below the limit -> grade.
CTCAE_GRADES: dict[str, tuple[tuple[float, int], ...]] = {
    "platelets": ((75, 2), (50, 3), (25, 4)),
    "hemoglobin": ((10.0, 2), (8.0, 3)),
    "neutrophils": ((1.5, 2), (1.0, 3), (0.5, 4)),
}
_CYTOPENIA_LIMIT_KEYS = (
    ("platelets", "cytopenia_platelets_low"),
    ("hemoglobin", "cytopenia_hemoglobin_low"),
    ("neutrophils", "cytopenia_neutrophils_low"),
)
# IMWG factors the record cannot show (REFERENCE.md section 7): named so that silence about them
# is never read as "absent".
_NOT_EVALUABLE = (
    N_("obesity (BMI not recorded)"), N_("central venous catheter or pacemaker"), N_("erythropoietin"),
    N_("inherited thrombophilia"), N_("recent surgery or trauma"), N_("acute infection"),
    N_("high-dose dexamethasone (dose not recorded)"), N_("doxorubicin or multi-agent chemotherapy"),
)


def _flag(patient: PatientRecord, kind: FlagKind, code: str, day: date, severity: Severity, message: str,
          evidence: dict, rule: str) -> Flag:
    return Flag(patient.mrn, kind, code, day, severity, message, rule, evidence)


def _lower_first(name: str) -> str:
    return name[0].lower() + name[1:] if len(name) > 1 and name[1].islower() else name


def _below(obs: ObservationRecord, limit: float) -> bool | None:
    """Is the true value below `limit`? None when a censored result cannot tell."""
    number = obs.number
    if number is None:
        return None
    if obs.qualifier == "<":  # true value < number
        return True if number <= limit else None
    if obs.qualifier == ">":  # true value > number
        return False if number >= limit else None
    return number < limit


def _above(obs: ObservationRecord, limit: float) -> bool | None:
    number = obs.number
    if number is None:
        return None
    if obs.qualifier == ">":
        return True if number >= limit else None
    if obs.qualifier == "<":
        return False if number <= limit else None
    return number > limit


def _shown(obs: ObservationRecord, units: DisplayUnits) -> str:
    """The value as a flag text quotes it, in the clinic's unit (the rule compared the canonical one)."""
    m = MEASURES[obs.code]
    if obs.number is None:  # a word for a categorical value
        return f"{m.label} {obs.qualifier or ''}{value_label(str(obs.value))} {m.unit_label}"
    return f"{m.label} {obs.qualifier or ''}{local_format.decimal_text(units.quote(obs.code, obs.number))} {units.label(obs.code)}"


# ---------------------------------------------------------------------------------------------
# Cumulative melphalan (also read by the patient header and the printed summary)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MelphalanExposure:
    total_mg: float  # sum of the recorded doses
    dosed: tuple[tuple[str, date, float], ...]  # (regimen name, start, mg) of lines with a dose
    undosed: tuple[tuple[str, date], ...]  # melphalan lines whose dose is not recorded

    @property
    def any(self) -> bool:
        return bool(self.dosed or self.undosed)

    def text(self) -> str:
        """'1260 mg (MDex 2018-01-01: 900 mg; ASCT 2019-06-01: 360 mg)' and what is missing."""
        if not self.any:
            return tr("none recorded")
        parts = [tr("{regimen} {start}: {mg} mg").format(regimen=r, start=local_format.day(s), mg=shown_number(mg))
                 for r, s, mg in self.dosed]
        parts += [tr("{regimen} {start}: dose not recorded").format(regimen=r, start=local_format.day(s))
                  for r, s in self.undosed]
        total = shown_number(self.total_mg)
        if not self.dosed:
            head = tr("dose not recorded")
        else:
            head = (tr("at least {total} mg") if self.undosed else tr("{total} mg")).format(total=total)
        return f"{head} ({'; '.join(parts)})"


# What the printed summary and the header say beside the cumulative dose: the only figure the
# clinical reference has is from AL amyloidosis, and it must say so.
MDS_CAUTION = tr(
    "Alkylators raise the risk of therapy-related MDS/AML: in AL amyloidosis (not POEMS), survivors at 3.5 years "
    "had an actuarial risk of 21 % after a median of 1764 mg melphalan [KYLE90]; no POEMS figure is known. "
    "New cytopenias after alkylators or ASCT raise the question of MDS.")


def cumulative_melphalan(patient: PatientRecord, as_of: date | None = None) -> MelphalanExposure:
    """Melphalan recorded on the patient's treatments started on or before `as_of` (all when None)."""
    dosed, undosed, total = [], [], 0.0
    for t in patient.treatments:
        if as_of is not None and t.start > as_of:
            continue
        name = regimen_label(t, mid_sentence=False)
        if t.melphalan_mg is not None and t.melphalan_mg > 0:
            dosed.append((name, t.start, float(t.melphalan_mg)))
            total += float(t.melphalan_mg)
        elif t.regimen in MELPHALAN_REGIMENS:
            undosed.append((name, t.start))
    return MelphalanExposure(total, tuple(dosed), tuple(undosed))


# ---------------------------------------------------------------------------------------------
# Thrombosis risk factors and the adequacy of aspirin alone
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RiskFactor:
    code: str
    why: Why  # the text, or a function writing it on first access (read `text`; see `derived.Why`)
    date: date  # when the record showed it

    @property
    def text(self) -> str:
        """The factor as the aspirin-adequacy flag quotes it (a high count's is written only
        when a flag quotes it: most visits' never are)."""
        return written(self)

    def _key(self) -> tuple:
        return (self.code, self.text, self.date)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, RiskFactor) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())


def _high_count(code: str, derived: DerivedFeature | None) -> Callable[[], str]:
    return lambda: tr("{name} ({why}) [MELLORS21]").format(
        name=_lower_first(display_name(code)),
        why=derived.explanation if derived is not None and derived.explanation else tr("entered as present"))


# The texts of the factors a visit documents, written only when a flag quotes them (as `_high_count`):
# the record documents them at most visits, a flag quotes them on few days.
def _immobility(hits: list[tuple[float, float, str]], p: Protocol, day: date) -> Callable[[], str]:
    return lambda: tr("immobility ({what} on {date})").format(what=", ".join(
        f"{MEASURES[c].label} {shown_number(number)} ≥ {limit} {p.cite('immobility_' + c)}" for number, limit, c in hits),
        date=local_format.day(day))


def _documented(code: str, day: date) -> Callable[[], str]:
    return lambda: tr("{name} (documented {date})").format(
        name=tr("diabetes") if code == "diabetes" else tr("cardiac disease: cardiomyopathy"), date=local_format.day(day))


def _kidney(egfr: float, p: Protocol, day: date) -> Callable[[], str]:
    return lambda: tr("chronic kidney disease (eGFR {value} below {limit} on {date} {cite})").format(
        value=shown_number(egfr), limit=shown_number(p.kidney_disease_egfr), date=local_format.day(day),
        cite=p.cite("kidney_disease_egfr"))


class _Documented:
    """Per factor, the dates at which the record documents it present or absent, in order, so that
    the state "on or before a day" is one bisection."""

    def __init__(self, patient: PatientRecord, p: Protocol, history: tuple[VisitFeatures, ...]):
        self.series: dict[str, list[tuple[date, RiskFactor | None]]] = {}
        for visit, vf in zip(patient.visits, history):
            for code in ("thrombocytosis", "polycythemia"):
                # A thrombosis risk is judged on the count itself: the confirmation that the
                # diagnostic criteria ask for (a second count) does not make one high count safe.
                derived = vf.derived_feature(code)
                state = vf.state(code)
                if derived is not None and derived.measured_above is not None:
                    state = PRESENT if derived.measured_above else ABSENT
                if state in (PRESENT, ABSENT):
                    self._add(code, visit.date,
                              RiskFactor(code, _high_count(code, derived), visit.date) if state == PRESENT else None)
            immobile: list[tuple[float, bool, float, str]] = []
            for code, limit in (("onls_leg", p.immobility_onls_leg), ("mrs", p.immobility_mrs)):
                o = visit.value(code)
                if o is not None and o.number is not None:
                    immobile.append((o.number, o.number >= limit, limit, code))
            hits = [(number, limit, c) for number, hit, limit, c in immobile if hit]
            if immobile:
                self._add("immobility", visit.date,
                          RiskFactor("immobility", _immobility(hits, p, visit.date), visit.date) if hits else None)
            for code, feature in (("diabetes", "diabetes"), ("cardiac_disease", "cardiomyopathy")):
                state = vf.state(feature)
                if state in (PRESENT, ABSENT):
                    self._add(code, visit.date,
                              RiskFactor(code, _documented(code, visit.date), visit.date) if state == PRESENT else None)
            egfr = visit.value("egfr")
            if p.kidney_disease_egfr > 0 and egfr is not None and egfr.number is not None:
                low = _below(egfr, p.kidney_disease_egfr)
                if low is not None:
                    self._add("kidney_disease", visit.date, RiskFactor(
                        "kidney_disease", _kidney(egfr.number, p, visit.date), visit.date) if low else None)
        self.dates = {code: [d for d, _ in values] for code, values in self.series.items()}

    def _add(self, code: str, day: date, factor: RiskFactor | None) -> None:
        self.series.setdefault(code, []).append((day, factor))

    def on(self, code: str, day: date) -> RiskFactor | None:
        i = bisect_right(self.dates.get(code, []), day) - 1
        return self.series[code][i][1] if i >= 0 else None


_FACTOR_ORDER = ("previous_vte", "thrombocytosis", "polycythemia", "immobility", "kidney_disease", "diabetes",
                 "cardiac_disease")


def thrombosis_risk_factors(patient: PatientRecord, protocol: Protocol, history: tuple[VisitFeatures, ...],
                            day: date, documented: _Documented | None = None) -> tuple[RiskFactor, ...]:
    """The IMWG/POEMS thrombosis risk factors the record shows on `day` (REFERENCE.md section 7)."""
    documented = documented or _Documented(patient, protocol, history)
    found: dict[str, RiskFactor] = {}
    vte = [e for e in patient.events if e.type in VENOUS_THROMBOEMBOLISM and e.date <= day]
    if vte:
        found["previous_vte"] = RiskFactor("previous_vte", tr("previous venous thromboembolism ({events})").format(
            events=", ".join(f"{_lower_first(EVENT_TYPES[e.type].label)} {local_format.day(e.date)}" for e in vte)), vte[-1].date)
    for code in ("thrombocytosis", "polycythemia", "immobility", "kidney_disease", "diabetes", "cardiac_disease"):
        factor = documented.on(code, day)
        if factor is not None:
            found[code] = factor
    mi = [e for e in patient.events if e.type in CARDIAC_EVENTS and e.date <= day]
    if mi and "cardiac_disease" not in found:
        found["cardiac_disease"] = RiskFactor("cardiac_disease", tr("cardiac disease: {event} {date}").format(
            event=_lower_first(EVENT_TYPES[mi[-1].type].label), date=local_format.day(mi[-1].date)), mi[-1].date)
    return tuple(found[c] for c in _FACTOR_ORDER if c in found)


def _aspirin_adequacy(patient: PatientRecord, p: Protocol, history: tuple[VisitFeatures, ...]) -> list[Flag]:
    out: list[Flag] = []
    documented: _Documented | None = None
    for t in patient.treatments:
        regimen = REGIMENS.get(t.regimen)
        if regimen is None or "imid" not in regimen.drug_classes or t.thromboprophylaxis != "aspirin":
            continue
        documented = documented or _Documented(patient, p, history)
        end = end_of(t)
        within = lambda day: t.start < day and (end is None or day <= end)  # noqa: E731, B023 (used in this iteration only)
        days = sorted({t.start} | {v.date for v in patient.visits if within(v.date)}
                      | {e.date for e in patient.events if e.type in VENOUS_THROMBOEMBOLISM and within(e.date)})
        for day in days:
            factors = thrombosis_risk_factors(patient, p, history, day, documented)
            if len(factors) <= p.aspirin_max_risk_factors:
                continue
            out.append(_flag(
                patient, FlagKind.THROMBOSIS_WATCH, t.regimen, day, Severity.WARNING,
                ntr("{regimen} (an IMiD) with aspirin alone since {start}: {n} thrombosis risk factors on {date}: "
                    "{factors}. IMWG advises aspirin only for at most {max} factor, otherwise LMWH or full-dose "
                    "warfarin {cite}[MELLORS21]. Not shown by the record: {unknown}",
                    "{regimen} (an IMiD) with aspirin alone since {start}: {n} thrombosis risk factors on {date}: "
                    "{factors}. IMWG advises aspirin only for at most {max} factors, otherwise LMWH or full-dose "
                    "warfarin {cite}[MELLORS21]. Not shown by the record: {unknown}", p.aspirin_max_risk_factors).format(
                    regimen=regimen_label(t, mid_sentence=False), start=local_format.day(t.start), n=len(factors),
                    date=local_format.day(day), factors="; ".join(f.text for f in factors), max=p.aspirin_max_risk_factors,
                    cite=p.cite("aspirin_max_risk_factors"), unknown=", ".join(tr(x) for x in _NOT_EVALUABLE)),
                {"regimen": t.regimen, "start": t.start.isoformat(), "stop": t.stop.isoformat() if t.stop else None,
                 "thromboprophylaxis": "aspirin", "date": day.isoformat(),
                 "risk_factors": [f.code for f in factors],
                 "factors": [{"code": f.code, "text": f.text, "date": f.date.isoformat()} for f in factors],
                 "aspirin_max_risk_factors": p.aspirin_max_risk_factors, "not_evaluable": list(_NOT_EVALUABLE)},
                "thrombosis_watch_aspirin_risk",
            ))
            break  # one watch per line: the physician reviews the prophylaxis once
    return out


# ---------------------------------------------------------------------------------------------
# Bleeding risk, cytopenia
# ---------------------------------------------------------------------------------------------


def _bleeding_risk(patient: PatientRecord, p: Protocol) -> list[Flag]:
    anticoagulated = [t for t in patient.treatments if t.thromboprophylaxis in ANTICOAGULANTS]
    if not anticoagulated:
        return []
    limit = p.anticoagulation_platelets_low
    out: list[Flag] = []
    in_run = False
    for visit in patient.visits:
        o = visit.value("platelets")
        if o is None or o.number is None:
            continue
        on = [t for t in anticoagulated if active_on(t, visit.date)]
        condition = bool(on) and _below(o, limit) is True
        if condition and not in_run:
            drugs = ", ".join(tr("{drug} with {regimen} since {start}").format(
                drug=thromboprophylaxis_label(t.thromboprophylaxis), regimen=regimen_label(t),
                start=local_format.day(t.start)) for t in on)
            out.append(_flag(
                patient, FlagKind.BLEEDING_RISK, "platelets", visit.date, Severity.CRITICAL,
                tr("{shown} on {date} while on anticoagulant thromboprophylaxis ({drugs}): below {limit} {unit} {cite}; "
                   "prophylactic anticoagulation is usually reduced or held at such counts (REFERENCE 7): review it").format(
                    shown=_shown(o, p.units), date=local_format.day(visit.date), drugs=drugs,
                    limit=local_format.decimal_text(p.units.quote("platelets", limit)), unit=p.units.label("platelets"),
                    cite=p.cite("anticoagulation_platelets_low")),
                {"platelets": o.number, "qualifier": o.qualifier, "date": visit.date.isoformat(), "limit": limit,
                 "anticoagulation": [{"regimen": t.regimen, "start": t.start.isoformat(),
                                      "thromboprophylaxis": t.thromboprophylaxis} for t in on]},
                "bleeding_risk",
            ))
        in_run = condition
    return out


def ctcae_grade(code: str, obs: ObservationRecord) -> int | None:
    """The CTCAE v5.0 grade (2-4) of a low count, or None above grade 2 or when censored unclear."""
    grade = None
    for limit, g in CTCAE_GRADES.get(code, ()):
        if _below(obs, limit) is True:
            grade = g
    return grade


def _exposure_text(patient: PatientRecord, day: date) -> tuple[str, dict]:
    exposure = cumulative_melphalan(patient, day)
    alkylators = [t for t in patient.treatments if t.start <= day and REGIMENS.get(t.regimen)
                  and "alkylator" in REGIMENS[t.regimen].drug_classes]
    asct = [t for t in patient.treatments if t.regimen == "asct" and t.start <= day]
    evidence = {"cumulative_melphalan_mg": exposure.total_mg if exposure.any else None,
                "melphalan_dose_missing": bool(exposure.undosed),
                "alkylators": [{"regimen": t.regimen, "start": t.start.isoformat()} for t in alkylators],
                "asct": [t.start.isoformat() for t in asct]}
    if not alkylators and not exposure.any:
        return tr("no alkylator or ASCT recorded before it; cytopenias are unusual in POEMS (REFERENCE 1, 7): "
                  "look for another cause"), evidence
    parts = []
    if exposure.any:
        parts.append(tr("cumulative melphalan {text}").format(text=exposure.text()))
    others = [t for t in alkylators if t.regimen not in MELPHALAN_REGIMENS]
    if others:
        parts.append(tr("other alkylators: {list}").format(list=", ".join(
            tr("{regimen} {start}").format(regimen=regimen_label(t), start=local_format.day(t.start)) for t in others)))
    if asct:
        parts.append(", ".join(tr("ASCT {start}").format(start=local_format.day(t.start)) for t in asct))
    return tr("after {exposure}: a new cytopenia after alkylators or ASCT raises the question of therapy-related "
              "MDS [KYLE90][KARAM15]").format(exposure="; ".join(parts)), evidence


def _cytopenia(patient: PatientRecord, p: Protocol) -> list[Flag]:
    out: list[Flag] = []
    for code, key in _CYTOPENIA_LIMIT_KEYS:
        limit = getattr(p, key)
        unit = p.units.label(code)
        in_run = False
        for visit in patient.visits:
            o = visit.value(code)
            if o is None or o.number is None:
                continue
            low = _below(o, limit)
            if low is None:
                continue  # a censored result that cannot tell neither starts nor ends a run
            if low and not in_run:
                grade = ctcae_grade(code, o)
                exposure, evidence = _exposure_text(patient, visit.date)
                graded = ""
                if grade:
                    graded = (tr(" (CTCAE grade {g})") if "CTCAE5" in p.cite(key) else tr(" (CTCAE grade {g} [CTCAE5])")
                              ).format(g=grade)
                out.append(_flag(
                    patient, FlagKind.CYTOPENIA, code, visit.date,
                    Severity.CRITICAL if grade is not None and grade >= 3 else Severity.WARNING,
                    tr("{shown} on {date} is below {limit} {unit} {cite}{graded}; {exposure}").format(
                        shown=_shown(o, p.units), date=local_format.day(visit.date), limit=local_format.decimal_text(p.units.quote(code, limit)), unit=unit,
                        cite=p.cite(key), graded=graded, exposure=exposure),
                    {"value": o.number, "qualifier": o.qualifier, "date": visit.date.isoformat(), "limit": limit,
                     "grade": grade, **evidence},
                    "cytopenia",
                ))
            in_run = low
    return out


# ---------------------------------------------------------------------------------------------
# Critical values: unconfirmed ones, and one inside an open thrombocytosis/polycythaemia run
# ---------------------------------------------------------------------------------------------


def _critical_side(obs: ObservationRecord) -> tuple[str, float] | None:
    critical = MEASURES[obs.code].critical if obs.code in MEASURES else None
    if critical is None or obs.number is None:
        return None
    if critical.high is not None and _above(obs, critical.high):
        return "above", critical.high
    if critical.low is not None and _below(obs, critical.low):
        return "below", critical.low
    return None


# The measures that have a critical limit: most values of a visit have none (checked first),
# with their limits (inf where there is none: an uncensored value within both is not critical).
_CRITICAL_LIMITS = {code: (m.critical.low if m.critical.low is not None else -math.inf,
                           m.critical.high if m.critical.high is not None else math.inf)
                    for code, m in MEASURES.items() if m.critical is not None}


def _unconfirmed_critical(patient: PatientRecord, units: DisplayUnits) -> list[Flag]:
    out: list[Flag] = []
    limits = _CRITICAL_LIMITS
    for visit in patient.visits:
        for o in visit.observations:
            within = limits.get(o.code)
            if within is None or o.derived or o.confirmed_at_entry:
                continue
            if o.qualifier is None and o.number is not None and within[0] <= o.number <= within[1]:
                continue  # the common case, decided without `_critical_side` (the same comparisons)
            side = _critical_side(o)
            if side is None:
                continue
            where, limit = side
            m = MEASURES[o.code]
            out.append(_flag(
                patient, FlagKind.CRITICAL_VALUE, o.code, visit.date, Severity.CRITICAL,
                tr("{shown} on {date} is {side} the critical limit {limit} {unit}; it came by import or lab file and "
                   "no one confirmed it at entry: check it with the laboratory and the patient").format(
                    shown=_shown(o, units), date=local_format.day(visit.date),
                    side=tr("above") if where == "above" else tr("below"), limit=local_format.decimal_text(units.quote(o.code, limit)),
                    unit=units.label(o.code)),
                {"value": o.number, "qualifier": o.qualifier, "date": visit.date.isoformat(), "side": where,
                 "critical_limit": limit, "critical_source": m.critical.source if m.critical else "",
                 "entered_value": o.entered_value, "entered_unit": o.entered_unit, "lab": o.lab,
                 "confirmed_at_entry": False},
                "critical_value",
            ))
    return out


def safety_flags(patient: PatientRecord, protocol: Protocol, history: tuple[VisitFeatures, ...]) -> list[Flag]:
    """Every safety flag of a record already clipped to as-of; `history` is its feature history."""
    return [
        *_aspirin_adequacy(patient, protocol, history),
        *_bleeding_risk(patient, protocol),
        *_cytopenia(patient, protocol),
        *_unconfirmed_critical(patient, protocol.units),
    ]
