"""The features timeline: features (grouped by criterion) by visit, present / absent / unknown,
with newly acquired features marked.

Owns `FeatureGridModel` (a QAbstractTableModel: one row per criterion heading or feature, one
column per visit) and the view that shows it. Symbols carry the meaning (● present, ○ absent,
· unknown, ★ newly acquired); colour only repeats it.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QFrame, QHBoxLayout, QLabel, QTableView, QVBoxLayout, QWidget

from poems_monitor.i18n import tr
from poems_monitor.services.dashboard import FeatureGroup, PatientDashboard
from poems_monitor.ui.theme import SPACING, theme

SYMBOL = {"present": "●", "absent": "○", "unknown": "·"}
NEW_SYMBOL = "★"
_CLASS = {"mandatory": tr("mandatory"), "major": tr("major"), "minor": tr("minor"), "other": tr("other")}


class FeatureGridModel(QAbstractTableModel):
    def __init__(self, parent=None):  # noqa: ANN001
        super().__init__(parent)
        self._dates: tuple = ()
        self._rows: list[tuple[FeatureGroup, int | None]] = []  # (group, row index in group or None = heading)

    def set_dashboard(self, d: PatientDashboard) -> None:
        self.beginResetModel()
        self._dates = d.visit_dates
        self._rows = []
        for g in d.features:
            self._rows.append((g, None))
            self._rows.extend((g, i) for i in range(len(g.rows)))
        self.endResetModel()

    def is_heading(self, row: int) -> bool:
        return 0 <= row < len(self._rows) and self._rows[row][1] is None

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._dates)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal:
            if not 0 <= section < len(self._dates):
                return None
            d = self._dates[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return f"{d:%y}\n{d:%m}"
            if role == Qt.ItemDataRole.ToolTipRole:
                return tr("Visit {d}").format(d=d.isoformat())
            return None
        if not 0 <= section < len(self._rows):
            return None
        group, i = self._rows[section]
        if role == Qt.ItemDataRole.DisplayRole:
            if i is None:
                when = tr(" — since {d}").format(d=group.first_documented.isoformat()) if group.first_documented else ""
                return f"{group.name} ({_CLASS.get(group.klass, group.klass)}){when}"
            row = group.rows[i]
            return "   " + row.name + (tr(" (derived)") if row.derived else "")
        if role == Qt.ItemDataRole.FontRole and i is None:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        group, i = self._rows[index.row()]
        col = index.column()
        if i is None:
            if role == Qt.ItemDataRole.BackgroundRole:
                return QBrush(QColor(theme().surface_alt))
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


class FeaturesTimeline(QFrame):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.model = FeatureGridModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.horizontalHeader().setDefaultSectionSize(30)
        self.table.horizontalHeader().setMinimumSectionSize(24)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setAccessibleName(tr("Features by visit"))
        title = QLabel(tr("Features by visit"), self)
        title.setObjectName("section")
        legend = QLabel(tr("● present   ○ absent   · not documented   ★ newly acquired"), self)
        legend.setObjectName("muted")
        head = QHBoxLayout()
        head.addWidget(title)
        head.addStretch(1)
        head.addWidget(legend)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING, SPACING, SPACING, SPACING)
        layout.addLayout(head)
        layout.addWidget(self.table, 1)

    def set_dashboard(self, d: PatientDashboard) -> None:
        self.model.set_dashboard(d)
        self.table.clearSpans()
        if self.model.columnCount() > 1:
            for r in range(self.model.rowCount()):
                if self.model.is_heading(r):
                    self.table.setSpan(r, 0, 1, self.model.columnCount())
        if self.model.columnCount():
            self.table.scrollTo(self.model.index(0, self.model.columnCount() - 1))  # latest visits in view
