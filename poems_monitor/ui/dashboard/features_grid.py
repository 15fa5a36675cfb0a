"""The features timeline: features (grouped by criterion) by visit, present / absent / unknown,
with newly acquired features marked.

Owns `FeatureGridModel` (a QAbstractTableModel: one row per criterion heading or feature, one
column per visit, oldest first or newest first) and the view that shows it. Symbols carry the
meaning (● present, ○ absent, · unknown, ★ newly acquired); colour only repeats it. Visit dates
are written upright in full (2023-06-14) so that narrow columns show years of visits at once.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QFrame, QHBoxLayout, QHeaderView, QLabel, QStyledItemDelegate, QStyleOptionViewItem,
    QTableView, QVBoxLayout, QWidget,
)

from poems_monitor import local_format
from poems_monitor.i18n import tr
from poems_monitor.services.dashboard import FeatureGroup, PatientDashboard
from poems_monitor.settings_catalog import FEATURES_NEWEST_FIRST
from poems_monitor.ui.theme import SPACING, theme

SYMBOL = {"present": "●", "absent": "○", "unknown": "·"}
NEW_SYMBOL = "★"
_CLASS = {"mandatory": tr("mandatory"), "major": tr("major"), "minor": tr("minor"), "other": tr("other")}


class FeatureGridModel(QAbstractTableModel):
    def __init__(self, parent=None):  # noqa: ANN001
        super().__init__(parent)
        self._dates: tuple = ()
        self._rows: list[tuple[FeatureGroup, int | None]] = []  # (group, row index in group or None = heading)
        self._order: list[int] = []  # column -> visit index in the dashboard (oldest first)
        self.newest_first = False

    def set_dashboard(self, d: PatientDashboard) -> None:
        self.beginResetModel()
        self._dates = d.visit_dates
        self._rows = []
        for g in d.features:
            self._rows.append((g, None))
            self._rows.extend((g, i) for i in range(len(g.rows)))
        self._set_order()
        self.endResetModel()

    def set_newest_first(self, newest_first: bool) -> None:
        if newest_first != self.newest_first:
            self.beginResetModel()
            self.newest_first = newest_first
            self._set_order()
            self.endResetModel()

    def _set_order(self) -> None:
        visits = range(len(self._dates))
        self._order = list(reversed(visits) if self.newest_first else visits)

    def latest_column(self) -> int:
        return 0 if self.newest_first else len(self._dates) - 1

    def is_heading(self, row: int) -> bool:
        return 0 <= row < len(self._rows) and self._rows[row][1] is None

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._dates)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal:
            if not 0 <= section < len(self._dates):
                return None
            d = self._dates[self._order[section]]
            if role == Qt.ItemDataRole.DisplayRole:
                return d.isoformat()
            if role == Qt.ItemDataRole.ToolTipRole:
                return tr("Visit {d}").format(d=d.isoformat())
            return None
        if not 0 <= section < len(self._rows):
            return None
        group, i = self._rows[section]
        if role == Qt.ItemDataRole.DisplayRole:
            if i is None:
                return group.name
            row = group.rows[i]
            return "   " + (tr("{name} (derived)").format(name=row.name) if row.derived else row.name)
        if role == Qt.ItemDataRole.ToolTipRole and i is None:
            return _heading_note(group)
        if role == Qt.ItemDataRole.FontRole and i is None:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        group, i = self._rows[index.row()]
        col = self._order[index.column()] if index.column() < len(self._order) else index.column()
        if i is None:
            if role == Qt.ItemDataRole.BackgroundRole:
                return QBrush(QColor(theme().surface_alt))
            if role == Qt.ItemDataRole.DisplayRole:  # shown in the heading row, which spans every visit
                return _heading_note(group)
            if role == Qt.ItemDataRole.ForegroundRole:
                return QBrush(QColor(theme().text_muted))
            return None
        row = group.rows[i]
        state = row.states[col]
        new = col in row.new_at
        if role == Qt.ItemDataRole.DisplayRole:
            return NEW_SYMBOL if new else SYMBOL.get(state, "·")
        if role == Qt.ItemDataRole.ToolTipRole:
            text = {"present": tr("present"), "absent": tr("absent")}.get(state, tr("not documented"))
            extra = tr(" — newly acquired") if new else ""
            return f"{row.name}: {text}{extra} ({self._dates[col].isoformat()})"
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            t = theme()
            if new:
                return QBrush(QColor(t.critical))
            if state == "present":
                return QBrush(QColor(t.accent))
            return QBrush(QColor(t.text_muted))
        if role == Qt.ItemDataRole.BackgroundRole and new:
            colour = QColor(theme().critical)
            colour.setAlpha(40)
            return QBrush(colour)
        return None


def _heading_note(group: FeatureGroup) -> str:
    """The criterion's class and since when it is documented: "major criterion · since 2019-06-07"."""
    klass = tr("{cls} criterion").format(cls=_CLASS.get(group.klass, group.klass))
    if group.first_documented:
        return tr("{klass} · since {d}").format(klass=klass, d=local_format.day(group.first_documented))
    return klass


