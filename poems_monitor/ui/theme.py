"""Colours, fonts and spacing of the desktop app: light, dark and high contrast.

Owns the palette: the Okabe–Ito colour-blind-safe set for data series (every series also has its
own marker symbol and line style, so colour is never the only signal), neutral surfaces that
follow the system's light or dark scheme (and its high-contrast setting), and one style sheet,
which also draws the keyboard focus as a 2-pixel frame in the accent colour on every control.
Widgets ask `theme()` for colours instead of naming them.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}

SPACING = 8  # the one spacing unit: margins and gaps are multiples of it


@dataclass(frozen=True)
class SeriesStyle:
    colour: str
    symbol: str  # pyqtgraph symbol: o s t d + x star h p
    dash: Qt.PenStyle
    label: str = ""


# Each chart series: colour + symbol + dash, distinct within its chart even in grey scale.
SERIES_STYLES: dict[str, SeriesStyle] = {
    "vegf_plasma": SeriesStyle(OKABE_ITO["blue"], "o", Qt.PenStyle.SolidLine),
    "vegf_serum": SeriesStyle(OKABE_ITO["vermillion"], "s", Qt.PenStyle.DashLine),
    "platelets": SeriesStyle(OKABE_ITO["blue"], "o", Qt.PenStyle.SolidLine),
    "hemoglobin": SeriesStyle(OKABE_ITO["vermillion"], "t", Qt.PenStyle.DashLine),
    "fvc_pct": SeriesStyle(OKABE_ITO["blue"], "o", Qt.PenStyle.SolidLine),
    "dlco_pct": SeriesStyle(OKABE_ITO["vermillion"], "s", Qt.PenStyle.DashLine),
    "tlc_pct": SeriesStyle(OKABE_ITO["green"], "t", Qt.PenStyle.DotLine),
    "onls": SeriesStyle(OKABE_ITO["blue"], "o", Qt.PenStyle.SolidLine),
    "onls_arm": SeriesStyle(OKABE_ITO["sky"], "t", Qt.PenStyle.DashLine),
    "onls_leg": SeriesStyle(OKABE_ITO["orange"], "s", Qt.PenStyle.DotLine),
    "incat": SeriesStyle(OKABE_ITO["green"], "d", Qt.PenStyle.DashDotLine),
    "mrs": SeriesStyle(OKABE_ITO["purple"], "star", Qt.PenStyle.DashDotDotLine),
    "pasp": SeriesStyle(OKABE_ITO["vermillion"], "s", Qt.PenStyle.SolidLine),
    "lvef": SeriesStyle(OKABE_ITO["blue"], "o", Qt.PenStyle.DashLine),
}


@dataclass(frozen=True)
class Theme:
    dark: bool
    window: str
    surface: str  # cards, charts
    surface_alt: str  # alternate rows, bands
    border: str
    text: str
    text_muted: str
    accent: str
    therapy_band: str  # lines of therapy behind the charts (with alpha)
    therapy_band_alt: str
    reference_band: str
    threshold: str
    critical: str
    warning: str
    info: str
    ok: str
    highlight: str  # flagged points ring

    @property
    def selected_text(self) -> str:
        """Text on the accent colour (selected rows, checked buttons): black on a bright accent
        (the dark theme's sky blue, the high-contrast yellow), white on a deep one."""
        c = QColor(self.accent)
        return "#000000" if 0.299 * c.red() + 0.587 * c.green() + 0.114 * c.blue() > 150 else "#FFFFFF"

    def severity_colour(self, severity: str) -> str:
        return {"critical": self.critical, "warning": self.warning}.get(severity, self.info)

    def qcolor(self, name: str, alpha: int | None = None) -> QColor:
        colour = to_qcolor(getattr(self, name) if hasattr(self, name) else name)
        if alpha is not None:
            colour.setAlpha(alpha)
        return colour


def to_qcolor(text: str) -> QColor:
    """"#RRGGBB" or CSS-style "#RRGGBBAA" (Qt itself reads 8 digits as #AARRGGBB)."""
    if len(text) == 9 and text.startswith("#"):
        r, g, b, a = (int(text[i:i + 2], 16) for i in (1, 3, 5, 7))
        return QColor(r, g, b, a)
    return QColor(text)


LIGHT = Theme(
    dark=False, window="#F4F5F7", surface="#FFFFFF", surface_alt="#F0F2F5", border="#D5D9E0", text="#1C2430",
    text_muted="#5B6676", accent="#0072B2", therapy_band="#56B4E92E", therapy_band_alt="#E69F0029",
    reference_band="#009E731F", threshold="#6B7280", critical="#D55E00", warning="#B07A00", info="#0072B2",
    ok="#009E73", highlight="#D55E00",
)
DARK = Theme(
    dark=True, window="#181B20", surface="#22262D", surface_alt="#2A2F37", border="#3A404A", text="#E6E9EE",
    text_muted="#A2AAB6", accent="#56B4E9", therapy_band="#56B4E933", therapy_band_alt="#E69F002E",
    reference_band="#009E7333", threshold="#9AA3AF", critical="#FF8A3D", warning="#F0E442", info="#56B4E9",
    ok="#2FC39A", highlight="#FF8A3D",
)

# White and yellow on black: text 21:1, muted text and borders above 7:1, focus and selection
# yellow (19:1); the data series keep their colours (each also has its symbol and dash).
HIGH_CONTRAST = Theme(
    dark=True, window="#000000", surface="#000000", surface_alt="#1A1A1A", border="#FFFFFF", text="#FFFFFF",
    text_muted="#E0E0E0", accent="#FFFF00", therapy_band="#56B4E947", therapy_band_alt="#E69F0047",
    reference_band="#009E7347", threshold="#FFFFFF", critical="#FF8A3D", warning="#FFFF00", info="#56B4E9",
    ok="#2FC39A", highlight="#FF8A3D",
)

_current: Theme = LIGHT


def theme() -> Theme:
    return _current


def set_theme(t: Theme) -> Theme:
    """Make `t` the theme that `theme()` and `series_colour()` answer with (without touching the
    application's palette or style sheet); returns the previous one. Used by print copies of the
    charts, which are drawn in the light theme whatever the screen shows."""
    global _current
    previous, _current = _current, t
    return previous


def system_prefers_dark() -> bool:
    app = QGuiApplication.instance()
    if app is None:
        return False
    try:
        return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
    except AttributeError:  # older Qt: guess from the window colour
        return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def system_prefers_high_contrast() -> bool:
    app = QGuiApplication.instance()
    if app is None:
        return False
    try:
        hints = QGuiApplication.styleHints()  # (held: a chained call lets Python free them too early)
        accessibility = hints.accessibility()
        return accessibility.contrastPreference() == Qt.ContrastPreference.HighContrast
    except AttributeError:  # Qt before 6.10 cannot tell
        return False


def series_style(code: str) -> SeriesStyle:
    return SERIES_STYLES.get(code, SeriesStyle(OKABE_ITO["black"], "o", Qt.PenStyle.SolidLine))


def series_colour(code: str) -> str:
    style = series_style(code)
    if _current.dark and style.colour == OKABE_ITO["blue"]:
        return OKABE_ITO["sky"]  # blue on a dark surface is too dim
    if _current.dark and style.colour == OKABE_ITO["black"]:
        return "#E6E9EE"
    return style.colour


def apply_theme(app, dark: bool | None = None, high_contrast: bool | None = None) -> Theme:  # noqa: ANN001
    """Set the palette, font and style sheet on `app`; returns the theme in use. None: as the
    system prefers (dark scheme, high contrast)."""
    global _current
    if high_contrast is None:
        high_contrast = system_prefers_high_contrast()
    if dark is None:
        dark = system_prefers_dark()
    _current = HIGH_CONTRAST if high_contrast else DARK if dark else LIGHT
    t = _current
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: t.window, QPalette.ColorRole.WindowText: t.text, QPalette.ColorRole.Base: t.surface,
        QPalette.ColorRole.AlternateBase: t.surface_alt, QPalette.ColorRole.Text: t.text,
        QPalette.ColorRole.Button: t.surface, QPalette.ColorRole.ButtonText: t.text,
        QPalette.ColorRole.Highlight: t.accent, QPalette.ColorRole.HighlightedText: t.selected_text,
        QPalette.ColorRole.ToolTipBase: t.surface, QPalette.ColorRole.ToolTipText: t.text,
        QPalette.ColorRole.PlaceholderText: t.text_muted, QPalette.ColorRole.Link: t.accent,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(t.text_muted))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(t.text_muted))
    app.setPalette(pal)
    font = QFont(app.font())
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
    app.setFont(font)
    app.setStyleSheet(style_sheet(t))
    return t


