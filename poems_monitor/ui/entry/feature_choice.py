"""One feature of the visit form: present / absent / not recorded, answered with one key.

Owns the control and its keys: P (present), A (absent), N or Delete (not recorded) set the
answer and ask the form to move on (`answered`), Left/Right step through the three, Enter moves
on without changing anything. The three answers are buttons a mouse clicks once; all three are
always visible, so the state reads at a glance down a column of features. "Not recorded" is the
start state and is never taken for "absent".
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QToolButton, QWidget

from poems_monitor.domain.catalogue import FEATURES, FeatureState
from poems_monitor.i18n import tr
from poems_monitor.ui.shortcuts_help import declare_keys, key_text

# (state, button text, key)
_ANSWERS = (
    (FeatureState.PRESENT.value, tr("present"), Qt.Key.Key_P),
    (FeatureState.ABSENT.value, tr("absent"), Qt.Key.Key_A),
    (FeatureState.UNKNOWN.value, tr("not recorded"), Qt.Key.Key_N),
)
_CLEAR_KEYS = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)


class FeatureChoice(QWidget):
    """The answer for one feature code; `state()` is present | absent | unknown."""

    changed = Signal()
    answered = Signal()  # a key gave the answer: the form moves to the next field
    wheel_scrolls_form = True  # see ui.entry.input_guard

    def __init__(self, code: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.code = code
        self.setObjectName(f"feature_{code}")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(FEATURES[code].label)
        self.setToolTip(tr("P present · A absent · N not recorded"))
        where = tr("a feature of the visit form")
        declare_keys(self, [(key_text(key), tr("answer “{answer}”").format(answer=text), where) for _s, text, key in _ANSWERS]
                     + [(key_text(key), tr("clear the answer (not recorded)"), where) for key in _CLEAR_KEYS]
                     + [(key_text(Qt.Key.Key_Left) + " / " + key_text(Qt.Key.Key_Right), tr("previous / next answer"), where)])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(0)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self._buttons: dict[str, QToolButton] = {}
        for state, text, _key in _ANSWERS:
            button = QToolButton(self)
            button.setText(text)
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the row takes focus, not each button
            button.setProperty("answer", state)
            button.setObjectName(f"feature_{code}_{state}")
            self._group.addButton(button)
            self._buttons[state] = button
            layout.addWidget(button)
        self._buttons[FeatureState.UNKNOWN.value].setChecked(True)
        self._group.buttonToggled.connect(self._on_toggled)

    def state(self) -> str:
        button = self._group.checkedButton()
        return button.property("answer") if button is not None else FeatureState.UNKNOWN.value

    def set_state(self, state: str) -> None:
        self._buttons.get(state, self._buttons[FeatureState.UNKNOWN.value]).setChecked(True)

    def _on_toggled(self, _button: QToolButton, checked: bool) -> None:
        if checked:
            self.setProperty("answer", self.state())
            self.style().unpolish(self)
            self.style().polish(self)
            self.changed.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier & ~Qt.KeyboardModifier.ShiftModifier:
            super().keyPressEvent(event)  # Ctrl+S, Alt+mnemonics: for the form
            return
        for state, _text, key in _ANSWERS:
            if event.key() == key:
                self.set_state(state)
                self.answered.emit()
                return
        if event.key() in _CLEAR_KEYS:
            self.set_state(FeatureState.UNKNOWN.value)
            return
        if event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            order = [a[0] for a in _ANSWERS]
            step = 1 if event.key() == Qt.Key.Key_Right else -1
            self.set_state(order[(order.index(self.state()) + step) % len(order)])
            return
        super().keyPressEvent(event)


__all__ = ["FeatureChoice"]
