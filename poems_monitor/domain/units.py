"""Unit conversion between UCUM codes of one dimension.

Owns: the conversion record (factor and offset into a measure's canonical unit) and the
arithmetic, exact in both directions. It must not know which measure uses which unit: that is
the catalogue's job. Pure Python, no Qt, no SQL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UnitConversion:
    """canonical_value = entered_value * factor + offset.

    Most laboratory conversions are a plain factor (g/L to g/dL); HbA1c from IFCC mmol/mol to
    NGSP % is affine, hence the offset.
    """

    unit: str
    label: str
    factor: float
    offset: float = 0.0

    def to_canonical(self, value: float) -> float:
        return value * self.factor + self.offset

    def from_canonical(self, value: float) -> float:
        return (value - self.offset) / self.factor


def same_unit(a: str, b: str) -> bool:
    """UCUM codes are case-sensitive, but people type 'pg/ml' for 'pg/mL'; we accept a
    case-insensitive match and ignore surrounding blanks (no two accepted units of one measure
    differ only in case)."""
    return a.strip().lower() == b.strip().lower()


def round_sig(value: float, digits: int = 6) -> float:
    """Round a converted value so that 0.1 * 10 stays 1.0 in storage and exports."""
    if value == 0:
        return 0.0
    return float(f"{value:.{digits}g}")
