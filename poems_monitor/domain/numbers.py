"""How the app writes numbers and reads them back: one place for both directions.

Writing: values are printed with a decimal point and never with a thousands separator
("1240 pg/mL", not "1,240 pg/mL"), so a value copied from a tooltip, table or printed summary
reads back as itself.

Reading: a decimal point or a decimal comma is accepted ("13.1", "13,1"), but a number shaped
like a thousands grouping ("1,240", "12,345", "1.240,50", "1,240.50") has two plausible readings
(1240 or 1.24) and is refused with both readings named: a plasma VEGF of 1,240 silently read as
1.24 would pass every check. "0,125" (a leading zero) and "1.240" (a decimal point, the app's
own way of writing) are not ambiguous. Pure: no Qt, no locale of the machine.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from poems_monitor.i18n import tr

# one to three digits (not a lone 0), then groups of exactly three after commas
_COMMA_GROUPED = re.compile(r"^[1-9][0-9]{0,2}(,[0-9]{3})+$")
# grouping with one separator and a decimal part with the other: 1.240,50 or 1,240.50
_MIXED = re.compile(r"^[0-9]{1,3}(?P<g>[.,])[0-9]{3}((?P=g)[0-9]{3})*(?!(?P=g))[.,][0-9]+$")
_PLAIN = re.compile(r"^([0-9]+([.,][0-9]*)?|[.,][0-9]+)([eE][+-]?[0-9]+)?$")


@dataclass(frozen=True)
class NumberReading:
    """What `read_number` made of a text: a value, or the sentence saying why not."""

    value: float | None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.value is not None


def format_number(value: float, decimals: int | None = None) -> str:
    """`value` with a decimal point, no thousands separator, no needless trailing zeros.

    `decimals=None`: as many as needed, up to 6 (1240, 16.8, 0.25).
    """
    places = 6 if decimals is None else max(decimals, 0)
    text = f"{float(value):.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_measure_value(code: str, value: float) -> str:
    """A value of catalogue measure `code` at the catalogue's decimals, kept (13.0 g/dL), with a
    decimal point and no thousands separator (1240 pg/mL): tooltips, tables, the summary."""
    from poems_monitor.domain.catalogue import MEASURES  # the catalogue imports nothing from here

    m = MEASURES.get(code)
    decimals = max(m.decimals if m else 1, 0)
    text = f"{float(value):.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text


def read_number(text: str) -> NumberReading:
    """Read a typed or imported number (no qualifier): '13.1', '13,1', '1240'."""
    raw = text.strip()
    if not raw:
        return NumberReading(None, tr("no number given"))
    unsigned = raw[1:] if raw[:1] in "+-" else raw
    sign = -1.0 if raw[:1] == "-" else 1.0
    readings = _grouped_readings(unsigned)
    if readings is not None:
        grouped, decimal = readings
        if decimal is None:
            return NumberReading(None, tr("'{text}' looks like a number with thousands separators ({grouped}); "
                                          "write it without separators").format(text=raw, grouped=grouped))
        return NumberReading(None, tr("'{text}' could be {grouped} or {decimal}: write it without a thousands "
                                      "separator ({grouped}) or with a decimal point ({decimal})").format(
            text=raw, grouped=grouped, decimal=decimal))
    if not _PLAIN.match(unsigned):
        return NumberReading(None, tr("'{text}' is not a number").format(text=raw))
    number = sign * float(unsigned.replace(",", "."))
    if math.isnan(number) or math.isinf(number):
        return NumberReading(None, tr("'{text}' is not a number").format(text=raw))
    return NumberReading(number)


def _grouped_readings(text: str) -> tuple[str, str | None] | None:
    """(the thousands reading, the decimal-comma reading or None) when `text` looks grouped."""
    if _COMMA_GROUPED.match(text):
        grouped = text.replace(",", "")
        decimal = text.replace(",", ".") if text.count(",") == 1 else None
        return format_number(float(grouped)), (format_number(float(decimal)) if decimal else None)
    if _MIXED.match(text):
        last = max(text.rfind(","), text.rfind("."))
        whole = re.sub(r"[.,]", "", text[:last])
        return format_number(float(f"{whole}.{text[last + 1:]}")), None
    if re.match(r"^[0-9]{1,3}(\.[0-9]{3}){2,}$", text):  # 1.240.000: dots as grouping
        return format_number(float(text.replace(".", ""))), None
    return None


__all__ = ["NumberReading", "format_measure_value", "format_number", "read_number"]
