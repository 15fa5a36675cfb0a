"""What every input must be before it is believed: dates, numbers, text and MRNs.

Owns the rules every reader shares (timeline JSON, lab CSV, the entry form, the command line):
- dates are written YYYY-MM-DD in ASCII digits (no ISO week or ordinal dates, no full-width or
  Arabic-Indic digits) and fall between 1900-01-01 and today;
- numbers are finite, written in ASCII digits, and not absurdly long (a huge integer is refused,
  never turned into infinity or an overflow);
- text is Unicode NFC, without lone surrogates (they cannot be stored or printed) or NUL;
- an MRN holds no control, format (bidi override, zero-width) or separator characters, and two
  MRNs that differ only by case are the same patient (`mrn_key`);
- a list of problems is shown as its first 100 and a count of the rest (reading stops at 1000).
Pure: no Qt, SQL, files or clock ("today" is a parameter).
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date

from poems_monitor.i18n import tr

EARLIEST_DATE = date(1900, 1, 1)  # no patient followed today was born or seen before it
MAX_PROBLEMS_SHOWN = 100
MAX_PROBLEMS_COUNTED = 1000  # then reading stops: a file this wrong is not worth reading to its end
MAX_NUMBER_CHARACTERS = 40  # "-1.234567890123456789e+300" fits; a 5000-digit integer does not

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def parse_iso_date(text: str) -> date | None:
    """The date written exactly YYYY-MM-DD in ASCII digits, else None (2024-W10-1, 2024-001 and
    ２０２４-０１-０１ are not accepted, although Python's own parser takes some of them)."""
    if not isinstance(text, str) or not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date(int(text[:4]), int(text[5:7]), int(text[8:]))
    except ValueError:
        return None


def date_range_problem(value: date, today: date, field: str) -> str | None:
    """Why `value` cannot be a clinical date (before 1900 or after today), or None."""
    if value < EARLIEST_DATE:
        return tr("{field} {value} is before {earliest}: check the year").format(
            field=field, value=value.isoformat(), earliest=EARLIEST_DATE.isoformat())
    if value > today:
        return tr("{field} {value} is in the future (today is {today})").format(
            field=field, value=value.isoformat(), today=today.isoformat())
    return None


def finite_number(value: object) -> float | None:
    """A JSON/Python number or a number written in ASCII as a finite float, else None: booleans,
    NaN, infinities, huge integers and non-ASCII digits are not numbers here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if abs(value) >= 10 ** MAX_NUMBER_CHARACTERS:  # compare before converting: 10**400 overflows a float
            return None
        number = float(value)
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_CHARACTERS or not _NUMBER.fullmatch(text):
            return None
        number = float(text)
    else:
        return None
    return number if math.isfinite(number) else None


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text (a lone surrogate or a NUL), or None."""
    if "\x00" in value:
        return tr("holds a NUL character")
    if not value.isascii() and any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):  # ASCII: no surrogate
        return tr("holds a broken character (a lone UTF-16 surrogate)")
    return None


def normalise_text(value: str) -> str:
    """NFC, so that the same letters typed or imported differently are the same text."""
    return unicodedata.normalize("NFC", value)


def mrn_problem(mrn: str) -> str | None:
    """Why `mrn` (already stripped) cannot be an MRN, or None. Invisible or direction-changing
    characters would make two different-looking MRNs equal, or two equal-looking ones differ."""
    problem = text_problem(mrn)
    if problem:
        return tr("MRN {problem}").format(problem=problem)
    for ch in mrn:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Co", "Cn", "Zl", "Zp") or (category == "Zs" and ch != " "):
            return tr("MRN holds an invisible or control character (U+{code:04X}); type it again by hand").format(
                code=ord(ch))
    return None


def mrn_key(mrn: str) -> str:
    """The form two MRNs are compared in: NFC, trimmed, case-folded (h-000123 is H-000123)."""
    return unicodedata.normalize("NFC", mrn.strip()).casefold()


def capped(problems: list, total: int | None = None) -> tuple[list, int]:
    """The first MAX_PROBLEMS_SHOWN problems and how many more there are."""
    total = len(problems) if total is None else total
    shown = problems[:MAX_PROBLEMS_SHOWN]
    return shown, max(0, total - len(shown))
