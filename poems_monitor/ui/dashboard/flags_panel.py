"""The flags panel: the patient's flags, newest first, each with its explanation, and the
physician's acknowledgement (with a comment) shown beside the flag, never instead of it.

Owns the list. Each flag is a card painted by a delegate in one list view (severity, kind, date,
explanation, rule, review and an "Acknowledge…" button): a long course has a hundred flags, and
a widget per card made every patient switch lay out and paint them all, while the view paints
only the cards on screen and measures the others with font metrics. Acknowledging goes through
the `acknowledge` callback the dashboard gives it (which calls services.flag_review): by the
card's button, Enter or Space on the current card, or its context menu. A role that may not
review sees the button disabled with the reason, and the service refuses anyway. Ctrl+C (or the
context menu) copies a card's text. The card itself (its text, model row and painting) is
`flag_card`.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QPoint, QRect, Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QLabel, QListView, QMenu,
    QPlainTextEdit, QVBoxLayout, QWidget,
)

from poems_monitor.i18n import tr
from poems_monitor.services.dashboard import FlagEntry
from poems_monitor.ui.dashboard.flag_card import _KIND_TEXT, kind_text  # noqa: F401 (re-exported: tests read them here)
from poems_monitor.ui.dashboard.flag_card import (
    ENTRY_ROLE, FlagCard, FlagCardDelegate, FlagListModel, card_text, review_text,
)
from poems_monitor.ui.shortcuts_help import declare_keys, key_text
from poems_monitor.ui.theme import SPACING


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



class _FlagListView(QListView):
    acknowledgeRequested = Signal(str)

    def __init__(self, parent=None):  # noqa: ANN001
        super().__init__(parent)
        where = tr("a flag of the dashboard")
        declare_keys(self, [(key_text(QKeySequence.StandardKey.Copy), tr("copy the flag's text"), where)]
                     + [(key_text(key), tr("acknowledge the flag"), where)
                        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)])

    def keyPressEvent(self, event) -> None:  # noqa: ANN001, N802
        index = self.currentIndex()
        entry = index.data(ENTRY_ROLE) if index.isValid() else None
        if entry is not None and event.matches(QKeySequence.StandardKey.Copy):
            QGuiApplication.clipboard().setText(card_text(entry))
            return
        if entry is not None and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) \
                and not entry.acknowledged:
            self.acknowledgeRequested.emit(entry.flag.flag_id)
            return
        super().keyPressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: ANN001, N802
        super().mouseMoveEvent(event)
        index = self.indexAt(event.position().toPoint())
        if index.isValid():
            self.viewport().update(self.visualRect(index))  # the button's hover border

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.scheduleDelayedItemsLayout()  # cards re-measured for the new width


class FlagsPanel(QFrame):
    """The flag cards (newest first) with a filter for acknowledged ones."""

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
        self.model = FlagListModel(self)
        self.list = _FlagListView(self)
        self.list.setModel(self.model)
        self.delegate = FlagCardDelegate(self.list, may_review, refusal)
        self.list.setItemDelegate(self.delegate)
        self.list.setSpacing(3)
        self.list.setUniformItemSizes(False)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.setFrameShape(QFrame.Shape.NoFrame)
        self.list.setMouseTracking(True)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.setAccessibleName(tr("Flags, newest first"))
        self.delegate.acknowledgeClicked.connect(self._on_acknowledge)
        self.list.acknowledgeRequested.connect(self._on_acknowledge)
        self.empty = QLabel(self)
        self.empty.setObjectName("muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING, SPACING, SPACING // 2, SPACING)
        layout.setSpacing(SPACING)
        layout.addLayout(head)
        layout.addLayout(sub)
        layout.addWidget(self.empty)
        layout.addWidget(self.list, 1)

    def set_flags(self, entries: tuple[FlagEntry, ...]) -> None:
        self._entries = entries
        new = sum(1 for e in entries if not e.acknowledged)
        self.summary.setText(tr("{n} new, newest first").format(n=new) if entries else "")
        self._rebuild()

    def _rebuild(self) -> None:
        shown = [e for e in self._entries if self.show_acknowledged.isChecked() or not e.acknowledged]
        may, refusal = self._may_review, self._refusal
        tip = tr("Acknowledge with a comment (physicians)") if may else refusal
        self.cards = {
            e.flag.flag_id: FlagCard(e, review_text(e), not e.acknowledged, may and not e.acknowledged,
                                     tip if not e.acknowledged else "")
            for e in shown
        }
        self.model.set_entries(shown)
        # lay the cards out now: Qt's delayed item layout comes after the window's next paint and
        # has the list painted a second time
        self.list.doItemsLayout()
        self.list.scrollToTop()
        self.empty.setText(tr("No flags.") if not self._entries else tr("Every flag is acknowledged."))
        self.empty.setVisible(not shown)
        self.list.setVisible(bool(shown))

    def complete(self) -> None:
        """Kept for callers of the paged version: every card is in the list already."""

    def _on_acknowledge(self, flag_id: str) -> None:
        entry = next((e for e in self._entries if e.flag.flag_id == flag_id), None)
        if entry is None or entry.acknowledged:
            return
        comment = ask_comment(entry, self)
        if comment is None:
            return
        self._acknowledge(flag_id, comment)

    def _context_menu(self, pos: QPoint) -> None:
        index = self.list.indexAt(pos)
        entry = index.data(ENTRY_ROLE) if index.isValid() else None
        if entry is None:
            return
        menu = QMenu(self)
        ack = menu.addAction(tr("Acknowledge…"))
        ack.setEnabled(self._may_review and not entry.acknowledged)
        ack.triggered.connect(lambda: self._on_acknowledge(entry.flag.flag_id))
        menu.addAction(tr("Copy"), lambda: QGuiApplication.clipboard().setText(card_text(entry)))
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def index_of(self, flag_id: str) -> QModelIndex:
        for row, e in enumerate(self.model.entries):
            if e.flag.flag_id == flag_id:
                return self.model.index(row)
        return QModelIndex()

    def button_rect(self, flag_id: str) -> QRect | None:
        """The "Acknowledge…" button of a card, in the list's viewport (scrolled into view)."""
        index = self.index_of(flag_id)
        if not index.isValid():
            return None
        self.list.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        return self.delegate.button_rect(index, self.list.visualRect(index))

    def scroll_to(self, flag_id: str) -> bool:
        index = self.index_of(flag_id)
        if not index.isValid():
            return False
        self.list.setCurrentIndex(index)
        self.list.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
        self.list.setFocus()
        return True
