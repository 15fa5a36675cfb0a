"""Derived features (`vegf_elevation`, `thrombocytosis`, `polycythemia`) and the feature history.

Owns how a visit's measurements become derived features with the protocol's thresholds, how
they combine with features entered from a report, and the per-visit feature states that the
criteria, the flags and the follow-up schedule all read (computed once per patient).

Rules of combination (per visit):
- measured above the threshold -> present (source "measured"); but for thrombocytosis and
  polycythaemia a clinician's "absent" at the same visit wins (source "clinician_absent");
- otherwise, entered as present (a report said so) -> present (source "entered");
- measured, not above -> absent; not measured -> the entered state (unknown when not entered).
Confirmation (INTERFACES 3, amended 2026-12): thrombocytosis and polycythaemia from counts count
for the criteria only from the protocol's `count_confirmations`-th count above the limit in a
run (a visit without a count does not end the run), or when the clinician entered "present";
before that they are "unknown" for the criteria (source "unconfirmed") and the explanation says
why. `measured_above` keeps the count's own verdict for the count flags. VEGF elevation counts
from one value, as the criteria use it.
Polycythaemia uses sex-specific limits (WHO 2016) and is not computed for sex `other`/`unknown`;
its explanation says so. An entered "present" is still respected: a clinician wrote it.

Explanations are written when read: a derived feature holds what its sentence quotes (the
values, limits and date) and writes it on first access (`DerivedFeature.explanation`), in the
language of that moment. Every visit of every patient gets derived features, but only the few
that a flag, a criterion or a screen shows need their sentence (a fifth of a clinic's rules
time went to sentences nobody read).

Pure: no Qt, no SQL, no file or clock access.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType
from typing import Mapping, Sequence, TypeAlias

from poems_monitor.domain.catalogue import MEASURES, FeatureState, Sex
from poems_monitor.domain.course import shown_number
from poems_monitor.domain.display_units import CANONICAL, DisplayUnits
from poems_monitor.domain.protocol import Protocol
from poems_monitor.domain.timeline import ObservationRecord, PatientRecord, VisitRecord, build_record, remembered
from poems_monitor import local_format
from poems_monitor.i18n import tr

DERIVED_CODES = ("vegf_elevation", "thrombocytosis", "polycythemia")

PRESENT = FeatureState.PRESENT.value
ABSENT = FeatureState.ABSENT.value
UNKNOWN = FeatureState.UNKNOWN.value


# An explanation, or how to write it (called once, on first access: see the module docstring).
Why: TypeAlias = str | Callable[[], str]


def written(holder: object) -> str:
    """`holder.why` as text: a function there is called once and its sentence kept in its place
    (on a frozen dataclass too)."""
    why = holder.why  # type: ignore[attr-defined]
    if callable(why):
        why = why()
        object.__setattr__(holder, "why", why)
    return why


def _text(why: Why) -> str:
    return why() if callable(why) else why


@dataclass(frozen=True, eq=False, repr=False)
class DerivedFeature:
    code: str
    state: FeatureState
    source: str  # "measured" | "entered" | "not_measured" | "not_computed" | "clinician_absent" | "unconfirmed"
    why: Why  # the explanation, or a function writing it (read `explanation`)
    evidence: dict = field(default_factory=dict)  # JSON-ready
    measured_above: bool | None = None  # the measurement's own verdict (None: not measured or censored)

    @property
    def explanation(self) -> str:
        """Plain sentence naming the values and thresholds (written on first access, then kept)."""
        return written(self)

    def _key(self) -> tuple:
        return (self.code, self.state, self.source, self.explanation, self.measured_above)

    def __eq__(self, other: object) -> bool:  # as before the sentences were lazy: evidence not compared
        return self._key() == other._key() if isinstance(other, DerivedFeature) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"DerivedFeature(code={self.code!r}, state={self.state!r}, source={self.source!r}, "
                f"explanation={self.explanation!r}, evidence={self.evidence!r}, measured_above={self.measured_above!r})")


@dataclass(frozen=True)
class VisitFeatures:
    """Feature states documented at one visit, entered and derived. Unknown states are omitted."""

    date: date
    states: Mapping[str, str]  # feature code -> "present" | "absent"
    derived: tuple[DerivedFeature, ...]

    def state(self, code: str) -> str:
        return self.states.get(code, UNKNOWN)

    def derived_feature(self, code: str) -> DerivedFeature | None:
        for d in self.derived:
            if d.code == code:
                return d
        return None


def _feature(code: str, state: FeatureState, source: str, why: Why, evidence: dict,
             measured_above: bool | None = None) -> DerivedFeature:
    """`DerivedFeature(...)` without the frozen dataclass's __init__ (which sets one field at a
    time through object.__setattr__): every visit of a clinic gets three (`timeline.build_record`)."""
    return build_record(DerivedFeature, {"code": code, "state": state, "source": source, "why": why,
                                         "evidence": evidence, "measured_above": measured_above})


def _above(obs: ObservationRecord, limit: float) -> bool | None:
    """Is the true value above `limit`? None when a censored result cannot tell."""
    number = obs.number
    if number is None:
        return None
    if obs.qualifier == ">":  # true value > number
        return True if number >= limit else None
    if obs.qualifier == "<":  # true value < number
        return False if number <= limit else None
    return number > limit


def _shown(obs: ObservationRecord, units: DisplayUnits = CANONICAL) -> str:
    """The value as an explanation quotes it, in the clinic's unit (protocol [units])."""
    m = MEASURES.get(obs.code)
    if m is not None and obs.number is not None:
        return f"{m.label} {obs.qualifier or ''}{local_format.decimal_text(units.quote(obs.code, obs.number))} {units.label(obs.code)}".strip()
    unit = m.unit_label if m else obs.unit
    value = shown_number(obs.number) if obs.number is not None else str(obs.value)  # a word for a categorical value
    return f"{m.label if m else obs.code} {obs.qualifier or ''}{value} {unit}".strip()


