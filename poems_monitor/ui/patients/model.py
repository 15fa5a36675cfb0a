"""Item models of the patient list.

Owns `PatientTableModel` (one row per patient from `services.patients.list_patients`, plus the
flag and follow-up counts of `services.dashboard.clinic_overview` once they arrive) and
`PatientFilterProxy` (search as you type by MRN or name, "has new flags", "has overdue items").
Column constants and a sort role keep sorting numeric and date-correct. No services are called
here: the panel feeds the model.

Speed with thousands of patients: the source model sorts its own rows in Python (one key per
row) when a column header is clicked, so the proxy only filters and never compares rows through
`data()`; the proxy decides all rows in one pass per change (a list of booleans) and answers
`filterAcceptsRow` from it.
"""

from __future__ import annotations

import unicodedata
from datetime import date

from PySide6.QtCore import (
    QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt,
)
from PySide6.QtGui import QColor

from poems_monitor.domain.catalogue import FOLLOWUP_STATUS_NAMES, SEVERITY_MARKS, Severity
from poems_monitor.i18n import ntr, tr
from poems_monitor.local_format import day
from poems_monitor.services.dashboard import PatientStatus
from poems_monitor.services.patients import PatientListRow
from poems_monitor.ui.theme import theme

COL_MRN, COL_NAME, COL_AGE_SEX, COL_LAST_VISIT, COL_FLAGS, COL_OVERDUE = range(6)
HEADERS = {
    COL_MRN: tr("MRN"), COL_NAME: tr("Name"), COL_AGE_SEX: tr("Age"), COL_LAST_VISIT: tr("Last visit"),
    COL_FLAGS: tr("Flags"), COL_OVERDUE: FOLLOWUP_STATUS_NAMES["overdue"],
}
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
MRN_ROLE = Qt.ItemDataRole.UserRole + 2
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 3
_SEX_SHORT = {"female": "F", "male": "M", "other": "X", "unknown": "?"}


