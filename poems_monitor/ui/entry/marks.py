"""How a field shows its state: the three entry tiers and inline problems.

Owns the look of a marked field (a coloured border *and* a symbol with words beside it: colour
is never the only signal) and the Okabe-Ito colours used for it, so the entry form and the
dialogs mark fields the same way. No services, no database.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from poems_monitor.domain.validation import Tier
from poems_monitor.i18n import tr

# Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
VERMILLION = "#D55E00"
ORANGE = "#E69F00"
BLUE = "#0072B2"
GREEN = "#009E73"
FOCUS_TINT = "#FFF4C2"  # the focused field's fill (light theme)

# tier -> (border colour, symbol, short word)
TIER_MARKS: dict[str, tuple[str, str, str]] = {
    Tier.REFUSED.value: (VERMILLION, "✖", tr("not possible")),
    Tier.CRITICAL.value: (ORANGE, "⚠", tr("critical")),
    Tier.OUT_OF_RANGE.value: (BLUE, "●", tr("out of range")),
}

def mark_style() -> str:
    """The style sheet of marked fields, in the current theme's colours (light or dark).

    Applied to every widget that can carry a mark; keyed on the dynamic property "tier".
    """
    try:
        from poems_monitor.ui.theme import theme

        t = theme()
        refused, critical, info, ok = t.critical, t.warning, t.info, t.ok
        ring, tint = t.text, ("#3B3522" if t.dark else FOCUS_TINT)
    except ImportError:  # the theme module is optional for this module
        refused, critical, info, ok = VERMILLION, ORANGE, BLUE, GREEN
        ring, tint = "#1C2430", FOCUS_TINT
    # Focus first: a dark ring and a pale yellow fill, in no tier's colour (the app's blue focus
    # border looked exactly like the blue "out of range" mark). The tier rules come after and
    # keep their border on a focused field; the fill still says where the focus is.
    return f"""
QLineEdit:focus, QComboBox:focus, QDateEdit:focus, QPlainTextEdit:focus, QListWidget:focus {{
    border: 2px solid {ring}; border-radius: 3px; background: {tint}; }}
FeatureChoice:focus {{ border: 2px solid {ring}; border-radius: 4px; background: {tint}; }}
QPushButton:focus, QCheckBox:focus, QToolButton:focus {{ outline: none; border: 2px solid {ring}; border-radius: 4px; }}
FeatureChoice QToolButton {{ border: 1px solid palette(mid); padding: 2px 7px; background: palette(base);
    color: palette(text); }}
FeatureChoice QToolButton:checked {{ background: {ring}; color: palette(base); font-weight: 600; }}
FeatureChoice QToolButton[answer="unknown"]:checked {{ background: palette(midlight); color: palette(text);
    font-weight: normal; }}
QLineEdit[tier="refused"], QComboBox[tier="refused"], QDateEdit[tier="refused"], QPlainTextEdit[tier="refused"] {{
    border: 2px solid {refused}; border-radius: 3px; }}
QLineEdit[tier="critical"], QComboBox[tier="critical"] {{ border: 2px solid {critical}; border-radius: 3px; }}
QLineEdit[tier="out_of_range"], QComboBox[tier="out_of_range"] {{ border: 2px solid {info}; border-radius: 3px; }}
QLabel[role="problem"] {{ color: {refused}; }}
QLabel[mark="refused"] {{ color: {refused}; font-weight: 600; }}
QLabel[mark="critical"] {{ color: {critical}; font-weight: 600; }}
QLabel[mark="out_of_range"] {{ color: {info}; font-weight: 600; }}
QLabel[mark="hint"], QLabel[role="hint"] {{ color: palette(placeholder-text); }}
QLabel[role="section-note"] {{ color: palette(placeholder-text); }}
QFrame[role="banner"] {{ border: 1px solid {refused}; border-left: 5px solid {refused};
    border-radius: 4px; background: palette(base); }}
QFrame[role="confirm-banner"] {{ border: 1px solid {critical}; border-left: 5px solid {critical};
    border-radius: 4px; background: palette(base); }}
QFrame[role="ok-banner"] {{ border: 1px solid {ok}; border-left: 5px solid {ok};
    border-radius: 4px; background: palette(base); }}
"""


def set_tier(widget: QWidget, tier: str | None, prop: str = "tier") -> None:
    """Mark `widget` with a tier ("refused", "critical", "out_of_range") or clear the mark."""
    value = tier or ""
    if widget.property(prop) == value:
        return
    widget.setProperty(prop, value)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


def problem_label(parent: QWidget | None = None) -> QLabel:
    """An inline problem line under a dialog field: hidden until there is a problem."""
    label = QLabel(parent)
    label.setProperty("role", "problem")
    label.setWordWrap(True)
    label.setVisible(False)
    return label


def show_problem(label: QLabel, message: str | None, field: QWidget | None = None) -> None:
    if message:
        label.setText(f"✖ {message}")
        label.setVisible(True)
    else:
        label.clear()
        label.setVisible(False)
    if field is not None:
        set_tier(field, "refused" if message else None)
        field.setToolTip(message or "")
