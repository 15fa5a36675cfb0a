"""The flags panel: the patient's flags, newest first, each with its explanation, and the
physician's acknowledgement (with a comment) shown beside the flag, never instead of it.

Owns the widgets. Acknowledging goes through the `acknowledge` callback the dashboard gives it
(which calls services.flag_review); a role that may not review sees the button disabled with the
reason, and the service refuses anyway.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QScrollArea, QSizePolicy,
    QVBoxLayout, QWidget,
)

from poems_monitor.domain.catalogue import display_name
from poems_monitor.i18n import tr
from poems_monitor.services.dashboard import FlagEntry
from poems_monitor.ui.theme import SPACING, theme

_SEVERITY_TEXT = {"critical": tr("‼ Critical"), "warning": tr("! Warning"), "info": tr("ℹ Info")}
_KIND_TEXT = {
    "new_feature": tr("New feature"), "feature_recurred": tr("Feature recurred"), "criteria_met": tr("Criteria met"),
    "vegf_rise": tr("VEGF rise"), "vegf_response": tr("VEGF response"), "thrombocytosis": tr("Thrombocytosis"),
    "polycythemia": tr("Polycythaemia"), "pft_decline": tr("PFT decline"), "neuropathy_worse": tr("Neuropathy worse"),
    "neuropathy_improved": tr("Neuropathy improved"), "thrombosis_watch": tr("Thrombosis watch"),
    "specimen_change": tr("Specimen change"),
}


class AcknowledgeDialog(QDialog):
    """Asks for the acknowledgement comment."""

    def __init__(self, entry: FlagEntry, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(tr("Acknowledge flag"))
        text = QLabel(entry.flag.message, self)
        text.setWordWrap(True)
        self.comment = QPlainTextEdit(self)
        self.comment.setPlaceholderText(tr("Comment (what was decided, or why no action is needed)"))
        self.comment.setTabChangesFocus(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(tr("Acknowledge"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.comment)
        layout.addWidget(buttons)
        self.resize(480, 260)


def ask_comment(entry: FlagEntry, parent: QWidget | None) -> str | None:
    """The comment, or None when the physician cancelled (tests replace this function)."""
    dialog = AcknowledgeDialog(entry, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.comment.toPlainText().strip()


class FlagCard(QFrame):
    acknowledgeClicked = Signal(str)

    def __init__(self, entry: FlagEntry, may_review: bool, refusal: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.entry = entry
        t = theme()
        f = entry.flag
        severity = f.severity.value
        colour = t.severity_colour(severity)
        self.setObjectName("flagCard")
        # Take the width the list gives (word-wrapped labels must not push the card wider).
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        muted = entry.acknowledged
        self.setStyleSheet(
            f"QFrame#flagCard {{ background: {t.surface}; border: 1px solid {t.border}; "
            f"border-left: 4px solid {t.border if muted else colour}; border-radius: 4px; }}")
        badge = QLabel(_SEVERITY_TEXT.get(severity, severity), self)
        badge.setStyleSheet(f"color: {t.text_muted if muted else colour}; font-weight: 600;")
        kind = QLabel(f"{_KIND_TEXT.get(f.kind.value, f.kind.value)} · {display_name(f.code)}", self)
        kind.setStyleSheet("font-weight: 600;")
        kind.setWordWrap(True)
        day = QLabel(f.date.isoformat(), self)
        day.setObjectName("muted")
        top = QHBoxLayout()
        top.setSpacing(SPACING)
        top.addWidget(badge)
        top.addWidget(kind, 1)
        top.addWidget(day)
        self.message = QLabel(f.message, self)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if muted:
            self.message.setObjectName("muted")
        evidence = ", ".join(f"{k}: {v}" for k, v in f.evidence.items() if not isinstance(v, (dict, list)))
        self.message.setToolTip(tr("Rule: {rule}").format(rule=f.rule) + (f"<br>{evidence}" if evidence else ""))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING, SPACING - 2, SPACING, SPACING - 2)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.message)
        bottom = QHBoxLayout()
        rule = QLabel(tr("rule: {rule}").format(rule=f.rule), self)
        rule.setObjectName("fieldName")
        bottom.addWidget(rule, 1)
        self.ack_button: QPushButton | None = None
        if entry.review is not None:
            r = entry.review
            when = r.reviewed_at.strftime("%Y-%m-%d %H:%M") if r.reviewed_at else ""
            text = tr("✓ Acknowledged by {who} on {when}").format(who=r.reviewed_by, when=when)
            if r.comment:
                text += f": “{r.comment}”"
            self.ack_label = QLabel(text, self)
            self.ack_label.setWordWrap(True)
            self.ack_label.setStyleSheet(f"color: {t.ok};")
            layout.addLayout(bottom)
            layout.addWidget(self.ack_label)
        else:
            self.ack_button = QPushButton(tr("Acknowledge…"), self)
            self.ack_button.setEnabled(may_review)
            self.ack_button.setToolTip(tr("Acknowledge with a comment (physicians)") if may_review else refusal)
            self.ack_button.clicked.connect(lambda: self.acknowledgeClicked.emit(f.flag_id))
            bottom.addWidget(self.ack_button)
            layout.addLayout(bottom)


class FlagsPanel(QFrame):
    """The list of flag cards with a filter for acknowledged ones."""

    def __init__(self, may_review: bool, refusal: str, acknowledge: Callable[[str, str], None],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self._may_review = may_review
        self._refusal = refusal
        self._acknowledge = acknowledge
        self._entries: tuple[FlagEntry, ...] = ()
        self.cards: dict[str, FlagCard] = {}
        title = QLabel(tr("Flags"), self)
        title.setObjectName("section")
        self.summary = QLabel(self)
        self.summary.setObjectName("muted")
        self.show_acknowledged = QCheckBox(tr("Show acknowledged"), self)
        self.show_acknowledged.setChecked(True)
        self.show_acknowledged.toggled.connect(lambda _: self._rebuild())
        head = QHBoxLayout()
        head.addWidget(title)
        head.addWidget(self.summary, 1)
        sub = QHBoxLayout()
        sub.addWidget(self.show_acknowledged)
        sub.addStretch(1)
        self.list_widget = QWidget()
        self.list_layout = QVBoxLayout(self.list_widget)
        self.list_layout.setContentsMargins(0, 0, 4, 0)
        self.list_layout.setSpacing(SPACING - 2)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.list_widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING, SPACING, SPACING // 2, SPACING)
        layout.setSpacing(SPACING)
        layout.addLayout(head)
        layout.addLayout(sub)
        layout.addWidget(self.scroll, 1)

    def set_flags(self, entries: tuple[FlagEntry, ...]) -> None:
        self._entries = entries
        new = sum(1 for e in entries if not e.acknowledged)
        self.summary.setText(tr("{n} new, newest first").format(n=new) if entries else "")
        self._rebuild()

    def _rebuild(self) -> None:
        self.list_widget.setUpdatesEnabled(False)
        while self.list_layout.count():
            item = self.list_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.cards = {}
        shown = [e for e in self._entries if self.show_acknowledged.isChecked() or not e.acknowledged]
        if not shown:
            empty = QLabel(tr("No flags.") if not self._entries else tr("Every flag is acknowledged."), self.list_widget)
            empty.setObjectName("muted")
            self.list_layout.addWidget(empty)
        for e in shown:
            card = FlagCard(e, self._may_review, self._refusal, self.list_widget)
            card.acknowledgeClicked.connect(self._on_acknowledge)
            self.list_layout.addWidget(card)
            self.cards[e.flag.flag_id] = card
        self.list_layout.addStretch(1)
        self.list_widget.setUpdatesEnabled(True)

    def _on_acknowledge(self, flag_id: str) -> None:
        entry = next((e for e in self._entries if e.flag.flag_id == flag_id), None)
        if entry is None:
            return
        comment = ask_comment(entry, self)
        if comment is None:
            return
        self._acknowledge(flag_id, comment)

    def scroll_to(self, flag_id: str) -> bool:
        card = self.cards.get(flag_id)
        if card is None:
            return False
        self.scroll.ensureWidgetVisible(card)
        card.setFocus()
        return True