def style_sheet(t: Theme) -> str:
    return _style_sheet(t) + (_high_contrast_sheet(t) if t == HIGH_CONTRAST else "")


def _high_contrast_sheet(t: Theme) -> str:
    """Fusion draws control outlines a shade darker than the window: on black, none. Here every
    field, list and check box has a white edge, and a ticked box is filled with the accent."""
    return f"""
QComboBox, QAbstractSpinBox {{ border: 1px solid {t.border}; padding: 1px 4px; }}
QPlainTextEdit, QTextEdit, QListView, QTreeView {{ border: 1px solid {t.border}; }}
QCheckBox::indicator, QRadioButton::indicator {{ width: 12px; height: 12px; border: 2px solid {t.text};
                                                background: {t.surface}; }}
QRadioButton::indicator {{ border-radius: 8px; }}
QCheckBox::indicator:checked, QRadioButton::indicator:checked {{ background: {t.accent}; }}
QCheckBox::indicator:disabled, QRadioButton::indicator:disabled {{ border-color: {t.text_muted}; }}
"""


def _style_sheet(t: Theme) -> str:
    return f"""
QMainWindow, QWidget#centre {{ background: {t.window}; }}
QFrame#card {{ background: {t.surface}; border: 1px solid {t.border}; border-radius: 6px; }}
QLabel#title {{ font-size: 17pt; font-weight: 600; color: {t.text}; }}
QLabel#subtitle {{ color: {t.text_muted}; }}
QLabel#section {{ font-weight: 600; font-size: 11pt; color: {t.text}; }}
QLabel#muted {{ color: {t.text_muted}; }}
QLabel#fieldName {{ color: {t.text_muted}; font-size: 9pt; }}
QLabel#fieldValue {{ color: {t.text}; font-weight: 600; }}
QLabel#placeholder {{ color: {t.text_muted}; font-size: 12pt; }}
QLineEdit {{ padding: 5px 8px; border: 1px solid {t.border}; border-radius: 4px; background: {t.surface}; }}
QLineEdit:focus {{ border: 2px solid {t.accent}; padding: 4px 7px; }}
QTableView {{ background: {t.surface}; alternate-background-color: {t.surface_alt}; border: 1px solid {t.border};
             gridline-color: {t.border}; selection-background-color: {t.accent};
             selection-color: {t.selected_text}; }}
QHeaderView::section {{ background: {t.surface_alt}; color: {t.text_muted}; border: none;
                        border-bottom: 1px solid {t.border}; padding: 4px 6px; font-weight: 600; }}
QTabWidget::pane {{ border: none; }}
QTabBar::tab {{ padding: 6px 14px; border: none; color: {t.text_muted}; background: transparent; }}
QTabBar::tab:selected {{ color: {t.text}; border-bottom: 2px solid {t.accent}; font-weight: 600; }}
QPushButton {{ padding: 4px 12px; border: 1px solid {t.border}; border-radius: 4px; background: {t.surface}; }}
QPushButton:hover {{ border-color: {t.accent}; }}
QPushButton:checked {{ background: {t.accent}; color: {t.selected_text}; border-color: {t.accent}; }}
QPushButton:focus {{ border: 2px solid {t.accent}; padding: 3px 11px; }}
QPushButton:checked:focus {{ border-color: {t.text}; }}
QPushButton:disabled {{ color: {t.text_muted}; }}
QToolTip {{ background: {t.surface}; color: {t.text}; border: 1px solid {t.border}; padding: 4px; }}
QScrollArea {{ border: none; background: transparent; }}
QStatusBar {{ color: {t.text_muted}; }}
QFrame#flagCard {{ background: {t.surface}; border: 1px solid {t.border}; border-left: 4px solid {t.info};
                   border-radius: 4px; }}
QFrame#flagCard[severity="critical"] {{ border-left-color: {t.critical}; }}
QFrame#flagCard[severity="warning"] {{ border-left-color: {t.warning}; }}
QFrame#flagCard[severity="acknowledged"] {{ border-left-color: {t.border}; }}
QLabel#flagBadge {{ font-weight: 600; color: {t.info}; }}
QLabel#flagBadge[severity="critical"] {{ color: {t.critical}; }}
QLabel#flagBadge[severity="warning"] {{ color: {t.warning}; }}
QLabel#flagBadge[severity="acknowledged"] {{ color: {t.text_muted}; }}
QLabel#flagKind {{ font-weight: 600; }}
QLabel#flagAcknowledged {{ color: {t.ok}; }}
QSplitter::handle {{ background: {t.window}; }}
QAbstractItemView:focus, QAbstractScrollArea:focus {{ border: 2px solid {t.accent}; }}
QTabBar::tab:focus {{ border: 2px solid {t.accent}; }}
QCheckBox:focus, QRadioButton:focus, QToolButton:focus {{ border: 2px solid {t.accent}; border-radius: 3px; }}
QComboBox:focus, QAbstractSpinBox:focus {{ border: 2px solid {t.accent}; border-radius: 3px; padding: 1px 4px; }}
"""
