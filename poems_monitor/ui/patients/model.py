"""Item models of the patient list.

Owns `PatientTableModel` (one row per patient from `services.patients.list_patients`, plus the
flag and follow-up counts of `services.dashboard.clinic_overview` once they arrive) and
`PatientFilterProxy` (search as you type by MRN or name, "has new flags", "has overdue items").
Column constants and a sort role keep sorting numeric and date-correct. No services are called
here: the panel feeds the model.

Speed with thousands of patients (10,000 filter as you type in a few ms): the source model
sorts its own rows in Python (one key per row) when a column header is clicked, and filters them
itself (one pass over the folded "MRN name" strings per keystroke, then a model reset), so the
proxy neither compares nor filters rows through Python calls per row; it only passes the rows
through (and keeps the API the panel and tests use: `set_search`, `set_only_*`).
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
from poems_monitor.ui.row_table_model import follow_rows

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
        self._all: list[PatientListRow] = []  # every patient, in the sort order
        self._all_search: list[str] = []  # folded "MRN name" of each of _all
        self._rows: list[PatientListRow] = []  # the rows shown: those of _all the filter accepts
        self._search: list[str] = []
        self._given: list[PatientListRow] = []
        self._status: dict[str, PatientStatus] = {}
        self._today = today or date.today()
        self._sort: tuple[int, Qt.SortOrder] | None = None  # (column, order) of the rows, None: as given
        self._filter: tuple[tuple[str, ...], bool, bool] = ((), False, False)  # words, new flags, overdue

    # --- feeding -----------------------------------------------------------------------------
    def set_patients(self, rows: list[PatientListRow]) -> None:
        self.beginResetModel()
        self._given = list(rows)
        self._all = self._sorted(self._given)
        self._all_search = [fold(f"{r.mrn} {r.name}") for r in self._all]
        self._apply_filter()
        self.endResetModel()

    def set_status(self, status: dict[str, PatientStatus]) -> None:
        self._status = dict(status)
        if self._filter[1] or self._filter[2]:  # the status filters decide again
            self.beginResetModel()
            self._apply_filter()
            self.endResetModel()
        if self._sort is not None and self._sort[0] in (COL_FLAGS, COL_OVERDUE):
            self.sort_rows(*self._sort)
        if self._rows:
            self.dataChanged.emit(self.index(0, COL_FLAGS), self.index(len(self._rows) - 1, COL_OVERDUE))

    def set_filter(self, words: list[str], new_flags: bool, overdue: bool) -> None:
        """Show only the patients matching every word (folded) and the status filters."""
        wanted = (tuple(words), new_flags, overdue)
        if wanted == self._filter:
            return
        self.beginResetModel()
        self._filter = wanted
        self._apply_filter()
        self.endResetModel()

    def _apply_filter(self) -> None:
        shown = self._accepted_positions(list(self._filter[0]), self._filter[1], self._filter[2])
        if shown is None:
            self._rows, self._search = list(self._all), list(self._all_search)
        else:
            self._rows = [self._all[i] for i in shown]
            self._search = [self._all_search[i] for i in shown]

    def _accepted_positions(self, words: list[str], new_flags: bool, overdue: bool) -> list[int] | None:
        """Positions in _all of the patients the filter accepts (None: all): one pass per word,
        each over what the words before it left (a list comprehension per word: 10,000 rows in ~1 ms)."""
        if not words and not (new_flags or overdue):
            return None
        hay = self._all_search
        shown: list[int] | range = range(len(hay))
        for w in words:
            shown = [i for i in shown if w in hay[i]]
        if new_flags or overdue:
            status, rows = self._status, self._all
            shown = [i for i in shown if (st := status.get(rows[i].mrn)) is not None
                     and (not new_flags or st.new_flags) and (not overdue or st.overdue)]
        return list(shown)

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
        if not self._all:
            return
        self.layoutAboutToBeChanged.emit()
        old_rows = self._rows
        search_of = {id(r): h for r, h in zip(self._all, self._all_search)}
        self._all = self._sorted(self._given)
        self._all_search = [search_of[id(r)] for r in self._all]
        shown = {id(r) for r in old_rows}  # the same rows stay shown, in the new order
        keep = [id(r) in shown for r in self._all]
        self._rows = [r for r, ok in zip(self._all, keep) if ok]
        self._search = [h for h, ok in zip(self._all_search, keep) if ok]
        follow_rows(self, old_rows, self._rows)
        self.layoutChanged.emit()

    def accepted_rows(self, words: list[str], new_flags: bool, overdue: bool) -> list[bool]:
        """For every patient (in the sort order): does it match every search word and the status filters?"""
        shown = self._accepted_positions(words, new_flags, overdue)
        if shown is None:
            return [True] * len(self._all)
        accepted = [False] * len(self._all)
        for i in shown:
            accepted[i] = True
        return accepted

    def total(self) -> int:
        """Every patient, shown or not."""
        return len(self._all)

    def knows(self, mrn: str) -> bool:
        return any(r.mrn == mrn for r in self._all)

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
    """Search by MRN or name (every typed word must match) and the two status filters: decided
    by the source model (`set_filter`); this proxy passes its rows through unchanged."""

    def __init__(self, parent=None):  # noqa: ANN001
        super().__init__(parent)
        self._words: list[str] = []
        self._new_flags = False
        self._overdue = False
        self.setSortRole(SORT_ROLE)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sorting is the source model's (one Python sort); this proxy keeps the source order."""
        model = self.sourceModel()
        if isinstance(model, PatientTableModel):
            model.sort_rows(column, order)

    def set_search(self, text: str) -> None:
        words = fold(text).split()
        if words == self._words:
            return
        self._words = words
        self._refilter()

    def set_only_new_flags(self, on: bool) -> None:
        self._new_flags = on
        self._refilter()

    def set_only_overdue(self, on: bool) -> None:
        self._overdue = on
        self._refilter()

    def _refilter(self) -> None:
        model = self.sourceModel()
        if isinstance(model, PatientTableModel):
            model.set_filter(self._words, self._new_flags, self._overdue)