class HeadingDelegate(QStyledItemDelegate):
    """Draws a criterion heading's note at the visible left edge of its row, however far the
    visits are scrolled (the heading spans every visit column)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        if not index.model().is_heading(index.row()):
            super().paint(painter, option, index)
            return
        painter.save()
        painter.fillRect(option.rect, index.data(Qt.ItemDataRole.BackgroundRole) or option.palette.base())
        view = option.widget
        visible = option.rect
        if view is not None:
            # From the visible left edge to the viewport's right edge: with few visits the
            # heading's cells end long before its note does ("mandatory criterion · since ...").
            viewport = view.viewport().rect()
            left = max(option.rect.left(), viewport.left())
            visible = QRect(left, option.rect.top(), max(viewport.right() - left + 1, 0), option.rect.height())
            painter.fillRect(visible, index.data(Qt.ItemDataRole.BackgroundRole) or option.palette.base())
        painter.setPen(index.data(Qt.ItemDataRole.ForegroundRole).color())
        painter.drawText(visible.adjusted(SPACING // 2, 0, -SPACING // 2, 0),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), index.data() or "")
        painter.restore()


class UprightDateHeader(QHeaderView):
    """Column headers written bottom-to-top, so a full date needs one text line of width."""

    _PAD = 6

    def __init__(self, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setSectionsClickable(False)
        self.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        fm = self.fontMetrics()
        return QSize(hint.width(), fm.horizontalAdvance("0000-00-00") + 2 * self._PAD)

    def paintSection(self, painter: QPainter, rect: QRect, logical: int) -> None:
        painter.save()
        painter.fillRect(rect, self.palette().window())
        painter.setPen(self.palette().mid().color())
        painter.drawLine(rect.topRight(), rect.bottomRight())
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        text = self.model().headerData(logical, self.orientation(), Qt.ItemDataRole.DisplayRole) if self.model() else None
        if text:
            painter.setPen(self.palette().windowText().color())
            painter.translate(rect.left(), rect.bottom())
            painter.rotate(-90)
            box = QRect(self._PAD, 0, rect.height() - 2 * self._PAD, rect.width())
            painter.drawText(box, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), str(text))
        painter.restore()


class FeaturesTimeline(QFrame):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.model = FeatureGridModel(self)
        self.table = QTableView(self)
        self.table.setHorizontalHeader(UprightDateHeader(self.table))
        self.table.setModel(self.model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setAccessibleName(tr("Features by visit"))
        self.table.setItemDelegate(HeadingDelegate(self.table))
        self.table.setStyleSheet("QHeaderView::section:vertical { padding: 1px 6px; }")  # the rows stay compact
        # the heading notes stay at the left edge: repaint whole rows when the visits scroll
        self.table.horizontalScrollBar().valueChanged.connect(lambda _v: self.table.viewport().update())
        self._size_sections()
        self._show_latest_pending = False
        title = QLabel(tr("Features by visit"), self)
        title.setObjectName("section")
        from poems_monitor.ui.ui_settings import read

        self.newest_first = QCheckBox(tr("&Newest visit first"), self)
        self.newest_first.setToolTip(tr("Show the latest visit in the first column (kept for next time)"))
        self.newest_first.setChecked(read(FEATURES_NEWEST_FIRST))  # the physician's choice, per workstation
        self.model.newest_first = self.newest_first.isChecked()
        self.newest_first.toggled.connect(self._order_changed)
        legend = QLabel(tr("● present   ○ absent   · not documented   ★ newly acquired"), self)
        legend.setObjectName("muted")
        legend.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(title)
        head.addSpacing(SPACING)
        head.addWidget(self.newest_first)
        head.addStretch(1)
        head.addWidget(legend)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING, SPACING, SPACING, SPACING)
        layout.addLayout(head)
        layout.addWidget(self.table, 1)

    def _size_sections(self) -> None:
        """Rows and columns sized from the font and the headers' style, so nothing is clipped at any
        font size (the rows' names need their full height, descenders included)."""
        line = self.table.fontMetrics().height()
        rows = self.table.verticalHeader()
        if self.model.rowCount():
            needed = max(rows.sectionSizeFromContents(r).height() for r in range(min(self.model.rowCount(), 2)))
        else:
            needed = line + 8
        rows.setMinimumSectionSize(needed)
        rows.setDefaultSectionSize(needed)
        columns = self.table.horizontalHeader()
        columns.setMinimumSectionSize(line + 2)
        columns.setDefaultSectionSize(line + 6)
        columns.setFixedHeight(columns.sizeHint().height())

    def changeEvent(self, event) -> None:  # noqa: ANN001
        super().changeEvent(event)
        if event.type() == event.Type.FontChange:
            self._size_sections()

    def _order_changed(self, newest_first: bool) -> None:
        from poems_monitor.ui.ui_settings import write

        write(FEATURES_NEWEST_FIRST, newest_first)
        self.model.set_newest_first(newest_first)
        self._after_reset()

    def set_dashboard(self, d: PatientDashboard) -> None:
        self.model.set_dashboard(d)
        self._size_sections()
        self._after_reset()

    def _after_reset(self) -> None:
        self.table.clearSpans()
        if self.model.columnCount() > 1:
            for r in range(self.model.rowCount()):
                if self.model.is_heading(r):
                    self.table.setSpan(r, 0, 1, self.model.columnCount())
        self._show_latest_pending = True
        if self.isVisible():
            self._show_latest()

    def showEvent(self, event) -> None:  # noqa: ANN001
        super().showEvent(event)
        if self._show_latest_pending:
            QTimer.singleShot(0, self._show_latest)  # once the table knows its width

    def _show_latest(self) -> None:
        """Scroll so the latest visits are in view (the table has its final width by now)."""
        if not self.isVisible():
            return
        self._show_latest_pending = False
        self.table.updateGeometries()
        bar = self.table.horizontalScrollBar()
        bar.setValue(bar.minimum() if self.model.newest_first else bar.maximum())
