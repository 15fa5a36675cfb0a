"""User-visible text goes through `tr()`.

Owns the translation hook for the Qt-free layers. Today it returns the English source text
(gettext with a fallback); a later translation ships `.mo` catalogues under
`poems_monitor/resources/locale` without touching callers. The Qt layer may use Qt's own
`tr()` for widgets; both read the same source strings.
"""

from __future__ import annotations

import gettext
from pathlib import Path

_LOCALE_DIR = Path(__file__).parent / "resources" / "locale"
_translation = gettext.translation("poems_monitor", localedir=_LOCALE_DIR, fallback=True)


def tr(text: str) -> str:
    return _translation.gettext(text)


def ntr(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for a count `n` ("1 patient", "2 patients"), as gettext chooses
    it for the language; the caller formats `{n}` into it."""
    return _translation.ngettext(singular, plural, n)


def counted(n: int, singular: str, plural: str) -> str:
    """`n` with the right form of its noun: counted(1, "{n} patient", "{n} patients") -> "1 patient"."""
    return ntr(singular, plural, n).format(n=n)
