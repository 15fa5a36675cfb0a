"""The values of one trend chart as rows, newest first: the accessible twin of the chart (its
"Table" button shows it), with the same value text and tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont

from poems_monitor.i18n import tr
from poems_monitor.services.dashboard import Series, SeriesPoint
from poems_monitor.ui.charts.chart_spec import format_value, point_tooltip


T_DATE, T_SERIES, T_VALUE, T_UNIT, T_SPECIMEN, T_NOTE = range(6)
_T_HEADERS = (tr("Date"), tr("Measure"), tr("Value"), tr("Unit"), tr("Specimen / lab"), tr("Flag / note"))


class ChartTableModel(QAbstractTableModel):
    """The values of one chart as rows, newest first (the accessible twin of the chart)."""

    def __init__(self, parent=None):  # noqa: ANN001
        super().__init__(parent)
        self._rows: list[tuple[Series, SeriesPoint]] = []

    def set_series(self, series: tuple[Series, ...]) -> None:
        self.beginResetModel()
        self._rows = sorted(((s, p) for s in series for p in s.points), key=lambda sp: (sp[1].date, sp[0].code),
                            reverse=True)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(_T_HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _T_HEADERS[section] if 0 <= section < len(_T_HEADERS) else None
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        s, p = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == T_DATE:
                return p.date.isoformat()
            if col == T_SERIES:
                return s.name
            if col == T_VALUE:
                return format_value(s.code, p)
            if col == T_UNIT:
                return s.unit
            if col == T_SPECIMEN:
                return " · ".join(x for x in ((p.specimen or "").replace("_", " "), p.lab or "") if x)
            if col == T_NOTE:
                parts = []
                if p.flags:
                    parts.append("⚑ " + p.flags[0])
                if p.entered:
                    parts.append(tr("entered as {e}").format(e=p.entered))
                return "; ".join(parts)
        if role == Qt.ItemDataRole.ToolTipRole:
            return point_tooltip(s, p)
        if role == Qt.ItemDataRole.TextAlignmentRole and col == T_VALUE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and p.flags and col in (T_VALUE, T_NOTE):
            font = QFont()
            font.setBold(True)
            return font
        return None


__all__ = ["ChartTableModel"]
