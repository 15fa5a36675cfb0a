"""Input that must never change a value by accident: the mouse wheel and Alt+letter.

The wheel. Qt lets a combo box, spin box or date edit change its value when the wheel turns over it, even
without a click: a nurse scrolling a long visit form would silently change an immunofixation
result or an ONLS grade on the way down. Guarded controls hand the wheel to the scroll area
they sit in (or drop it when there is none, as in a dialog). A combo box that is open scrolls
its own list, which is a separate popup window and not affected.

Alt+letter. A mnemonic (Alt+S: Save) is handled as a shortcut before the key reaches the field;
an Alt+letter that is no mnemonic of the window would otherwise be typed into the text field
that has the focus ("s" in the reason of a correction). Guarded text fields drop it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QPlainTextEdit, QWidget,
)

_GUARDED = (QComboBox, QAbstractSpinBox)


class _WheelGuard(QObject):
    def __init__(self, parent: QWidget, fallback: QAbstractScrollArea | None):
        super().__init__(parent)
        self._fallback = fallback

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget):
            return False
        area = _scroll_area_of(watched) or self._fallback
        if area is not None:
            bar = area.verticalScrollBar() if abs(event.angleDelta().y()) >= abs(event.angleDelta().x()) \
                else area.horizontalScrollBar()
            QApplication.sendEvent(bar, event)
        return True  # the control itself never sees the wheel


def _scroll_area_of(widget: QWidget) -> QAbstractScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea):
            return parent
        parent = parent.parentWidget()
    return None


def guard_wheel(root: QWidget, fallback: QAbstractScrollArea | None = None) -> None:
    """Make every combo box, spin box and date edit under `root` (and `root`) ignore the wheel.

    The wheel goes to the scroll area the control sits in, else to `fallback` (a form's header
    scrolls the form's body), else nowhere. Idempotent: call it again after adding controls.
    Focus stays reachable by Tab and click (StrongFocus), not by the wheel.
    """
    guard = _WheelGuard(root, fallback)
    widgets = [w for w in [root, *root.findChildren(QWidget)]
               if isinstance(w, _GUARDED) or getattr(w, "wheel_scrolls_form", False)]
    for widget in widgets:
        if widget.property("wheel_guarded"):
            continue
        widget.setProperty("wheel_guarded", True)
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        widget.installEventFilter(guard)


class _AltTypingGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() != QEvent.Type.KeyPress:
            return False
        modifiers = event.modifiers()
        alt_only = modifiers & Qt.KeyboardModifier.AltModifier and not modifiers & Qt.KeyboardModifier.ControlModifier
        return bool(alt_only and event.text() and event.text().isprintable())  # AltGr (Ctrl+Alt) still types


def guard_alt_typing(root: QWidget) -> None:
    """Text fields under `root` never type the letter of an Alt+letter (no mnemonic took it)."""
    guard = None
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, (QLineEdit, QPlainTextEdit)) or widget.property("alt_guarded"):
            continue
        guard = guard or _AltTypingGuard(root)
        widget.setProperty("alt_guarded", True)
        widget.installEventFilter(guard)


__all__ = ["guard_alt_typing", "guard_wheel"]
