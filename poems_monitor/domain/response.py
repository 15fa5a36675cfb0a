"""Response assessment per line of therapy (INTERFACES.md section 5; REFERENCE.md section 3).

Owns, for each line of therapy (oldest first), one category per domain with the values and dates
behind it and the rule that decided it:

- `vegf`: complete | partial | stable | progression | not_evaluable. One specimen series only
  (plasma preferred when both are evaluable: it tracks clinical change better [DSOUZA11]); never
  plasma against serum. Baseline = the last value on or before the line's start (a value drawn on
  the start day is pre-treatment), not older than `response_baseline_max_months`. Complete = back
  at or below the upper reference limit; partial = fall of `vegf_response_fraction` from a baseline
  above that limit; progression = the latest value `vegf_rise_fraction` above the nadir of the line
  (baseline included) and above the limit. All DEFAULT: the published cut-offs were not retrieved.
- `hematologic`: complete = negative immunofixation and a normal FLC ratio; partial = fall of
  `response_mprotein_partial_fraction` of a measurable M-protein (>= `response_mprotein_measurable_gdl`);
  a baseline M-protein below that limit is a result, "too small to measure", and gives
  not_evaluable with that reason; progression = M-protein above its nadir by the protocol's
  fraction and amount, or a positive immunofixation after a negative one in the line.
- `neurologic`: ONLS (else INCAT) from the line's baseline: improved | stable | worse, by the
  protocol's neuropathy points.
- `radiologic`: resulted imaging exams only (pending ones are named, never counted):
  complete (abnormal before, normal now), persistent (abnormal before and now: the record has no
  extent, so partial response and progression cannot be told apart), stable (normal before and
  now), progression (abnormal after a normal exam), not_evaluable.

A line is judged on the values after its start and up to the next line's start (a value drawn on
that day is the next line's baseline, and still this line's result) or `as_of`. The category is
the state at the latest value; `best_category` is the best the line reached. Missing data always
gives not_evaluable with the reason, never a guess.

Pure: no Qt, no SQL, no file or clock access.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from poems_monitor.domain.catalogue import MEASURES, value_label
from poems_monitor.domain.course import add_months, clip, end_of, lines_of_therapy, points, regimen_label, shown_number
from poems_monitor.domain.protocol import Protocol
from poems_monitor.domain.timeline import PatientRecord, TreatmentRecord, VisitRecord
from poems_monitor import local_format
from poems_monitor.i18n import N_, tr

DOMAINS = ("vegf", "hematologic", "neurologic", "radiologic")
DOMAIN_NAMES = {"vegf": tr("VEGF"), "hematologic": tr("Haematologic"), "neurologic": tr("Neurologic"),
                "radiologic": tr("Radiologic")}
CATEGORY_NAMES = {
    "complete": tr("Complete"), "partial": tr("Partial"), "stable": tr("Stable"), "progression": tr("Progression"),
    "not_evaluable": tr("Not evaluable"), "improved": tr("Improved"), "worse": tr("Worse"),
    "persistent": tr("Persistent"),
}
# Categories that are a response (for the patient's status), and those that are a progression.
RESPONDING = frozenset({"complete", "partial", "improved"})
PROGRESSING = frozenset({"progression"})
NOT_EVALUABLE = "not_evaluable"

_VEGF_CODES = ("vegf_plasma", "vegf_serum")
# Whole phrases per series (a specimen word joined to "VEGF" would keep the English order)
_SERIES_WORDS = {"vegf_plasma": N_("plasma VEGF"), "vegf_serum": N_("serum VEGF")}
_OTHER_SERIES_NOTES = {
    "vegf_plasma": N_("Plasma VEGF also measured in this line: judged on its own series, never compared"),
    "vegf_serum": N_("Serum VEGF also measured in this line: judged on its own series, never compared"),
}
_IFE_NEGATIVE = "negative"


@dataclass(frozen=True)
class Reading:
    """One dated value (a number, or a word for a categorical result)."""

    date: date
    value: float | str
    qualifier: str | None = None  # "<" / ">" for a censored result
    note: str = ""

    def to_json(self) -> dict:
        value = int(self.value) if isinstance(self.value, float) and self.value.is_integer() else self.value
        out: dict = {"value": value, "date": self.date.isoformat()}
        if self.qualifier:
            out["qualifier"] = self.qualifier
        if self.note:
            out["note"] = self.note
        return out

    def text(self, unit: str = "", quote: Callable[[float], str] = shown_number) -> str:
        """"1240 pg/mL on 2021-01-10"; `quote` writes the number (in the clinic's unit, protocol [units])."""
        value = value_label(self.value) if isinstance(self.value, str) else f"{self.qualifier or ''}{quote(self.value)}"
        return tr("{value}{unit} on {date}").format(value=value, unit=f" {unit}" if unit else "", date=local_format.day(self.date))


def _rj(r: Reading | None) -> dict | None:
    return r.to_json() if r is not None else None


@dataclass(frozen=True)
class DomainResponse:
    """One domain of one line: category, rule, reason (when not evaluable), values and dates."""

    domain: str
    category: str
    rule: str
    reason: str | None = None  # why not evaluable (or what was not counted)
    evidence: str = ""  # the values and dates in one sentence, for a tooltip or a report cell
    since: date | None = None  # first date the line's response (or progression) was seen
    details: dict = field(default_factory=dict, compare=False, hash=False)  # JSON-ready values

    @property
    def category_name(self) -> str:
        return CATEGORY_NAMES.get(self.category, self.category.replace("_", " "))

    @property
    def responding(self) -> bool:
        return self.category in RESPONDING

    @property
    def progressing(self) -> bool:
        return self.category in PROGRESSING

    def explanation(self) -> str:
        """Rule, values and dates (and the reason when not evaluable) as a person reads them."""
        parts = [f"{DOMAIN_NAMES.get(self.domain, self.domain)}: {self.category_name}"]
        if self.reason:
            parts.append(self.reason)
        if self.evidence:
            parts.append(self.evidence)
        parts.append(tr("Rule: {rule}").format(rule=self.rule))
        return "\n".join(parts)

    def to_json(self) -> dict:
        return {"category": self.category, **self.details, "rule": self.rule, "reason": self.reason,
                "since": self.since.isoformat() if self.since else None, "evidence": self.evidence}


@dataclass(frozen=True)
class LineResponse:
    regimen: str
    label: str
    start: date
    stop: date | None  # as recorded (None: ongoing, or a one-off without a stop)
    ongoing: bool
    vegf: DomainResponse
    hematologic: DomainResponse
    neurologic: DomainResponse
    radiologic: DomainResponse

    @property
    def domains(self) -> tuple[DomainResponse, ...]:
        return (self.vegf, self.hematologic, self.neurologic, self.radiologic)

    @property
    def period(self) -> str:
        if self.ongoing:
            return tr("{start} – ongoing").format(start=local_format.day(self.start))
        end = self.stop or self.start
        start = local_format.day(self.start)
        return start if end == self.start else f"{start} – {local_format.day(end)}"

    def to_json(self) -> dict:
        return {"regimen": self.regimen, "label": self.label, "start": self.start.isoformat(),
                "stop": self.stop.isoformat() if self.stop else None, "ongoing": self.ongoing,
                **{d.domain: d.to_json() for d in self.domains}}


def response_to_json(mrn: str, as_of: date, lines: tuple[LineResponse, ...], status: dict | None = None) -> dict:
    """The document of INTERFACES.md section 5 (plus the patient's status when given)."""
    out: dict = {"mrn": mrn, "as_of": as_of.isoformat(), "lines": [line.to_json() for line in lines]}
    if status is not None:
        out["status"] = status
    return out


# ---------------------------------------------------------------------------------------------
# Series
# ---------------------------------------------------------------------------------------------


def _readings(visits: tuple[VisitRecord, ...], code: str) -> list[Reading]:
    out = []
    for v in visits:
        o = v.value(code)
        if o is None and code == "onls":  # ONLS total = arm + leg when only the parts were entered
            arm, leg = v.value("onls_arm"), v.value("onls_leg")
            if arm is not None and leg is not None and arm.number is not None and leg.number is not None:
                out.append(Reading(v.date, float(arm.number + leg.number)))
            continue
        if o is None:
            continue
        if isinstance(o.value, str):
            out.append(Reading(v.date, o.value))
        elif o.number is not None:
            out.append(Reading(v.date, float(o.number), o.qualifier))
    return out


def _imaging(visits: tuple[VisitRecord, ...]) -> tuple[list[Reading], list[Reading]]:
    """(resulted imaging exams, pending ones) as readings whose value is normal/abnormal/pending."""
    done, pending = [], []
    for v in visits:
        for e in v.exams:
            if e.kind != "imaging":
                continue
            (pending if e.result == "pending" else done).append(Reading(v.date, e.result, note=e.note))
    return done, pending


@dataclass(frozen=True)
class _Window:
    line: TreatmentRecord
    start: date
    upper: date  # last day whose values count for this line
    next_start: date | None


def _baseline(series: list[Reading], start: date, max_months: int) -> tuple[Reading | None, Reading | None]:
    """(baseline, too old): the last reading on or before `start`; it is the baseline when not older
    than `max_months`, else it is returned as `too old` to say why there is none."""
    before = [r for r in series if r.date <= start]
    if not before:
        return None, None
    last = before[-1]
    if last.date < add_months(start, -max_months):
        return None, last
    return last, None


def _in(series: list[Reading], w: _Window) -> list[Reading]:
    return [r for r in series if w.start < r.date <= w.upper]


def _no_baseline(what: str, w: _Window, months: int, older: Reading | None, unit: str = "",
                 quote: Callable[[float], str] = shown_number) -> str:
    text = tr("no {what} within {n} months before the line started on {start}").format(
        what=what, n=months, start=local_format.day(w.start))
    if older is not None:
        text += tr(" (the last one, {reading}, is older)").format(reading=older.text(unit, quote))
    return text


def _no_values(what: str, w: _Window) -> str:
    if w.next_start is not None and w.upper == w.next_start:
        return tr("no {what} after the line started on {start} and before the next line started on {next}").format(
            what=what, start=local_format.day(w.start), next=local_format.day(w.next_start))
    return tr("no {what} since the line started on {start}").format(what=what, start=local_format.day(w.start))


def _run_since(series: list[Reading], holds) -> date | None:  # noqa: ANN001
    """The first date of the last run of readings for which `holds` is true (None if the latest
    reading does not hold): the date a response has held since."""
    since = None
    for r in series:
        since = (since or r.date) if holds(r) else None
    return since


def _pct(fraction: float) -> str:
    return tr("{n} %").format(n=int(round(fraction * 100)))


# ---------------------------------------------------------------------------------------------
# VEGF
# ---------------------------------------------------------------------------------------------


def _vegf(visits, w: _Window, p: Protocol) -> DomainResponse:  # noqa: ANN001
    months = p.response_baseline_max_months
    options = []
    for code in _VEGF_CODES:
        series = _readings(visits, code)
        base, older = _baseline(series, w.start, months)
        after = _in(series, w)
        rank = (base is not None and bool(after), bool(after), base is not None, code == "vegf_plasma")
        options.append((rank, code, base, older, after))
    _, code, base, older, after = max(options, key=lambda o: o[0])
    specimen = MEASURES[code].specimen
    other = next((o for o in options if o[1] != code and o[4]), None)
    other_note = tr(_OTHER_SERIES_NOTES[other[1]]) if other is not None else ""
    unit = p.units.label(code)  # the values are quoted in the clinic's unit; compared canonical

    def q(value: float) -> str:
        return local_format.decimal_text(p.units.quote(code, value))
    key = "vegf_plasma_upper_reference" if code == "vegf_plasma" else "vegf_serum_upper_reference"
    uln, fall, rise = getattr(p, key), p.vegf_response_fraction, p.vegf_rise_fraction
    details = {"specimen": specimen, "baseline": _rj(base), "best": None, "latest": None,
               "upper_reference": uln, "best_category": None}
    what = tr(_SERIES_WORDS[code])
    if not after:
        reason = _no_values(tr("VEGF (plasma or serum)"), w)
        if base is not None:
            details["baseline"] = base.to_json()
        return DomainResponse("vegf", NOT_EVALUABLE, tr("not evaluable: no VEGF value after the line started"),
                              reason, tr("baseline {b}").format(b=base.text(unit, q)) if base else "", None, details)
    best = min(after, key=lambda r: (r.value, r.date))
    latest = after[-1]
    details.update(best=best.to_json(), latest=latest.to_json())
    chain = ([base] if base is not None else []) + after
    # Progression: the latest value risen from the nadir of the line (baseline included).
    run_start = None
    for k in range(1, len(chain)):
        nadir = min(chain[:k], key=lambda r: r.value)
        risen = chain[k].value >= nadir.value * (1 + rise) - 1e-9 and chain[k].value > uln
        run_start = (run_start or (k, nadir)) if risen else None
    values_text = tr("{what}: baseline {b}; best {best}; latest {latest}").format(
        what=what, b=base.text(unit, q) if base else tr("none"), best=best.text(unit, q), latest=latest.text(unit, q))
    if other_note:
        values_text += f" ({other_note})"

    def category(value: float) -> str:
        if value <= uln:
            return "complete"
        if value <= base.value * (1 - fall) + 1e-9:
            return "partial"
        return "stable"

    if base is not None and base.value > uln:
        details["best_category"] = category(best.value)
    if run_start is not None:
        k, nadir = run_start
        confirmed = len(chain) - k >= 2
        details.update(nadir=nadir.to_json(), confirmed=confirmed)
        rule = tr("progression: rise >= {rise} above the nadir {nadir} and above the upper reference limit {uln} {unit} "
                  "{cite} (DEFAULT); {confirm}").format(
            rise=_pct(rise), nadir=nadir.text(unit, q), uln=q(uln), unit=unit, cite=p.cite(key),
            confirm=tr("confirmed by a second value") if confirmed else tr("one value: confirm with a repeat"))
        return DomainResponse("vegf", "progression", rule, None, values_text, chain[k].date, details)
    if base is None:
        return DomainResponse("vegf", NOT_EVALUABLE, tr("not evaluable: a response needs a baseline before the line"),
                              _no_baseline(what, w, months, older, unit, q), values_text, None, details)
    if base.value <= uln:
        return DomainResponse(
            "vegf", NOT_EVALUABLE, tr("not evaluable: a baseline within the reference range cannot respond"),
            tr("baseline {b} is within the reference range (at or below {uln} {unit} {cite}): no elevated VEGF to "
               "respond").format(b=base.text(unit, q), uln=q(uln), unit=unit, cite=p.cite(key)),
            values_text, None, details)

    current = category(latest.value)
    rank = {"stable": 0, "partial": 1, "complete": 2}
    since = _run_since(after, lambda r: rank[category(r.value)] >= rank[current])
    rules = {
        "complete": tr("complete: back within the reference range (at or below {uln} {unit} {cite}) (DEFAULT)").format(
            uln=q(uln), unit=unit, cite=p.cite(key)),
        "partial": tr("partial: fall >= {fall} from baseline (DEFAULT)").format(fall=_pct(fall)),
        "stable": tr("stable: not back within the reference range, no fall >= {fall} from baseline and no rise >= "
                     "{rise} above the nadir (DEFAULT)").format(fall=_pct(fall), rise=_pct(rise)),
    }
    return DomainResponse("vegf", current, rules[current], None, values_text,
                          since if current != "stable" else None, details)


# ---------------------------------------------------------------------------------------------
# Haematologic
# ---------------------------------------------------------------------------------------------


def _ratio_range(ref) -> dict[str, str]:  # noqa: ANN001 (a catalogue reference range)
    """The FLC ratio's normal range as a sentence quotes it: 0.26–1.65, 0,26–1,65 in French."""
    return {"lo": local_format.decimal_text(f"{ref.low:g}"), "hi": local_format.decimal_text(f"{ref.high:g}")}


def _hematologic(visits, w: _Window, p: Protocol) -> DomainResponse:  # noqa: ANN001
    months = p.response_baseline_max_months
    measurable = p.response_mprotein_measurable_gdl
    partial_f = p.response_mprotein_partial_fraction
    prog_f, prog_min = p.response_mprotein_progression_fraction, p.response_mprotein_progression_min_gdl
    mp_all, ife_all, ratio_all = (_readings(visits, c) for c in ("m_protein", "ife", "flc_ratio"))
    mp_unit = p.units.label("m_protein")  # quoted in the clinic's unit; compared in g/dL

    def q(value: float) -> str:
        return local_format.decimal_text(p.units.quote("m_protein", value))

    mp_base, mp_older = _baseline(mp_all, w.start, months)
    ife_base, _ = _baseline(ife_all, w.start, months)
    ratio_base, _ = _baseline(ratio_all, w.start, months)
    mp, ife, ratio = _in(mp_all, w), _in(ife_all, w), _in(ratio_all, w)
    ref = MEASURES["flc_ratio"].reference
    details = {"m_protein": {"baseline": _rj(mp_base), "best": None, "latest": _rj(mp[-1] if mp else None)},
               "immunofixation": {"baseline": _rj(ife_base), "latest": _rj(ife[-1] if ife else None)},
               "flc_ratio": {"latest": _rj(ratio[-1] if ratio else None),
                             "reference": [ref.low, ref.high] if ref else None},
               "measurable_from": measurable}
    if mp:
        details["m_protein"]["best"] = min(mp, key=lambda r: (r.value, r.date)).to_json()
    parts = []
    if mp_base or mp:
        parts.append(tr("M-protein: baseline {b}; latest {l}").format(
            b=mp_base.text(mp_unit, q) if mp_base else tr("none"), l=mp[-1].text(mp_unit, q) if mp else tr("none")))
    if ife_base or ife:
        parts.append(tr("immunofixation: baseline {b}; latest {l}").format(
            b=ife_base.text() if ife_base else tr("none"), l=ife[-1].text() if ife else tr("none")))
    if ratio:
        parts.append(tr("FLC ratio: latest {l}").format(l=ratio[-1].text()))
    evidence = "; ".join(parts)
    if not (mp or ife or ratio):
        return DomainResponse("hematologic", NOT_EVALUABLE, tr("not evaluable: no monoclonal work-up after the line started"),
                              _no_values(tr("M-protein, immunofixation or FLC ratio"), w), evidence, None, details)

    def is_measurable(r: Reading | None) -> bool:
        return r is not None and r.qualifier != "<" and isinstance(r.value, float) and r.value >= measurable - 1e-9

    def normal_ratio(r: Reading) -> bool:
        return ref is not None and isinstance(r.value, float) and ref.contains(r.value)

    # Nothing to respond: the monoclonal protein was not detectable before the line (a negative
    # immunofixation then cannot show a complete response now).
    if (ife_base is not None and ife_base.value == _IFE_NEGATIVE and not (mp_base and mp_base.value > 0)
            and not (ratio_base is not None and not normal_ratio(ratio_base))):
        return DomainResponse(
            "hematologic", NOT_EVALUABLE,
            tr("not evaluable: a response needs a monoclonal protein detectable before the line"),
            tr("no monoclonal protein detectable before the line: immunofixation negative on {d}{ratio}").format(
                d=local_format.day(ife_base.date),
                ratio=tr(", FLC ratio normal") if ratio_base is not None else tr(", no FLC ratio")),
            evidence, None, details)

    # Progression: a positive immunofixation after a negative one in the line, or a measurable rise.
    chain = ([mp_base] if mp_base else []) + mp
    if len(chain) >= 2 and chain[-1].qualifier != "<":
        nadir = min(chain[:-1], key=lambda r: r.value)
        rise = chain[-1].value - nadir.value
        if rise >= prog_min - 1e-9 and chain[-1].value >= nadir.value * (1 + prog_f) - 1e-9:
            details["m_protein"]["nadir"] = nadir.to_json()
            return DomainResponse(
                "hematologic", "progression",
                tr("progression: M-protein >= {f} and >= {min} {unit} above its nadir {nadir} (DEFAULT)").format(
                    f=_pct(prog_f), min=q(prog_min), unit=mp_unit, nadir=nadir.text(mp_unit, q)),
                None, evidence, chain[-1].date, details)
    negatives = [r for r in ife if r.value == _IFE_NEGATIVE]
    if ife and ife[-1].value != _IFE_NEGATIVE and negatives:
        back = next(r for r in ife if r.date > negatives[-1].date)
        return DomainResponse(
            "hematologic", "progression",
            tr("progression: immunofixation positive again ({l}) after a negative one on {n} in this line (DEFAULT)").format(
                l=ife[-1].text(), n=local_format.day(negatives[-1].date)),
            None, evidence, back.date, details)
    if ife and ife[-1].value == _IFE_NEGATIVE and ratio and normal_ratio(ratio[-1]):
        # Complete since the first day of the last run in which both held.
        since = None
        for day in sorted({r.date for r in ife} | {r.date for r in ratio}):
            last_ife = [r for r in ife if r.date <= day]
            last_ratio = [r for r in ratio if r.date <= day]
            both = bool(last_ife and last_ratio) and last_ife[-1].value == _IFE_NEGATIVE and normal_ratio(last_ratio[-1])
            since = (since or day) if both else None
        return DomainResponse(
            "hematologic", "complete",
            tr("complete: negative immunofixation and a normal FLC ratio ({lo}–{hi}, laboratory range DEFAULT)").format(
                **_ratio_range(ref)),
            None, evidence, since, details)
    incomplete = None
    if ife and ife[-1].value == _IFE_NEGATIVE:
        incomplete = (tr("immunofixation negative on {d} but no FLC ratio since the line started: a complete response "
                         "needs both").format(d=local_format.day(ife[-1].date)) if not ratio else
                      tr("immunofixation negative on {d} but FLC ratio {r} is outside {lo}–{hi}").format(
                          d=local_format.day(ife[-1].date), r=ratio[-1].text(), **_ratio_range(ref)))
    if mp_base is None:
        reason = _no_baseline(tr("M-protein"), w, months, mp_older, mp_unit, q)
        if incomplete:
            reason = f"{incomplete}; {reason}"
        return DomainResponse("hematologic", NOT_EVALUABLE, tr("not evaluable: a partial response needs a baseline M-protein"),
                              reason, evidence, None, details)
    if not is_measurable(mp_base):
        reason = tr("too small to measure: baseline M-protein {b} is below the measurable {m} {unit} (DEFAULT)").format(
            b=mp_base.text(mp_unit, q), m=q(measurable), unit=mp_unit)
        if incomplete:
            reason = f"{incomplete}; {reason}"
        details["too_small_to_measure"] = True
        return DomainResponse(
            "hematologic", NOT_EVALUABLE,
            tr("not evaluable: partial response applies only to a measurable M-protein; complete needs negative "
               "immunofixation and a normal FLC ratio"), reason, evidence, None, details)
    if not mp:
        reason = _no_values(tr("M-protein"), w)
        if incomplete:
            reason = f"{incomplete}; {reason}"
        return DomainResponse("hematologic", NOT_EVALUABLE, tr("not evaluable: no M-protein after the line started"),
                              reason, evidence, None, details)
    limit = mp_base.value * (1 - partial_f) + 1e-9
    latest = mp[-1]
    fell = latest.qualifier == "<" or latest.value <= limit
    since = _run_since(mp, lambda r: r.qualifier == "<" or r.value <= limit)
    details["m_protein"]["best_category"] = "partial" if any(r.qualifier == "<" or r.value <= limit for r in mp) else "stable"
    if fell:
        rule = tr("partial: fall >= {f} of a measurable M-protein (DEFAULT)").format(f=_pct(partial_f))
        return DomainResponse("hematologic", "partial", rule, incomplete, evidence, since, details)
    rule = tr("stable: measurable M-protein fallen less than {f} and not risen to progression (DEFAULT)").format(f=_pct(partial_f))
    return DomainResponse("hematologic", "stable", rule, incomplete, evidence, None, details)


# ---------------------------------------------------------------------------------------------
# Neurologic
# ---------------------------------------------------------------------------------------------


def _neurologic(visits, w: _Window, p: Protocol) -> DomainResponse:  # noqa: ANN001
    months = p.response_baseline_max_months
    better, worse = p.neuropathy_improved_points, p.neuropathy_worse_points
    reasons = []
    for scale in ("onls", "incat"):
        series = _readings(visits, scale)
        base, older = _baseline(series, w.start, months)
        after = _in(series, w)
        name = MEASURES[scale].label
        if base is None or not after:
            reasons.append(_no_baseline(name, w, months, older) if base is None else _no_values(name, w))
            continue
        latest = after[-1]
        best = min(after, key=lambda r: (r.value, r.date))
        details = {"scale": scale, "baseline": base.to_json(), "best": best.to_json(), "latest": latest.to_json()}
        evidence = tr("{name}: baseline {b}; best {best}; latest {l}").format(
            name=name, b=base.text(), best=best.text(), l=latest.text())
        change = latest.value - base.value
        if base.value - latest.value >= better - 1e-9:
            category, rule = "improved", tr("improved: {name} at least {n} better than the line's baseline (DEFAULT)")
            since = _run_since(after, lambda r: base.value - r.value >= better - 1e-9)  # noqa: B023 (called at once)
        elif change >= worse - 1e-9:
            category, rule = "worse", tr("worse: {name} at least {n} worse than the line's baseline (DEFAULT)")
            since = _run_since(after, lambda r: r.value - base.value >= worse - 1e-9)  # noqa: B023 (called at once)
        else:
            category, rule = "stable", tr("stable: {name} within {n} of the line's baseline (DEFAULT)")
            since = None
        n = points(better if category == "improved" else worse)
        if category == "stable":
            n = points(min(better, worse))
        return DomainResponse("neurologic", category, rule.format(name=name, n=n), None, evidence, since, details)
    return DomainResponse("neurologic", NOT_EVALUABLE, tr("not evaluable: ONLS (or INCAT) needs a baseline and a later score"),
                          "; ".join(reasons), "", None, {"scale": None, "baseline": None, "best": None, "latest": None})


# ---------------------------------------------------------------------------------------------
# Radiologic
# ---------------------------------------------------------------------------------------------


def _radiologic(visits, w: _Window, p: Protocol) -> DomainResponse:  # noqa: ANN001
    months = p.response_imaging_baseline_max_months
    done, pending = _imaging(visits)
    base, older = _baseline(done, w.start, months)
    after = _in(done, w)
    waiting = _in(pending, w)
    details = {"baseline": _rj(base), "latest": _rj(after[-1] if after else None),
               "exams": [r.to_json() for r in after], "pending": [r.to_json() for r in waiting]}
    pending_text = tr("imaging of {dates} pending: not counted").format(
        dates=", ".join(local_format.day(r.date) for r in waiting)) if waiting else None
    evidence = tr("imaging: baseline {b}; latest {l} ({n} resulted since the start)").format(
        b=base.text() if base else tr("none"), l=after[-1].text() if after else tr("none"), n=len(after))

    def with_pending(reason: str | None) -> str | None:
        return "; ".join(x for x in (reason, pending_text) if x) or None

    if not after:
        return DomainResponse("radiologic", NOT_EVALUABLE, tr("not evaluable: no resulted imaging after the line started"),
                              with_pending(_no_values(tr("resulted imaging"), w)), evidence, None, details)
    latest = after[-1]
    normal_before = [r for r in after[:-1] if r.value == "normal"] + ([base] if base and base.value == "normal" else [])
    if latest.value == "abnormal" and normal_before:
        last_normal = max(normal_before, key=lambda r: r.date)
        return DomainResponse("radiologic", "progression",
                              tr("progression: imaging abnormal after a normal exam on {d} (DEFAULT)").format(
                                  d=local_format.day(last_normal.date)),
                              with_pending(None), evidence, latest.date, details)
    if base is None:
        return DomainResponse("radiologic", NOT_EVALUABLE, tr("not evaluable: a response needs imaging before the line"),
                              with_pending(_no_baseline(tr("resulted imaging"), w, months, older)), evidence, None, details)
    if base.value == "abnormal" and latest.value == "normal":
        since = _run_since(after, lambda r: r.value == "normal")
        return DomainResponse("radiologic", "complete", tr("complete: imaging abnormal before the line, normal since (DEFAULT)"),
                              with_pending(None), evidence, since, details)
    if base.value == "abnormal":
        return DomainResponse(
            "radiologic", "persistent",
            tr("persistent: abnormal before the line and at the latest exam; the record holds no extent, so partial "
               "response, stable disease and progression cannot be told apart: read the reports (DEFAULT)"),
            with_pending(None), evidence, None, details)
    return DomainResponse("radiologic", "stable", tr("stable: imaging normal before the line and since (DEFAULT)"),
                          with_pending(None), evidence, None, details)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def assess_response(patient: PatientRecord, protocol: Protocol, as_of: date) -> tuple[LineResponse, ...]:
    """The response to every line of therapy started on or before `as_of`, oldest first."""
    record = clip(patient, as_of)
    lines = lines_of_therapy(record)
    visits = record.visits
    out = []
    for i, line in enumerate(lines):
        next_start = next((t.start for t in lines[i + 1:] if t.start > line.start), None)
        upper = min(next_start, as_of) if next_start is not None else as_of
        w = _Window(line, line.start, upper, next_start)
        ongoing = end_of(line) is None
        out.append(LineResponse(
            regimen=line.regimen, label=regimen_label(line, mid_sentence=False), start=line.start, stop=line.stop,
            ongoing=ongoing, vegf=_vegf(visits, w, protocol), hematologic=_hematologic(visits, w, protocol),
            neurologic=_neurologic(visits, w, protocol), radiologic=_radiologic(visits, w, protocol),
        ))
    return tuple(out)