# Derived from blood counts: confirmation and the clinician's "absent" apply (INTERFACES 3, amended 2026-12).
COUNT_CODES = ("thrombocytosis", "polycythemia")


def _combine(code: str, measured: bool | None, entered: str, explanation: Why, evidence: dict) -> DerivedFeature:
    """The feature from the measurement's verdict and the entered state; `explanation` is the
    measurement's (empty when nothing was measured), written only when read."""
    if measured and entered == ABSENT and code in COUNT_CODES:
        # A reactive count the clinician judged not to be thrombocytosis/polycythaemia: their word wins.
        return _feature(code, FeatureState.ABSENT, "clinician_absent", lambda: "{text} ({explanation})".format(
            text=tr("entered as absent by the clinician at this visit, which overrides the count for the criteria"),
            explanation=_text(explanation)), evidence, True)
    if measured:
        return _feature(code, FeatureState.PRESENT, "measured", explanation, evidence, True)
    if entered == PRESENT:
        return _feature(code, FeatureState.PRESENT, "entered", _entered_present(explanation), evidence, measured)
    if measured is False:
        return _feature(code, FeatureState.ABSENT, "measured", explanation, evidence, False)
    if entered == ABSENT:
        return _feature(code, FeatureState.ABSENT, "entered", _ENTERED_ABSENT, evidence)
    return _feature(code, FeatureState.UNKNOWN, "not_measured", explanation, evidence)


def _ENTERED_ABSENT() -> str:  # noqa: N802 (a `Why`, called like the lambdas above)
    return tr("entered as absent")


def _entered_present(explanation: Why) -> Callable[[], str]:
    def write() -> str:
        text = tr("entered as present (from a report)")
        return f"{text}; {_text(explanation)}" if explanation else text
    return write


