"""The font with the Japanese glyphs: the bundle's own, else one the system has.

The bundle carries VL PGothic (`fonts/VL-PGothic-Regular.ttf`, 4.1 MB, M+ / Sazanami / BSD
licences, copied by `packaging/build` from Debian's fonts-vlgothic): a Japanese design (kanji in
Japanese forms, unlike Droid Sans Fallback's Chinese ones) of the kana and of every JIS X 0208
kanji, so a name typed in kanji prints. It was chosen over IPAex Gothic (6.1 MB) because IPAex
maps the Kangxi radicals (U+2F00...) to the same glyphs as the common kanji, and Qt's PDF writer
then names the lowest code point in the text layer: "山田" is copied and searched as "⼭⽥".
A clinic workstation may have no CJK font at all, so the bundle's file is registered with Qt
first; from a source checkout (no bundled file) the system's Japanese or CJK family is used. Registered as an application font, it also becomes a fallback for every widget
and chart label, so the Japanese screens show no missing-glyph boxes either.
"""

from __future__ import annotations

from functools import lru_cache

from poems_monitor import shipped

BUNDLED_JAPANESE_FONT = "fonts/VL-PGothic-Regular.ttf"
BUNDLED_JAPANESE_FONT_LICENCE = "fonts/VL-PGothic.LICENSE.txt"  # the licence text as its source ships it
# Japanese designs first (those whose text layer stays searchable before IPA's); Droid Sans
# Fallback (Debian's default CJK fallback) draws kanji in Chinese forms: the last resort.
SYSTEM_JAPANESE_FAMILIES = ("VL PGothic", "VL Gothic", "Yu Gothic", "Meiryo", "Hiragino Sans", "Noto Sans CJK JP",
                            "TakaoPGothic", "IPAPGothic", "IPAexGothic", "Droid Sans Fallback")


@lru_cache(maxsize=1)
def japanese_family() -> str | None:
    """The family that draws Japanese text, or None when neither the bundle nor the system has
    one. Needs a QGuiApplication."""
    from PySide6.QtGui import QFontDatabase

    bundled = shipped.find(BUNDLED_JAPANESE_FONT)
    if bundled is not None:
        font_id = QFontDatabase.addApplicationFont(str(bundled))
        families = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
        if families:
            return families[0]
    available = set(QFontDatabase.families())
    return next((family for family in SYSTEM_JAPANESE_FAMILIES if family in available), None)


def with_japanese_fallback(families: list[str]) -> list[str]:
    """`families` (Latin designs, in order of preference) and last the Japanese family: Qt takes
    each character from the first family in the list that has it."""
    family = japanese_family()
    return [*families, family] if family and family not in families else list(families)
