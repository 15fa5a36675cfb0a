"""Checks one entered value against the catalogue: the three tiers of entry limits.

Owns the decision "refused / confirm / out of range / fine" and the sentence a nurse reads,
for the importer, the CSV reader and the entry form alike. Pure: no Qt, no SQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from poems_monitor.domain.catalogue import MEASURES, Measure, MeasureKind, unit_display
from poems_monitor.domain.display_units import CANONICAL, DisplayUnits
from poems_monitor.domain.numbers import format_number, read_number
from poems_monitor.domain.input_rules import MAX_NUMBER_CHARACTERS, finite_number
from poems_monitor.domain.units import UnitConversion, round_sig
from poems_monitor.i18n import tr


class Tier(str, Enum):
    OK = "ok"
    OUT_OF_RANGE = "out_of_range"  # saved and marked
    CRITICAL = "critical"  # saved after confirmation
    REFUSED = "refused"  # never saved


@dataclass(frozen=True)
class CheckedValue:
    tier: Tier
    message: str  # empty when OK
    canonical: float | str | None = None  # value in the canonical unit
    unit: str = ""  # canonical unit
    converted_from: str | None = None  # the entered unit when a conversion happened
    field: str = "value"  # which input the message is about: "value" or "unit"

    @property
    def refused(self) -> bool:
        return self.tier is Tier.REFUSED


def _fmt(value: float, decimals: int) -> str:
    return format_number(value, decimals)


@dataclass(frozen=True)
class _Plan:
    """What `check_value` decides once per measure, unit as written and sex: the conversion, and
    the interval inside which a value is fine (the absolute, critical and reference limits
    together, each closed as `Range` is)."""

    measure: Measure
    conversion: UnitConversion
    converted_from: str | None
    integer: bool
    low: float
    high: float
    fine: dict = field(default_factory=dict)  # number -> its CheckedValue, for numbers found fine


_SEXES_WITH_RANGES = ("female", "male")  # `Measure.reference_for`: any other sex has no sex-specific range
_LARGEST = 10 ** MAX_NUMBER_CHARACTERS  # `finite_number`'s bound on a number's size (compared exactly, int with float)
_PLANS: dict[tuple, _Plan] = {}
_MAX_PLANS = 4096  # a hostile file's endless unit spellings are checked the long way, not remembered
# Lab values repeat (a clinic's 650,000 values hold about 10,000 different ones): the verdict on
# each is kept, up to this many in all (a few MB), beyond which numbers are checked each time.
_MAX_FINE = 16384
_fine_kept = 0


def _plan(key: tuple) -> _Plan | None:
    """The plan of (code, unit, sex), remembered; None where the long way refuses or categorises."""
    code, unit, sex = key
    m = MEASURES.get(code)
    if m is None or m.kind is MeasureKind.CATEGORICAL:
        return None
    if unit is None or unit.strip() == "":
        if not m.unit_optional:
            return None
        unit = m.unit
    conv = m.conversion_for(unit)
    if conv is None:
        return None
    ranges = [r for r in (m.absolute, m.critical, m.reference_for(sex)) if r is not None]
    plan = _Plan(m, conv, None if conv.unit.lower() == m.unit.lower() else conv.unit, m.integer,
                 max((r.low for r in ranges if r.low is not None), default=-math.inf),
                 min((r.high for r in ranges if r.high is not None), default=math.inf))
    if len(_PLANS) < _MAX_PLANS:
        _PLANS[key] = plan
    return plan


def _keep_fine(plan: _Plan, number: float, checked: CheckedValue) -> CheckedValue:
    global _fine_kept
    if _fine_kept < _MAX_FINE:
        plan.fine[number] = checked
        _fine_kept += 1
    return checked


def check_value(code: str, value: object, unit: str | None = None, sex: str | None = None) -> CheckedValue:
    """Validate and convert one value of measure `code`.

    `value` is a number (or numeric string) for quantities and scores, a category for categorical
    measures. `unit` may be omitted only where the catalogue has one unit. `sex` selects a
    sex-specific reference range; with `other`/`unknown` that range is not applied.
    """
    kind = type(value)
    if (kind is float or kind is int) and (unit is None or type(unit) is str):
        # The common case, decided with what `_plan` worked out once for this code, unit and sex
        # (an import checks a million values of a few dozen codes); anything else, including
        # every value with something to say, takes the long way below.
        key = (code, unit, sex if sex in _SEXES_WITH_RANGES else None)
        plan = _PLANS.get(key) or _plan(key)
        if plan is not None and plan.measure is MEASURES.get(code):
            known = plan.fine.get(value)  # 617 and 617.0 share a verdict, as they share a canonical value
            if known is not None:
                return known
            if -_LARGEST < value < _LARGEST:
                canonical = round_sig(plan.conversion.to_canonical(float(value)))
                if plan.low <= canonical <= plan.high and (not plan.integer or float(value).is_integer()):
                    return _keep_fine(plan, value, CheckedValue(Tier.OK, "", canonical, plan.measure.unit,
                                                                plan.converted_from))
    m = MEASURES.get(code)
    if m is None:
        return CheckedValue(Tier.REFUSED, tr("'{code}' is not a measure this clinic records").format(code=code))
    if m.kind is MeasureKind.CATEGORICAL:
        return _check_category(m, value)

    number, problem = _as_number(value)
    if number is None:
        return CheckedValue(Tier.REFUSED, tr("{name}: {problem}").format(name=m.label, problem=problem))
    if unit is None or str(unit).strip() == "":
        if not m.unit_optional:
            return CheckedValue(
                Tier.REFUSED,
                tr("{name}: the unit is missing; give one of {units}").format(
                    name=m.label, units=_units_text(m)
                ),
                field="unit",
            )
        conv_unit = m.unit
    else:
        conv_unit = str(unit)
    conv = m.conversion_for(conv_unit)
    if conv is None:
        return CheckedValue(
            Tier.REFUSED,
            tr("{name}: unit '{unit}' is not accepted; use {units}").format(
                name=m.label, unit=conv_unit, units=_units_text(m)
            ),
            field="unit",
        )
    canonical = round_sig(conv.to_canonical(number))
    converted_from = None if conv.unit.lower() == m.unit.lower() else conv.unit

    if m.integer and not float(number).is_integer():
        return CheckedValue(
            Tier.REFUSED, tr("{name}: {value} is not a whole score").format(name=m.label, value=_fmt(number, 3))
        )
    absolute, critical, ref = m.absolute, m.critical, m.reference_for(sex)
    if (not absolute.above(canonical) and not absolute.below(canonical)
            and (critical is None or critical.contains(canonical)) and (ref is None or ref.contains(canonical))):
        return CheckedValue(Tier.OK, "", canonical, m.unit, converted_from)  # most values: no sentence to write
    # Limits are decided on the canonical value and written in the unit the value was given in
    # (the nurse who typed µmol/L reads µmol/L).
    shown = f"{_fmt(number, 6)} {conv.label}".strip()
    if converted_from:
        shown += f" (= {_fmt(canonical, m.decimals + 1)} {m.unit_label})"
    seen = DisplayUnits(((m.code, conv.unit),)) if converted_from else CANONICAL
    unit_label = seen.label(m.code)
    if absolute.above(canonical):
        return CheckedValue(
            Tier.REFUSED,
            tr("{name} {shown} is above the largest possible value {limit} {unit}: check for a typing error").format(
                name=m.label, shown=shown, limit=seen.quote(m.code, absolute.high), unit=unit_label
            ),
        )
    if absolute.below(canonical):
        return CheckedValue(
            Tier.REFUSED,
            tr("{name} {shown} is below the smallest possible value {limit} {unit}: check for a typing error").format(
                name=m.label, shown=shown, limit=seen.quote(m.code, absolute.low), unit=unit_label
            ),
        )
    if critical is not None and not critical.contains(canonical):
        side = tr("above") if critical.above(canonical) else tr("below")
        limit = critical.high if critical.above(canonical) else critical.low
        return CheckedValue(
            Tier.CRITICAL,
            tr("{name} {shown} is {side} the critical limit {limit} {unit}: please confirm").format(
                name=m.label, shown=shown, side=side, limit=seen.quote(m.code, limit), unit=unit_label
            ),
            canonical, m.unit, converted_from,
        )
    return CheckedValue(
        Tier.OUT_OF_RANGE,
        tr("{name} {shown} is outside the reference range {range} {unit}").format(
            name=m.label, shown=shown, range=seen.range_text(m.code, ref.low, ref.high) if converted_from else ref.text(),
            unit=unit_label
        ),
        canonical, m.unit, converted_from,
    )


def _units_text(m: Measure) -> str:
    """The accepted units as people read them, with the UCUM code a file needs where it differs:
    "×10⁹/L (10*9/L), ×10³/µL (10*3/uL)"."""
    out = []
    for unit in m.accepted_units:
        label = unit_display(unit)
        out.append(label if label == unit else f"{label} ({unit})")
    return ", ".join(out)


def unit_slip(code: str, value: float, unit: str | None) -> tuple[str, ...]:
    """The catalogue's other units of `code` in which `value` would be possible, when it is not
    possible in `unit`: Hb 135 g/dL is impossible but fine in g/L ("did you mean g/L?").
    Empty when the value is possible as entered or no other unit makes it possible."""
    m = MEASURES.get(code)
    if m is None or m.kind is MeasureKind.CATEGORICAL or not m.alternatives:
        return ()
    if not check_value(code, value, unit or m.unit).refused:
        return ()
    current = (unit or m.unit).lower()
    return tuple(u for u in m.accepted_units
                 if u.lower() != current and not check_value(code, value, u).refused)


def _check_category(m: Measure, value: object) -> CheckedValue:
    text = str(value).strip().lower() if value is not None else ""
    if text not in m.categories:
        return CheckedValue(
            Tier.REFUSED,
            tr("{name}: '{value}' is not one of {choices}").format(
                name=m.label, value=value, choices=", ".join(m.categories)
            ),
        )
    return CheckedValue(Tier.OK, "", canonical=text, unit="")


def _as_number(value: object) -> tuple[float | None, str]:
    """(the number, "") or (None, why not). Text is read by `domain.numbers.read_number`, which
    refuses thousands-grouped shapes such as '1,240' instead of guessing; then one rule for every
    reader: finite, ASCII digits, no booleans, no 5000-digit integers (`input_rules.finite_number`)."""
    if isinstance(value, str):
        reading = read_number(value)
        if reading.value is None:
            return None, reading.problem if value.strip() else tr("'{value}' is not a number").format(value=value)
        number = finite_number(reading.value)
    else:
        number = finite_number(value)
    return (None, tr("'{value}' is not a number").format(value=value)) if number is None else (number, "")
