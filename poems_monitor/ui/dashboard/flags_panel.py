"""The flags panel: the patient's flags, newest first, each with its explanation, and the
physician's acknowledgement (with a comment) shown beside the flag, never instead of it.

Owns the list. Each flag is a card painted by a delegate in one list view (severity, kind, date,
explanation, rule, review and an "Acknowledge…" button): a long course has a hundred flags, and
a widget per card made every patient switch lay out and paint them all, while the view paints
only the cards on screen and measures the others with font metrics. Acknowledging goes through
the `acknowledge` callback the dashboard gives it (which calls services.flag_review): by the
card's button, Enter or Space on the current card, or its context menu. A role that may not
review sees the button disabled with the reason, and the service refuses anyway. Ctrl+C (or the
context menu) copies a card's text.
"""

from __future__ import annotations

from collections.abc import Callable

from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractListModel, QEvent, QModelIndex, QPersistentModelIndex, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal,
)
from PySide6.QtGui import (
    QColor, QFont, QFontMetrics, QGuiApplication, QKeySequence, QPainter, QPainterPath, QPen, QTextLayout, QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QLabel, QListView, QMenu,
    QPlainTextEdit, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QToolTip, QVBoxLayout, QWidget,
)

from poems_monitor.domain.catalogue import FLAG_KIND_NAMES, SEVERITY_NAMES, display_name, severity_label
from poems_monitor.i18n import tr
from poems_monitor.services.dashboard import FlagEntry
from poems_monitor.ui.theme import SPACING, theme

_SEVERITY_TEXT = {s: severity_label(s) for s in SEVERITY_NAMES}
_KIND_TEXT = FLAG_KIND_NAMES  # one list, in the catalogue


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


ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1


def review_text(entry: FlagEntry) -> str:
    """"✓ Acknowledged by … on …: “comment”" (empty when not acknowledged)."""
    r = entry.review
    if r is None:
        return ""
    when = r.reviewed_at.strftime("%Y-%m-%d %H:%M") if r.reviewed_at else ""
    text = tr("✓ Acknowledged by {who} on {when}").format(who=r.reviewed_by, when=when)
    return text + (f": “{r.comment}”" if r.comment else "")


def kind_text(entry: FlagEntry) -> str:
    f = entry.flag
    return f"{_KIND_TEXT.get(f.kind.value, f.kind.value)} · {display_name(f.code)}"


def card_text(entry: FlagEntry) -> str:
    """Everything a card says, as plain text (copy, screen readers)."""
    f = entry.flag
    severity = _SEVERITY_TEXT.get(f.severity.value, f.severity.value)
    lines = [f"{severity}  {kind_text(entry)}  {f.date.isoformat()}", f.message, tr("rule: {rule}").format(rule=f.rule)]
    if entry.review is not None:
        lines.append(review_text(entry))
    return "\n".join(lines)


@dataclass
class FlagCard:
    """What the panel shows for one flag (the card itself is painted by the list's delegate)."""

    entry: FlagEntry
    review_text: str
    acknowledgeable: bool  # not yet acknowledged: the card has an "Acknowledge…" button
    ack_enabled: bool  # … and this user may press it
    ack_tooltip: str

    @property
    def flag_id(self) -> str:
        return self.entry.flag.flag_id


