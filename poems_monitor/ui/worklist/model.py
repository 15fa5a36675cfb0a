"""The clinic worklist as a Qt table: one row per follow-up item that is due (soon), overdue or
never done, and one per unacknowledged flag.

Owns the `QAbstractTableModel` (the rows themselves: rows.py) with its column constants and sort role, and the filter proxy (item,
status, flags yes/no, MRN/name text). Statuses are words with a symbol; colour only repeats them.

Speed on a clinic's worklist (26,588 rows for 2,000 patients): the model sorts its rows itself
(one Python sort, one key per row) and filters them itself (one pass per filter change, then a
model reset). A QSortFilterProxyModel doing either calls Python per row and per comparison, and
a new filter on a sorted list removes and inserts the rows in thousands of ranges, a signal and a
view update each: the first character typed froze the screen for over a minute. The proxy only
passes the rows through and keeps the API the view uses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QFont

from poems_monitor.domain.catalogue import FOLLOWUP_STATUS_NAMES, SEVERITY_WORDS, followup_status_label
from poems_monitor.domain.followup import ITEMS
from poems_monitor.i18n import tr
from poems_monitor.local_format import day
from poems_monitor.ui.theme import theme
from poems_monitor.ui.row_table_model import follow_rows
from poems_monitor.ui.worklist.rows import (  # noqa: F401 (the row shape and loading, re-exported for the screens)
    _SEVERITY_RANK, FLAG, FLAG_NAMES, ITEM_NAMES, STATUS_ORDER, WorklistData, WorklistRow, load_worklist, row_from_flag,
    row_from_item,
)

STATUS_TEXT = {**{s: followup_status_label(s) for s in FOLLOWUP_STATUS_NAMES}, FLAG: tr("⚑ New flag")}
STATUS_NAMES = {**FOLLOWUP_STATUS_NAMES, FLAG: tr("New flag")}
SEVERITY_TEXT = SEVERITY_WORDS  # one list, in the catalogue

SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # a number or a lower-case string, comparable within a column
ROW_ROLE = Qt.ItemDataRole.UserRole + 2  # the WorklistRow itself


class WorklistModel(QAbstractTableModel):
    STATUS, MRN, PATIENT, ITEM, DUE, LAST_DONE, DETAIL = range(7)
    HEADERS = (tr("Status"), tr("MRN"), tr("Patient"), tr("Item"), tr("Due / since"), tr("Last done"), tr("Why"))
    _HEADER_TIPS = (
        tr("Overdue, never done, due, due soon, or a flag not yet acknowledged"), tr("Medical record number"),
        tr("Patient name"), tr("Follow-up item, or the kind of flag"),
        tr("When the item is due; for a flag, the date it became true"), tr("When the item was last done"),
        tr("Why the item is due, or what the flag found"),
    )

    def __init__(self, parent=None):  # noqa: ANN001
        super().__init__(parent)
        self._given: tuple[WorklistRow, ...] = ()  # every row, as loaded
        self._all: list[WorklistRow] = []  # every row, in the sort order
        self._rows: list[WorklistRow] = []  # the rows shown: those of _all the filter accepts
        self._sort: tuple[int, Qt.SortOrder] | None = None  # (column, order); None: as loaded
        self._filter = WorklistChoice()
        self._bold = QFont()
        self._bold.setBold(True)

    def set_rows(self, rows: tuple[WorklistRow, ...]) -> None:
        self.beginResetModel()
        self._given = tuple(rows)
        self._all = self._sorted(self._given)
        self._rows = [r for r in self._all if self._filter.accepts(r)]
        self.endResetModel()

    def set_filter(self, choice: WorklistChoice) -> None:
        """Show only the rows `choice` accepts (one pass, then one reset)."""
        if choice == self._filter:
            return
        self.beginResetModel()
        self._filter = choice
        self._rows = [r for r in self._all if choice.accepts(r)]
        self.endResetModel()

    def filter(self) -> WorklistChoice:
        return self._filter

    def sort_rows(self, column: int, order: Qt.SortOrder) -> None:
        """Reorder the rows by `column` (one stable Python sort, as QSortFilterProxyModel's was);
        persistent indexes (the selection, the current row) follow their rows."""
        self._sort = (column, order)
        if not self._given:
            return
        self.layoutAboutToBeChanged.emit()
        old_rows = self._rows
        self._all = self._sorted(self._given)
        shown = {id(r) for r in old_rows}
        self._rows = [r for r in self._all if id(r) in shown]
        follow_rows(self, old_rows, self._rows)
        self.layoutChanged.emit()

    def _sorted(self, rows: tuple[WorklistRow, ...]) -> list[WorklistRow]:
        if self._sort is None or not 0 <= self._sort[0] < len(self.HEADERS):
            return list(rows)
        col, order = self._sort
        return sorted(rows, key=lambda r: self._sort_value(r, col), reverse=order == Qt.SortOrder.DescendingOrder)

    def rows(self) -> tuple[WorklistRow, ...]:
        """Every row, shown or not, as loaded."""
        return self._given

    def row_at(self, row: int) -> WorklistRow:
        return self._rows[row]

    def row_of(self, wanted: WorklistRow) -> int:
        """The shown position of the row for the same patient, item and kind as `wanted` (-1: not shown)."""
        key = (wanted.mrn, wanted.item, wanted.kind)
        for i, r in enumerate(self._rows):
            if (r.mrn, r.item, r.kind) == key:
                return i
        return -1

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:  # noqa: N802
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._HEADER_TIPS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:  # noqa: C901
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(r, col)
        if role == SORT_ROLE:
            return self._sort_value(r, col)
        if role == ROW_ROLE:
            return r
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == self.STATUS and r.kind == FLAG:
                return tr("Flag not yet acknowledged ({severity})").format(severity=SEVERITY_TEXT.get(r.severity, r.severity))
            return r.detail if col in (self.DETAIL, self.ITEM, self.STATUS) else None
        if role == Qt.ItemDataRole.ForegroundRole and col == self.STATUS:
            return QColor(self._status_colour(r))
        if role == Qt.ItemDataRole.FontRole and col == self.STATUS and r.status in ("overdue", "never_done"):
            return self._bold
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.DUE, self.LAST_DONE):
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self._display(r, col)
        return None

    def _display(self, r: WorklistRow, col: int) -> str:
        if col == self.STATUS:
            text = STATUS_TEXT.get(r.status, r.status)
            if r.kind == FLAG and r.severity:
                text += f" ({SEVERITY_TEXT.get(r.severity, r.severity)})"
            return text
        if col == self.MRN:
            return r.mrn
        if col == self.PATIENT:
            return r.name
        if col == self.ITEM:
            return r.item_text
        if col == self.DUE:
            return day(r.due, "—")
        if col == self.LAST_DONE:
            if r.kind == FLAG:
                return ""
            return day(r.last_done) if r.last_done else tr("never")
        if col == self.DETAIL:
            return r.detail
        return ""

    def _sort_value(self, r: WorklistRow, col: int):  # noqa: ANN202
        if col == self.STATUS:
            return r.status_rank
        if col == self.DUE:
            return r.due.toordinal() if r.due else 0
        if col == self.LAST_DONE:
            return r.last_done.toordinal() if r.last_done else 0
        if col == self.MRN:
            return r.mrn.lower()
        return self._display(r, col).lower()

    @staticmethod
    def _status_colour(r: WorklistRow) -> str:
        t = theme()
        if r.kind == FLAG:
            return t.severity_colour(r.severity)
        return {"overdue": t.critical, "never_done": t.critical, "due": t.warning, "due_soon": t.info}.get(r.status, t.text)


@dataclass(frozen=True)
class WorklistChoice:
    """What the worklist's filters ask for: follow-up item (or "flags", or a flag kind), status,
    flags shown or not, and text in the MRN or name (lower case)."""

    item: str | None = None
    status: str | None = None
    flags: bool = True
    text: str = ""

    def accepts(self, r: WorklistRow) -> bool:
        if r.kind == FLAG and not self.flags:
            return False
        if self.item is not None:
            if self.item == "flags":
                if r.kind != FLAG:
                    return False
            elif r.item != self.item:
                return False
        if self.status is not None and r.status != self.status:
            return False
        if self.text and self.text not in r.mrn.lower() and self.text not in r.name.lower():
            return False
        return True


class WorklistFilter(QSortFilterProxyModel):
    """Filters by follow-up item (or flag kind), status, flags yes/no and MRN/name text, and
    sorts: both decided by the source model (see the module's docstring); this proxy passes its
    rows through unchanged."""

    def __init__(self, parent=None):  # noqa: ANN001
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        model = self.sourceModel()
        if isinstance(model, WorklistModel):
            model.sort_rows(column, order)

    def _choose(self, **changes: object) -> None:
        model = self.sourceModel()
        if isinstance(model, WorklistModel):
            model.set_filter(replace(model.filter(), **changes))  # type: ignore[arg-type]

    def set_item(self, item: str | None) -> None:
        self._choose(item=item or None)

    def set_status(self, status: str | None) -> None:
        self._choose(status=status or None)

    def set_show_flags(self, show: bool) -> None:
        self._choose(flags=show)

    def set_text(self, text: str) -> None:
        self._choose(text=text.strip().lower())


ITEM_CHOICES = tuple((code, ITEM_NAMES.get(code, code)) for code in ITEMS)
