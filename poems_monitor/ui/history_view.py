"""The history of a patient's record: every value entered, corrected or removed, newest first,
with old value, new value, who, when and why.

Owns `HistoryModel` (a table model over `services.history.Change` rows) and
`HistoryView` (a filter box and the table). The rows come from `services.history`; nothing
here reads the database directly.
"""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QLineEdit, QTableView, QVBoxLayout, QWidget

from poems_monitor.i18n import ntr, tr
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.history import Change, patient_history
from poems_monitor.ui.row_table_model import SORT_ROLE, RowTableModel

COL_WHEN, COL_WHO, COL_ACTION, COL_WHAT, COL_OLD, COL_NEW, COL_WHY = range(7)
HEADERS = {
    COL_WHEN: tr("When"), COL_WHO: tr("Who"), COL_ACTION: tr("Change"), COL_WHAT: tr("What"),
    COL_OLD: tr("Old value"), COL_NEW: tr("New value"), COL_WHY: tr("Why"),
}


class HistoryModel(RowTableModel[Change]):
    headers = HEADERS

    def set_changes(self, rows: list[Change]) -> None:
        self.set_rows(rows)

    def change(self, row: int) -> Change:
        return self.row_at(row)

    def cell(self, c: Change, column: int, role: int):  # noqa: ANN201
        if role == SORT_ROLE:
            return c.at.timestamp() if column == COL_WHEN else self.cell(c, column, Qt.ItemDataRole.DisplayRole)
        if role == Qt.ItemDataRole.DisplayRole:
            if column == COL_WHEN:
                return c.at.astimezone().strftime("%Y-%m-%d %H:%M")
            return {COL_WHO: c.user, COL_ACTION: c.action, COL_WHAT: c.subject + (f" ({c.field})" if c.field and c.field
                    not in c.subject.lower() and c.field.replace("_", " ") not in c.subject.lower() else ""),
                    COL_OLD: c.old, COL_NEW: c.new, COL_WHY: c.reason}.get(column)
        if role == Qt.ItemDataRole.ToolTipRole and column in (COL_OLD, COL_NEW, COL_WHY, COL_WHAT):
            return self.cell(c, column, Qt.ItemDataRole.DisplayRole) or None
        if role == Qt.ItemDataRole.ToolTipRole and column == COL_WHEN:
            return c.at.astimezone().isoformat(timespec="seconds")
        return None


class HistoryView(QWidget):
    """The table of changes of one patient, with a filter (type part of a name, user or reason)."""

    def __init__(self, db: Database, patient_id: int, parent: QWidget | None = None):
        super().__init__(parent)
        self._db = db
        self._patient_id = patient_id
        self.model = HistoryModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setSortRole(SORT_ROLE)

        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("historyFilter")
        self.filter_edit.setAccessibleName(tr("Filter the changes"))
        self.filter_edit.setPlaceholderText(tr("Filter: a value's name, a person, a reason…"))
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)

        self.table = QTableView()
        self.table.setObjectName("historyTable")
        self.table.setAccessibleName(tr("History of changes"))
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL_WHEN, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.verticalHeader().setVisible(False)

        self.summary = QLabel("")
        self.summary.setObjectName("historySummary")

        layout = QVBoxLayout(self)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        self.refresh()

    def refresh(self) -> None:
        changes = patient_history(self._db, self._patient_id)
        self.model.set_changes(changes)
        corrections = sum(1 for c in changes if c.action == tr("corrected"))
        self.summary.setText((ntr("{n} change", "{n} changes", len(changes)) + ", " + ntr(
            "of which {k} correction", "of which {k} corrections", corrections)).format(n=len(changes), k=corrections))
        self.table.resizeColumnsToContents()
