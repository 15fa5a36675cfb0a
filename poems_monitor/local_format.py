"""Dates, decimals, counts and lists as the user's language writes them on screen and on paper.

French reads "2 déc. 2026" and "1,5"; Japanese "2026/12/02" and "1.5" (Babel's CLDR data for the
language `i18n` chose). English, the source language, keeps the ISO dates and decimal points the
program has always shown. Files, the database, exports and `--json` never use these: they stay ISO
and canonical. Typed numbers are read by `domain.numbers.read_number`, which takes a decimal point
or a decimal comma in every language. Lists joined in a sentence: `i18n.and_list`.
"""

from __future__ import annotations

from datetime import date

from poems_monitor import i18n


def _babel_locale() -> str | None:
    """The language to format for, or None for the source language's own ISO/point forms."""
    language = i18n.current_language()
    return None if language == i18n.SOURCE_LANGUAGE else language


def day(value: date | None, missing: str = "", numeric: bool = False) -> str:
    """A calendar day: 2026-12-02 (English), 2 déc. 2026, 2026/12/02; `numeric` where room is short
    (the dashboard header's fields): 02/12/2026, 2026/12/02."""
    if value is None:
        return missing
    locale = _babel_locale()
    if locale is None:
        return value.isoformat()
    from babel.dates import format_date

    return format_date(value, "short" if numeric else "medium", locale=locale)


def decimal_text(text: str) -> str:
    """A number already written with a decimal point ("16.8", "<0.5", "12–16"), with the language's
    decimal sign instead ("16,8")."""
    locale = _babel_locale()
    if locale is None:
        return text
    from babel.numbers import get_decimal_symbol

    symbol = get_decimal_symbol(locale)
    return text if symbol == "." else text.replace(".", symbol)


def count_text(n: int) -> str:
    """A count with the language's digit grouping: 131,373 (English, Japanese), 131 373 (French),
    so that the five- and six-digit counts of a large clinic read at a glance."""
    locale = _babel_locale()
    if locale is None:
        return f"{n:,}"  # (Babel's number data costs about 0.1 s to load: not at every start in English)
    from babel.numbers import format_decimal

    return format_decimal(n, locale=locale)
