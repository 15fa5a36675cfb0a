"""One flag card of the flags panel: its text (severity, kind, review; the same words for copy
and screen readers), the list model holding the cards, and the delegate that measures a card
with font metrics and paints it (severity border, kind, date, explanation, rule, review and the
"Acknowledge…" button) without a widget per card.

`flags_panel.FlagsPanel` owns the list view, the acknowledgement and the context menu.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractListModel, QEvent, QModelIndex, QPersistentModelIndex, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen, QTextLayout, QTextOption
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QToolTip

from poems_monitor.domain.catalogue import FLAG_KIND_NAMES, SEVERITY_NAMES, display_name, severity_label
from poems_monitor.i18n import tr
from poems_monitor.local_format import day
from poems_monitor.services.dashboard import FlagEntry
from poems_monitor.ui.theme import SPACING, theme

_SEVERITY_TEXT = {s: severity_label(s) for s in SEVERITY_NAMES}
_KIND_TEXT = FLAG_KIND_NAMES  # one list, in the catalogue
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
    lines = [f"{severity}  {kind_text(entry)}  {day(f.date)}", f.message, tr("rule: {rule}").format(rule=f.rule)]
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
        date_w = self.fm.horizontalAdvance(day(f.date)) + 4
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
                         int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop), day(f.date))
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



__all__ = ["ENTRY_ROLE", "FlagCard", "FlagCardDelegate", "FlagListModel", "card_text", "kind_text", "review_text"]