class FlagListModel(QAbstractListModel):
    """The shown flags, newest first (one row per card)."""

    def __init__(self, parent=None):  # noqa: ANN001
        super().__init__(parent)
        self.entries: list[FlagEntry] = []

    def set_entries(self, entries: list[FlagEntry]) -> None:
        self.beginResetModel()
        self.entries = list(entries)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.entries)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self.entries):
            return None
        e = self.entries[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return card_text(e)
        if role == Qt.ItemDataRole.ToolTipRole:
            f = e.flag
            evidence = ", ".join(f"{k}: {v}" for k, v in f.evidence.items() if not isinstance(v, (dict, list)))
            return tr("Rule: {rule}").format(rule=f.rule) + (f"\n{evidence}" if evidence else "")
        if role == ENTRY_ROLE:
            return e
        return None


@dataclass
class _Geometry:
    """Where each part of one card goes, for one width (measured once, painted many times)."""

    height: int
    kind: QTextLayout
    severity_width: int
    date_width: int
    message: QRect
    rule: QRect
    review: QRect | None
    button: QRect | None


PAD_LEFT = SPACING + 4  # after the 4 px severity border
PAD = SPACING
PAD_V = SPACING - 2
GAP = 3


class FlagCardDelegate(QStyledItemDelegate):
    """Paints a flag card and measures it with font metrics (no widgets, no rich text)."""

    acknowledgeClicked = Signal(str)

    def __init__(self, view: QListView, may_review: bool, refusal: str):
        super().__init__(view)
        self.view = view
        self.may_review = may_review
        self.refusal = refusal
        self._cache: dict[tuple[str, int, bool], _Geometry] = {}
        self._fonts_for: QFont | None = None
        self._pressed: str | None = None

    # --- fonts and geometry ----------------------------------------------------------------------
    def _fonts(self) -> None:
        base = self.view.font()
        if self._fonts_for is not None and self._fonts_for == base:
            return
        self._fonts_for = QFont(base)
        self.base = QFont(base)
        self.bold = QFont(base)
        self.bold.setBold(True)
        self.semibold = QFont(base)
        self.semibold.setWeight(QFont.Weight.DemiBold)
        self.small = QFont(base)
        self.small.setPointSizeF(max(base.pointSizeF() * 0.83, 6.0)) if base.pointSizeF() > 0 else \
            self.small.setPixelSize(max(int(base.pixelSize() * 0.83), 8))
        self.fm, self.fm_bold, self.fm_semi, self.fm_small = (
            QFontMetrics(f) for f in (self.base, self.bold, self.semibold, self.small))
        self._cache.clear()

    def clear_cache(self) -> None:
        self._cache.clear()

    def card_width(self) -> int:
        return max(self.view.viewport().width() - 2 * self.view.spacing(), 120)

    def geometry(self, entry: FlagEntry, width: int) -> _Geometry:
        self._fonts()
        key = (entry.flag.flag_id, width, entry.acknowledged)
        g = self._cache.get(key)
        if g is not None:
            return g
        f = entry.flag
        inner = max(width - PAD_LEFT - PAD, 60)
        date_w = self.fm.horizontalAdvance(f.date.isoformat()) + 4
        left_w = max(inner - date_w - SPACING, 40)
        sev_w = self.fm_semi.horizontalAdvance(_SEVERITY_TEXT.get(f.severity.value, f.severity.value) + "\u2002")
        layout, y = self._title_layout(kind_text(entry), sev_w, left_w)
        top = int(max(y, self.fm.height())) + GAP
        wrap = int(Qt.TextFlag.TextWordWrap)
        msg = self.fm.boundingRect(QRect(0, 0, inner, 100000), wrap, f.message)
        message = QRect(0, top, inner, msg.height())
        top = message.bottom() + 1 + GAP
        rule_text = tr("rule: {rule}").format(rule=f.rule)
        r = self.fm_small.boundingRect(QRect(0, 0, inner, 100000), wrap, rule_text)
        rule = QRect(0, top, inner, r.height())
        top = rule.bottom() + 1
        review = button = None
        if entry.review is not None:
            top += GAP
            rv = self.fm.boundingRect(QRect(0, 0, inner, 100000), wrap, review_text(entry))
            review = QRect(0, top, inner, rv.height())
            top = review.bottom() + 1
        else:
            top += 2
            bw = self.fm.horizontalAdvance(tr("Acknowledge…")) + 2 * 12 + 2
            bh = self.fm.height() + 2 * 4 + 2
            button = QRect(inner - bw, top, bw, bh)
            top = button.bottom() + 1
        g = _Geometry(top + 2 * PAD_V, layout, sev_w, date_w, message, rule, review, button)
        if len(self._cache) > 2000:
            self._cache.clear()
        self._cache[key] = g
        return g

    def _title_layout(self, text: str, sev_w: int, left_w: int) -> tuple[QTextLayout, float]:
        """The card's title ("Thrombosis watch · Thrombocytosis") after the severity word, wrapped
        between words only. When its first word does not fit beside the severity, the title
        starts on the line below; only a word wider than the whole card is broken."""
        longest = max((self.fm_bold.horizontalAdvance(w) for w in text.split()), default=0)
        first_word = self.fm_bold.horizontalAdvance(text.split()[0]) if text.split() else 0
        below = first_word > left_w - sev_w
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WordWrap if longest <= left_w
                           else QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        layout = QTextLayout(text, self.bold)
        layout.setTextOption(option)
        layout.beginLayout()
        y = float(self.fm.height()) if below else 0.0
        first = not below
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            x = sev_w if first else 0
            line.setLineWidth(max(left_w - x, 20))
            line.setPosition(QPointF(x, y))
            y += line.height()
            first = False
        layout.endLayout()
        return layout, y

    def button_rect(self, index: QModelIndex, rect: QRect) -> QRect | None:
        """The card's button in viewport coordinates (None: acknowledged)."""
        entry = index.data(ENTRY_ROLE)
        if entry is None:
            return None
        g = self.geometry(entry, rect.width())
        if g.button is None:
            return None
        return g.button.translated(rect.left() + PAD_LEFT, rect.top() + PAD_V)

    # --- Qt delegate ---------------------------------------------------------------------------
    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        entry = index.data(ENTRY_ROLE)
        width = self.card_width()
        if entry is None:
            return QSize(width, 20)
        return QSize(width, self.geometry(entry, width).height)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        entry: FlagEntry | None = index.data(ENTRY_ROLE)
        if entry is None:
            return
        t = theme()
        rect = QRect(option.rect)
        g = self.geometry(entry, rect.width())
        f = entry.flag
        severity = f.severity.value
        muted = entry.acknowledged
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        path = QPainterPath()
        path.addRoundedRect(QRectF(rect).adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
        painter.fillPath(path, QColor(t.surface))
        painter.save()
        painter.setClipPath(path)
        edge = QColor(t.border if muted else t.severity_colour(severity))
        painter.fillRect(QRect(rect.left(), rect.top(), 4, rect.height()), edge)
        painter.restore()
        focused = bool(option.state & QStyle.StateFlag.State_HasFocus) and self.view.hasFocus()
        painter.setPen(QPen(QColor(t.accent if focused else t.border), 1))
        painter.drawPath(path)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        x0, y0 = rect.left() + PAD_LEFT, rect.top() + PAD_V
        inner = rect.width() - PAD_LEFT - PAD
        # header: severity and kind (flowing), date on the right
        painter.setFont(self.semibold)
        painter.setPen(QColor(t.text_muted if muted else t.severity_colour(severity)))
        painter.drawText(QPoint(x0, y0 + self.fm.ascent()), _SEVERITY_TEXT.get(severity, severity))
        painter.setPen(QColor(t.text))
        g.kind.draw(painter, QPointF(x0, y0))
        painter.setFont(self.base)
        painter.setPen(QColor(t.text_muted))
        painter.drawText(QRect(x0 + inner - g.date_width, y0, g.date_width, self.fm.height()),
                         int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop), f.date.isoformat())
        wrap = int(Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        painter.setPen(QColor(t.text_muted if muted else t.text))
        painter.drawText(g.message.translated(x0, y0), wrap, f.message)
        painter.setFont(self.small)
        painter.setPen(QColor(t.text_muted))
        painter.drawText(g.rule.translated(x0, y0), wrap, tr("rule: {rule}").format(rule=f.rule))
        painter.setFont(self.base)
        if g.review is not None:
            painter.setPen(QColor(t.ok))
            painter.drawText(g.review.translated(x0, y0), wrap, review_text(entry))
        if g.button is not None:
            b = g.button.translated(x0, y0)
            hovered = self.may_review and b.contains(self.view.viewport().mapFromGlobal(self.view.cursor().pos()))
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            button = QPainterPath()
            button.addRoundedRect(QRectF(b).adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
            pressed = self._pressed == f.flag_id
            painter.fillPath(button, QColor(t.surface_alt if pressed else t.surface))
            painter.setPen(QPen(QColor(t.accent if (hovered or pressed) and self.may_review else t.border), 1))
            painter.drawPath(button)
            painter.setPen(QColor(t.text if self.may_review else t.text_muted))
            painter.drawText(b, int(Qt.AlignmentFlag.AlignCenter), tr("Acknowledge…"))
        painter.restore()

    def editorEvent(self, event: QEvent, model, option: QStyleOptionViewItem, index: QModelIndex) -> bool:  # noqa: ANN001, N802
        kind = event.type()
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease, QEvent.Type.MouseButtonDblClick):
            button = self.button_rect(index, option.rect)
            inside = button is not None and button.contains(event.position().toPoint())
            entry = index.data(ENTRY_ROLE)
            if kind == QEvent.Type.MouseButtonPress and inside and self.may_review:
                self._pressed = entry.flag.flag_id
                self.view.viewport().update(button)
                return True
            if kind == QEvent.Type.MouseButtonRelease and self._pressed is not None:
                pressed, self._pressed = self._pressed, None
                self.view.viewport().update(option.rect)
                if inside and pressed == entry.flag.flag_id:
                    self.acknowledgeClicked.emit(pressed)
                return True
        return super().editorEvent(event, model, option, index)

    def helpEvent(self, event, view, option: QStyleOptionViewItem, index: QModelIndex) -> bool:  # noqa: ANN001, N802
        if event.type() == QEvent.Type.ToolTip:
            button = self.button_rect(index, option.rect)
            if button is not None and button.contains(event.pos()):
                text = tr("Acknowledge with a comment (physicians)") if self.may_review else self.refusal
                QToolTip.showText(event.globalPos(), text, view)
                return True
        return super().helpEvent(event, view, option, index)


class _FlagListView(QListView):
    acknowledgeRequested = Signal(str)

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