def fold(text: str) -> str:
    """Case- and accent-insensitive form for search ("Chloé" is found by "chloe")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


class PatientTableModel(QAbstractTableModel):
    def __init__(self, parent=None, today: date | None = None):  # noqa: ANN001
        super().__init__(parent)
        self._rows: list[PatientListRow] = []
        self._given: list[PatientListRow] = []
        self._search: list[str] = []
        self._status: dict[str, PatientStatus] = {}
        self._today = today or date.today()
        self._sort: tuple[int, Qt.SortOrder] | None = None  # (column, order) of the rows, None: as given
        self.generation = 0  # bumped before every change the proxy's filter depends on

    # --- feeding -----------------------------------------------------------------------------
    def set_patients(self, rows: list[PatientListRow]) -> None:
        self.beginResetModel()
        self.generation += 1
        self._given = list(rows)
        self._rows = self._sorted(self._given)
        self._search = [fold(f"{r.mrn} {r.name}") for r in self._rows]
        self.endResetModel()

    def set_status(self, status: dict[str, PatientStatus]) -> None:
        self.generation += 1
        self._status = dict(status)
        if self._sort is not None and self._sort[0] in (COL_FLAGS, COL_OVERDUE):
            self.sort_rows(*self._sort)
        if self._rows:
            self.dataChanged.emit(self.index(0, COL_FLAGS), self.index(len(self._rows) - 1, COL_OVERDUE))

    def sort_key(self, r: PatientListRow, col: int):  # noqa: ANN201
        """What SORT_ROLE says for `r` in column `col` (the sort order of the column)."""
        if col == COL_MRN:
            return r.mrn
        if col == COL_NAME:
            return fold(r.name)
        if col == COL_AGE_SEX:
            age = self._age(r)
            return age if age is not None else -1
        if col == COL_LAST_VISIT:
            return r.last_visit.toordinal() if r.last_visit else 0
        st = self._status.get(r.mrn)
        if col == COL_FLAGS:
            return st.new_flags if st else -1
        if col == COL_OVERDUE:
            return st.overdue if st else -1
        return 0

    def _sorted(self, rows: list[PatientListRow]) -> list[PatientListRow]:
        if self._sort is None or not 0 <= self._sort[0] < len(HEADERS):
            return list(rows)
        col, order = self._sort
        # stable: equal keys keep the given (MRN) order, as QSortFilterProxyModel's sort did
        return sorted(rows, key=lambda r: self.sort_key(r, col), reverse=order == Qt.SortOrder.DescendingOrder)

    def sort_rows(self, column: int, order: Qt.SortOrder) -> None:
        """Reorder the rows by `column` (one Python sort; persistent indexes follow their rows)."""
        self._sort = (column, order)
        if not self._rows:
            return
        self.layoutAboutToBeChanged.emit()
        self.generation += 1
        old_rows = self._rows
        self._rows = self._sorted(self._given)
        position = {id(r): i for i, r in enumerate(self._rows)}
        search_of = {id(r): h for r, h in zip(old_rows, self._search)}
        self._search = [search_of[id(r)] for r in self._rows]
        old = self.persistentIndexList()
        new = [self.index(position[id(old_rows[i.row()])], i.column()) if 0 <= i.row() < len(old_rows) else QModelIndex()
               for i in old]
        self.changePersistentIndexList(old, new)
        self.layoutChanged.emit()

    def accepted_rows(self, words: list[str], new_flags: bool, overdue: bool) -> list[bool]:
        """For every row: does it match every search word and the status filters?"""
        if words:
            accepted = [all(w in h for w in words) for h in self._search]
        else:
            accepted = [True] * len(self._rows)
        if new_flags or overdue:
            status = self._status
            for i, r in enumerate(self._rows):
                if accepted[i]:
                    st = status.get(r.mrn)
                    accepted[i] = st is not None and (not new_flags or bool(st.new_flags)) and (
                        not overdue or bool(st.overdue))
        return accepted

    def status(self, mrn: str) -> PatientStatus | None:
        return self._status.get(mrn)

    def row_of(self, mrn: str) -> int:
        for i, r in enumerate(self._rows):
            if r.mrn == mrn:
                return i
        return -1

    def patient(self, row: int) -> PatientListRow:
        return self._rows[row]

    # --- Qt model ----------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS.get(section)
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            if section == COL_FLAGS:
                return tr("New flags: not yet acknowledged by a physician")
            if section == COL_AGE_SEX:
                return tr("Age in years and sex")
            if section == COL_OVERDUE:
                return tr("Follow-up items overdue or never done")
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        col = index.column()
        st = self._status.get(r.mrn)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_MRN:
                return r.mrn
            if col == COL_NAME:
                return r.name
            if col == COL_AGE_SEX:
                age = self._age(r)
                return f"{age if age is not None else '–'} {_SEX_SHORT.get(r.sex, '?')}"
            if col == COL_LAST_VISIT:
                return day(r.last_visit, "–")
            if col == COL_FLAGS:
                if st is None:
                    return "…"
                return self._flag_text(st)
            if col == COL_OVERDUE:
                if st is None:
                    return "…"
                return str(st.overdue) if st.overdue else "–"
            return None
        if role == SORT_ROLE:
            if col == COL_MRN:
                return r.mrn
            if col == COL_NAME:
                return fold(r.name)
            if col == COL_AGE_SEX:
                return self._age(r) if self._age(r) is not None else -1
            if col == COL_LAST_VISIT:
                return r.last_visit.toordinal() if r.last_visit else 0
            if col == COL_FLAGS:
                return st.new_flags if st else -1
            if col == COL_OVERDUE:
                return st.overdue if st else -1
            return None
        if role == MRN_ROLE:
            return r.mrn
        if role == SEARCH_ROLE:
            return self._search[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_FLAGS and st is not None:
                return tr("{n} of {total} flags not yet acknowledged").format(n=st.new_flags, total=st.flags)
            if col == COL_OVERDUE and st is not None:
                return tr("{o} overdue or never done, {d} due or due soon").format(o=st.overdue, d=st.due)
            return f"{r.name} ({r.mrn}) — {ntr('{n} visit', '{n} visits', r.visit_count).format(n=r.visit_count)}"
        if role == Qt.ItemDataRole.ForegroundRole and st is not None:
            if col == COL_FLAGS and st.new_flags:
                return QColor(theme().severity_colour(st.worst_new or "info"))
            if col == COL_OVERDUE and st.overdue:
                return QColor(theme().critical)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_FLAGS, COL_OVERDUE, COL_AGE_SEX):
            return int(Qt.AlignmentFlag.AlignCenter)
        return None

    def _age(self, r: PatientListRow) -> int | None:
        if r.birth_date is None:
            return None
        t = self._today
        return t.year - r.birth_date.year - ((t.month, t.day) < (r.birth_date.month, r.birth_date.day))

    @staticmethod
    def _flag_text(st: PatientStatus) -> str:
        if not st.new_flags:
            return "–"
        worst = st.worst_new or ""
        mark = SEVERITY_MARKS.get(worst, "") if worst != Severity.INFO else ""  # info needs no mark in a list
        return f"{st.new_flags} {mark}".strip()


class PatientFilterProxy(QSortFilterProxyModel):
    """Search by MRN or name (every typed word must match) and the two status filters."""

    def __init__(self, parent=None):  # noqa: ANN001
        super().__init__(parent)
        self._words: list[str] = []
        self._new_flags = False
        self._overdue = False
        self._accepted: list[bool] = []
        self._accepted_for: tuple | None = None
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sorting is the source model's (one Python sort); this proxy keeps the source order."""
        model = self.sourceModel()
        if model is not None:
            model.sort_rows(column, order)

    def set_search(self, text: str) -> None:
        words = fold(text).split()
        if words == self._words:
            return
        self.beginFilterChange()
        self._words = words
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_only_new_flags(self, on: bool) -> None:
        self.beginFilterChange()
        self._new_flags = on
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_only_overdue(self, on: bool) -> None:
        self.beginFilterChange()
        self._overdue = on
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        key = (model.generation, tuple(self._words), self._new_flags, self._overdue)
        if key != self._accepted_for:  # decided for every row at once, once per change
            self._accepted = model.accepted_rows(self._words, self._new_flags, self._overdue)
            self._accepted_for = key
        return 0 <= source_row < len(self._accepted) and self._accepted[source_row]
