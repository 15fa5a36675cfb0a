"""A read-only table model over a list of frozen rows: the part every list screen shares.

Owns the list, the headers and Qt's bookkeeping (row/column counts, header data, resetting on
new rows). A subclass says what a cell shows with `cell(row, column, role)`; the model answers
nothing for invalid indexes, so subclasses never check bounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractItemModel, QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Row = TypeVar("Row")


def follow_rows(model: QAbstractItemModel, old_rows: Sequence[Any], new_rows: Sequence[Any]) -> None:
    """Point `model`'s persistent indexes (the selection, the current row) from each row's place
    in `old_rows` to the same row object's place in `new_rows`, or nowhere where it is gone: for a
    model that reorders its own rows, between layoutAboutToBeChanged and layoutChanged."""
    position = {id(r): i for i, r in enumerate(new_rows)}
    old = model.persistentIndexList()
    new = [model.index(position[id(old_rows[i.row()])], i.column())
           if 0 <= i.row() < len(old_rows) and id(old_rows[i.row()]) in position else QModelIndex()
           for i in old]
    model.changePersistentIndexList(old, new)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # the value a proxy sorts on (dates as numbers, ...)


class RowTableModel(QAbstractTableModel, Generic[Row]):
    headers: Mapping[int, str] = {}

    def __init__(self, parent=None):  # noqa: ANN001
        super().__init__(parent)
        self._rows: list[Row] = []

    def set_rows(self, rows: Sequence[Row]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> Row:
        return self._rows[row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt API)
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: ANN201, N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers.get(section)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: ANN201
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return self.cell(self._rows[index.row()], index.column(), role)

    def cell(self, row: Row, column: int, role: int) -> Any:  # noqa: ANN401
        raise NotImplementedError
