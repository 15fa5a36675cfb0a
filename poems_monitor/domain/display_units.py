"""The clinic's display units: the unit a person reads and types for each measure.

Owns the protocol's `[units]` table (measure code -> UCUM unit, e.g. `creatinine = "umol/L"`),
its check, and the conversions between a measure's canonical unit (what the database, the
files and the rules use) and the unit the clinic works in. A measure the table does not name
is shown in its canonical unit, so a protocol without the table means "canonical units".
The factors themselves are the catalogue's (`Measure.alternatives`): this module only chooses
among them. Pure: no Qt, no SQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from poems_monitor.domain.catalogue import MEASURES, Measure, MeasureKind
from poems_monitor.domain.numbers import format_measure_value, format_number
from poems_monitor.domain.units import UnitConversion, round_sig, same_unit
from poems_monitor.i18n import tr

TABLE = "units"


class UnitChoiceError(ValueError):
    """One row of the [units] table that cannot be used; `code` is the measure code written."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DisplayUnits:
    """The clinic's unit per measure; measures not listed are shown in their canonical unit.

    `chosen` holds (measure code, UCUM unit) pairs, sorted, each unit spelled as the catalogue
    spells it; a tuple so that a protocol holding it stays hashable and comparable."""

    chosen: tuple[tuple[str, str], ...] = ()

    def unit(self, code: str) -> str:
        """The UCUM code of the unit the clinic uses for `code`."""
        return dict(self.chosen).get(code) or MEASURES[code].unit

    def conversion(self, code: str) -> UnitConversion:
        m = MEASURES[code]
        return m.conversion_for(self.unit(code)) or UnitConversion(m.unit, m.unit_label, 1.0)

    def label(self, code: str) -> str:
        """The unit as people read it beside a value of `code` ("µmol/L")."""
        return self.conversion(code).label

    def is_canonical(self, code: str) -> bool:
        return same_unit(self.unit(code), MEASURES[code].unit)

    def to_display(self, code: str, canonical: float) -> float:
        """A canonical value in the clinic's unit (rounded as stored values are: 0.1 * 10 is 1)."""
        if self.is_canonical(code):
            return canonical
        return round_sig(self.conversion(code).from_canonical(canonical))

    def to_canonical(self, code: str, shown: float) -> float:
        if self.is_canonical(code):
            return shown
        return round_sig(self.conversion(code).to_canonical(shown))

    def decimals(self, code: str) -> int:
        """Decimals a value of `code` is written with in the clinic's unit: the catalogue's
        decimals, shifted by the factor's order of magnitude (creatinine 1.23 mg/dL is 109 µmol/L,
        haemoglobin 13.1 g/dL is 131 g/L, glucose 99 mg/dL is 5.5 mmol/L)."""
        m = MEASURES[code]
        if self.is_canonical(code):
            return m.decimals
        return max(m.decimals + round(math.log10(self.conversion(code).factor)), 0)

    def number(self, code: str, canonical: float, entered: float | None = None,
               entered_unit: str | None = None) -> str:
        """A value of `code` written in the clinic's unit, without the unit. A number typed in
        that very unit is shown as typed (88.4 µmol/L stays 88.4, never 88.4 -> 1.0 -> 88.42)."""
        if self.is_canonical(code):
            return format_measure_value(code, canonical)
        decimals = self.decimals(code)
        if entered is not None and entered_unit and same_unit(entered_unit, self.unit(code)):
            typed = format_number(entered)
            decimals = max(decimals, len(typed.partition(".")[2]))
            value = entered
        else:
            value = self.to_display(code, canonical)
        text = f"{float(value):.{decimals}f}"
        return text.lstrip("-") if float(text) == 0 else text

    def text(self, code: str, canonical: float, entered: float | None = None, entered_unit: str | None = None) -> str:
        """The value and its unit as a person reads them: "88.4 µmol/L"."""
        return f"{self.number(code, canonical, entered, entered_unit)} {self.label(code)}".strip()

    def quote(self, code: str, canonical: float) -> str:
        """A value, limit or threshold of `code` (given in the canonical unit) as a sentence
        quotes it in the clinic's unit, at that unit's decimals (creatinine 10 mg/dL is 884
        µmol/L); in the canonical unit as the flag texts always wrote it (16.8, 0.25, 640)."""
        if self.is_canonical(code):
            return format_number(canonical, 3)
        return format_number(self.to_display(code, canonical), self.decimals(code))

    def range_text(self, code: str, low: float | None, high: float | None) -> str:
        """A range of `code` in the clinic's unit, written as `catalogue.Range.text` writes it."""
        lo = self.quote(code, low) if low is not None else None
        hi = self.quote(code, high) if high is not None else None
        if lo is not None and hi is not None:
            return f"{lo}–{hi}"
        if hi is not None:
            return f"≤ {hi}"
        if lo is not None:
            return f"≥ {lo}"
        return ""

    def as_table(self) -> dict[str, str]:
        return dict(self.chosen)


CANONICAL = DisplayUnits()


def _choosable(m: Measure) -> bool:
    return m.kind is MeasureKind.QUANTITY and bool(m.alternatives)


def choosable_units(code: str) -> tuple[str, ...]:
    """The units a clinic may choose for `code`: the canonical unit and the catalogue's alternatives."""
    m = MEASURES[code]
    return m.accepted_units if _choosable(m) else (m.unit,)


def parse_units(table: Mapping[str, object]) -> DisplayUnits:
    """Check the protocol's [units] table; raise UnitChoiceError naming the measure and the rule."""
    chosen: dict[str, str] = {}
    for code, unit in table.items():
        m = MEASURES.get(code)
        if m is None:
            raise UnitChoiceError(code, tr("'{code}' is not a measure of the catalogue; the [units] table names "
                                           "measures by their code, for example creatinine = \"umol/L\"").format(code=code))
        if not isinstance(unit, str) or not unit.strip():
            raise UnitChoiceError(code, tr("the unit of {name} must be a UCUM code in quotes, for example "
                                           "\"{unit}\"").format(name=m.label, unit=m.unit))
        conv = m.conversion_for(unit) if _choosable(m) or same_unit(unit, m.unit) else None
        if conv is None:
            raise UnitChoiceError(code, tr("{name} cannot be shown in '{unit}': the catalogue converts it only to "
                                           "{units}").format(name=m.label, unit=unit,
                                                             units=", ".join(f'"{u}"' for u in choosable_units(code))))
        if not same_unit(conv.unit, m.unit):
            chosen[code] = conv.unit  # the catalogue's spelling; the canonical unit needs no row
    return DisplayUnits(tuple(sorted(chosen.items())))


def units_toml(units: DisplayUnits) -> str:
    """The [units] table as protocol-file text (empty when every measure is canonical)."""
    if not units.chosen:
        return ""
    rows = "".join(f'{code} = "{unit}"\n' for code, unit in units.chosen)
    return f"[{TABLE}]\n{rows}"


_TABLE_HEADER = re.compile(r"^\s*\[\s*" + TABLE + r"\s*\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


def with_units(text: str, units: DisplayUnits) -> str:
    """A protocol file's text with its [units] table replaced by `units` (every other line kept
    as it is; the table is written last, or left out when every measure is canonical)."""
    lines = text.splitlines()
    kept: list[str] = []
    inside = False
    for line in lines:
        if _TABLE_HEADER.match(line):
            inside = True
            continue
        if inside and _ANY_HEADER.match(line):
            inside = False
        if not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    table = units_toml(units)
    return "\n".join(kept) + "\n" + (f"\n{table}" if table else "")