def _threshold_rule(
    visit: VisitRecord, code: str, checks: tuple[tuple[str, str], ...], protocol: Protocol, explain: bool = True
) -> tuple[bool | None, Why, dict]:
    """Apply (measure code, protocol key of its limit) checks; present if any is above. The
    comparison is canonical; the limit's source is looked up, and the explanation (written in
    the clinic's unit, protocol [units], when read) held, only when an explanation is asked for."""
    verdict: bool | None = None
    quoted: list[tuple[ObservationRecord, str, str, bool]] = []  # (value, its code, its limit's key, above)
    evidence: dict = {}
    for measure_code, key in checks:
        obs = visit.value(measure_code)
        if obs is None:
            continue
        limit = getattr(protocol, key)
        result = _above(obs, limit)
        if result is True:
            verdict = True
        elif result is False:
            verdict = verdict or False
        if not explain:  # the schedule only needs the verdict: skip the sentences
            continue
        cite = protocol.cite(key)
        evidence[measure_code] = {"value": obs.number, "qualifier": obs.qualifier, "limit": limit, "source": cite}
        if result is not None:
            quoted.append((obs, measure_code, key, result))
    if not explain or verdict is None:  # nothing above nor below a limit: no sentence
        return verdict, "", evidence
    return verdict, _threshold_sentence(tuple(q for q in quoted if q[3] is verdict), protocol, visit.date), evidence


def _threshold_sentence(quoted: tuple, protocol: Protocol, day: date) -> Callable[[], str]:
    """How to write a threshold rule's explanation: the values on the side of the verdict, each
    against its limit and the limit's source, then the date. Holds the values, never the visit."""
    def write() -> str:
        units = protocol.units
        parts = []
        for obs, measure_code, key, above in quoted:
            sentence = tr("{shown} > {limit} {unit} {cite}") if above else tr("{shown} ≤ {limit} {unit} {cite}")
            parts.append(sentence.format(shown=_shown(obs, units), limit=local_format.decimal_text(units.quote(measure_code, getattr(protocol, key))),
                                         unit=units.label(measure_code), cite=protocol.cite(key)))
        return tr("{thresholds} on {date}").format(thresholds="; ".join(parts), date=local_format.day(day))
    return write


def derive_features(visit: VisitRecord, sex: str, protocol: Protocol, explain: bool = True) -> tuple[DerivedFeature, ...]:
    """The three derived features of one visit (always three, in DERIVED_CODES order).
    With explain=False the explanations may be left empty (cheaper; same states). Computed once
    per visit, sex and protocol (`timeline.remembered`): an explained result also answers a
    question without explanations."""
    if not explain:
        held = visit.__dict__.get("_derived")
        if held is not None and held[0] == (protocol, sex, True):
            return held[1]
    return remembered(visit, "_derived", (protocol, sex, explain),
                      lambda: _derive_features(visit, sex, protocol, explain))


def _derive_features(visit: VisitRecord, sex: str, protocol: Protocol, explain: bool) -> tuple[DerivedFeature, ...]:
    p = protocol
    vegf = _threshold_rule(visit, "vegf_elevation", (
        ("vegf_plasma", "vegf_plasma_elevated"), ("vegf_serum", "vegf_serum_elevated"),
    ), p, explain)
    plt = _threshold_rule(visit, "thrombocytosis", (("platelets", "platelets_high"),), p, explain)
    out = [
        _combine("vegf_elevation", vegf[0], visit.feature("vegf_elevation"), vegf[1], vegf[2]),
        _combine("thrombocytosis", plt[0], visit.feature("thrombocytosis"), plt[1], plt[2]),
    ]
    entered = visit.feature("polycythemia")
    if sex == Sex.FEMALE.value:
        poly = _threshold_rule(visit, "polycythemia", (
            ("hemoglobin", "hemoglobin_high_female"), ("hematocrit", "hematocrit_high_female"),
        ), p, explain)
        out.append(_combine("polycythemia", poly[0], entered, poly[1], poly[2]))
    elif sex == Sex.MALE.value:
        poly = _threshold_rule(visit, "polycythemia", (
            ("hemoglobin", "hemoglobin_high_male"), ("hematocrit", "hematocrit_high_male"),
        ), p, explain)
        out.append(_combine("polycythemia", poly[0], entered, poly[1], poly[2]))
    else:
        # WHO limits differ by sex; applying either to other/unknown sex would be a guess.
        shown_sex = sex or Sex.UNKNOWN.value
        reason = _not_computed(shown_sex)
        evidence = {"sex": shown_sex}
        if entered == PRESENT:
            out.append(_feature("polycythemia", FeatureState.PRESENT, "entered", _entered_present(reason), evidence))
        else:
            state = FeatureState.ABSENT if entered == ABSENT else FeatureState.UNKNOWN
            out.append(_feature("polycythemia", state, "not_computed", reason, evidence))
    return tuple(out)


