"""The flags panel: the patient's flags, newest first, each with its explanation, and the
physician's acknowledgement (with a comment) shown beside the flag, never instead of it.

Owns the widgets. Acknowledging goes through the `acknowledge` callback the dashboard gives it
(which calls services.flag_review); a role that may not review sees the button disabled with the
reason, and the service refuses anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from PySide6.QtCore import Qt, QTimer, Signal
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
    """One flag: a single rich-text label (severity, kind, date, explanation, rule, review) and the
    acknowledge button. Few widgets per card keeps a long course's flag list quick to build."""

    acknowledgeClicked = Signal(str)

    def __init__(self, entry: FlagEntry, may_review: bool, refusal: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.entry = entry
        t = theme()
        f = entry.flag
        severity = f.severity.value
        muted = entry.acknowledged
        colour = t.text_muted if muted else t.severity_colour(severity)
        self.setObjectName("flagCard")
        # Take the width the list gives (word-wrapped labels must not push the card wider).
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        # The border colour comes from the application style sheet through this property (a style
        # sheet per card would make Qt re-resolve styles for every card).
        self.setProperty("severity", "acknowledged" if muted else severity)
        kind = f"{_KIND_TEXT.get(f.kind.value, f.kind.value)} · {display_name(f.code)}"
        message_colour = t.text_muted if muted else t.text
        self.review_text = ""
        html = (
            f"<table width='100%' cellspacing='0' cellpadding='0'><tr>"
            f"<td><span style='color:{colour}; font-weight:600'>{escape(_SEVERITY_TEXT.get(severity, severity))}</span>"
            f"&nbsp;&nbsp;<b>{escape(kind)}</b></td>"
            f"<td align='right' style='color:{t.text_muted}'>&nbsp;{f.date.isoformat()}</td></tr></table>"
            f"<div style='color:{message_colour}; margin-top:3px'>{escape(f.message)}</div>"
            f"<div style='color:{t.text_muted}; font-size:small; margin-top:3px'>{escape(tr('rule: {rule}').format(rule=f.rule))}</div>"
        )
        if entry.review is not None:
            r = entry.review
            when = r.reviewed_at.strftime("%Y-%m-%d %H:%M") if r.reviewed_at else ""
            self.review_text = tr("✓ Acknowledged by {who} on {when}").format(who=r.reviewed_by, when=when)
            if r.comment:
                self.review_text += f": “{r.comment}”"
            html += f"<div style='color:{t.ok}; margin-top:3px'>{escape(self.review_text)}</div>"
        self.label = QLabel(html, self)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        evidence = ", ".join(f"{k}: {v}" for k, v in f.evidence.items() if not isinstance(v, (dict, list)))
        self.label.setToolTip(tr("Rule: {rule}").format(rule=f.rule) + (f"<br>{escape(evidence)}" if evidence else ""))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING, SPACING - 2, SPACING, SPACING - 2)
        layout.setSpacing(2)
        layout.addWidget(self.label)
        self.ack_button: QPushButton | None = None
        if entry.review is None:
            self.ack_button = QPushButton(tr("Acknowledge…"), self)
            self.ack_button.setEnabled(may_review)
            self.ack_button.setToolTip(tr("Acknowledge with a comment (physicians)") if may_review else refusal)
            self.ack_button.clicked.connect(lambda: self.acknowledgeClicked.emit(f.flag_id))
            layout.addWidget(self.ack_button, 0, Qt.AlignmentFlag.AlignRight)


PAGE = 15  # cards built at a time: a long course has a hundred flags, and each card is widgets
FIRST = 4  # cards built before the dashboard paints; the rest of the page follows a moment later


class FlagsPanel(QFrame):
    """The list of flag cards (newest first, a page at a time) with a filter for acknowledged ones."""

    def __init__(self, may_review: bool, refusal: str, acknowledge: Callable[[str, str], None],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self._may_review = may_review
        self._refusal = refusal
        self._acknowledge = acknowledge
        self._entries: tuple[FlagEntry, ...] = ()
        self._limit = PAGE
        self._generation = 0
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
        self._limit = PAGE
        new = sum(1 for e in entries if not e.acknowledged)
        self.summary.setText(tr("{n} new, newest first").format(n=new) if entries else "")
        self._rebuild()

    def _rebuild(self, deferred: bool = True) -> None:
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
        page = shown[: self._limit]
        for e in page[: FIRST if deferred else len(page)]:
            self._add_card(e)
        self._generation += 1
        if deferred and len(page) > FIRST:
            generation = self._generation
            QTimer.singleShot(0, lambda: self._add_later(page[FIRST:], generation))
        rest = len(shown) - self._limit
        if rest > 0:
            more = QPushButton(tr("Show {n} older flags ({rest} in all)").format(n=min(PAGE, rest), rest=rest),
                               self.list_widget)
            more.clicked.connect(self._show_more)
            self.list_layout.addWidget(more)
            self.more_button = more
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

    def _add_card(self, e: FlagEntry, index: int | None = None) -> None:
        card = FlagCard(e, self._may_review, self._refusal, self.list_widget)
        card.acknowledgeClicked.connect(self._on_acknowledge)
        if index is None:
            self.list_layout.addWidget(card)
        else:
            self.list_layout.insertWidget(index, card)
        self.cards[e.flag.flag_id] = card

    def _add_later(self, entries: list[FlagEntry], generation: int) -> None:
        if generation != self._generation:
            return  # another patient (or filter) was shown meanwhile
        self.list_widget.setUpdatesEnabled(False)
        for i, e in enumerate(entries):
            self._add_card(e, FIRST + i)
        self.list_widget.setUpdatesEnabled(True)

    def complete(self) -> None:
        """Build the deferred cards now (tests, scrolling to a flag)."""
        self._rebuild(deferred=False)

    def _show_more(self) -> None:
        self._limit += PAGE
        self._rebuild()

    def scroll_to(self, flag_id: str) -> bool:
        shown = [e.flag.flag_id for e in self._entries if self.show_acknowledged.isChecked() or not e.acknowledged]
        if flag_id in shown and flag_id not in self.cards:
            self._limit = max(self._limit, (shown.index(flag_id) // PAGE + 1) * PAGE)
            self._rebuild(deferred=False)
        card = self.cards.get(flag_id)
        if card is None:
            return False
        self.scroll.ensureWidgetVisible(card)
        card.setFocus()
        return True