def _not_computed(sex: str) -> Callable[[], str]:
    return lambda: tr("polycythaemia not computed: the haemoglobin and haematocrit limits are sex-specific "
                      "(WHO 2016) and the patient's sex is {sex}").format(sex=sex)


def visit_features(visit: VisitRecord, sex: str, protocol: Protocol) -> VisitFeatures:
    derived = derive_features(visit, sex, protocol)
    states = {code: status for code, status in visit.features if status in (PRESENT, ABSENT)}
    for d in derived:
        if d.state is FeatureState.UNKNOWN:
            states.pop(d.code, None)
        else:
            states[d.code] = d.state.value
    return build_record(VisitFeatures, {"date": visit.date, "states": MappingProxyType(states), "derived": derived})


def _then(first: Why, more: Callable[[], str]) -> Callable[[], str]:
    return lambda: f"{_text(first)}; {more()}"


def _CONFIRMED_BY_CLINICIAN() -> str:  # noqa: N802 (a `Why`)
    return tr("confirmed by the clinician's \"present\" at this visit")


def _confirmed(n: int, first: date) -> Callable[[], str]:
    return lambda: tr("confirmed: {n} counts above the limit in this run (first on {first})").format(
        n=n, first=local_format.day(first))


def _not_yet_confirmed(needed: int, cite: str) -> Callable[[], str]:
    return lambda: tr("not yet confirmed for the criteria: {needed} counts above the limit in a run, or the "
                      "clinician's \"present\", are needed (count_confirmations {cite})").format(needed=needed, cite=cite)


def _confirm_counts(history: list[VisitFeatures], visits: Sequence[VisitRecord], protocol: Protocol) -> list[VisitFeatures]:
    """Apply the confirmation rule (module docstring) to thrombocytosis and polycythaemia."""
    needed = protocol.count_confirmations
    cite = protocol.cite("count_confirmations")
    for code in COUNT_CODES:
        run: list[date] = []  # dates of the counts above the limit in the current run
        for i, vf in enumerate(history):
            d = vf.derived_feature(code)
            if d is None:
                continue
            if d.measured_above is False or (d.measured_above is None and d.state is FeatureState.ABSENT):
                run = []
                continue
            if d.measured_above is not True:
                continue
            run.append(vf.date)
            if d.source != "measured":
                continue  # the clinician's "absent" already decided this visit
            if visits[i].feature(code) == PRESENT:
                replaced = replace(d, why=_then(d.why, _CONFIRMED_BY_CLINICIAN))
            elif len(run) >= needed:
                replaced = replace(d, why=_then(d.why, _confirmed(len(run), run[0])) if needed > 1 else d.why)
            else:
                replaced = replace(d, state=FeatureState.UNKNOWN, source="unconfirmed",
                                   why=_then(d.why, _not_yet_confirmed(needed, cite)))
            derived = tuple(replaced if x.code == code else x for x in vf.derived)
            states = dict(vf.states)
            if replaced.state is FeatureState.UNKNOWN:
                states.pop(code, None)
            history[i] = VisitFeatures(vf.date, MappingProxyType(states), derived)
    return history


def feature_history(patient: PatientRecord, protocol: Protocol) -> tuple[VisitFeatures, ...]:
    """Feature states at every visit of `patient` (clip the record to as-of first)."""
    history = [visit_features(v, patient.sex, protocol) for v in patient.visits]
    return tuple(_confirm_counts(history, patient.visits, protocol))
