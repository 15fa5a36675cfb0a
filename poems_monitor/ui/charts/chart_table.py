"""The values of one trend chart as rows, newest first: the accessible twin of the chart (its
"Table" button shows it), with the same value text and tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

from poems_monitor.domain.catalogue import value_label
from poems_monitor.i18n import tr
from poems_monitor.services.dashboard import Series, SeriesPoint
from poems_monitor.local_format import day
from poems_monitor.ui.charts.chart_spec import format_value, point_tooltip
from poems_monitor.ui.row_table_model import RowTableModel


T_DATE, T_SERIES, T_VALUE, T_UNIT, T_SPECIMEN, T_NOTE = range(6)
_T_HEADERS = (tr("Date"), tr("Measure"), tr("Value"), tr("Unit"), tr("Specimen / lab"), tr("Flag / note"))


class ChartTableModel(RowTableModel[tuple[Series, SeriesPoint]]):
    """The values of one chart as rows, newest first (the accessible twin of the chart)."""

    headers = dict(enumerate(_T_HEADERS))

    def set_series(self, series: tuple[Series, ...]) -> None:
        self.set_rows(sorted(((s, p) for s in series for p in s.points), key=lambda sp: (sp[1].date, sp[0].code),
                             reverse=True))

    def cell(self, row: tuple[Series, SeriesPoint], col: int, role: int) -> object:
        s, p = row
        if role == Qt.ItemDataRole.DisplayRole:
            if col == T_DATE:
                return day(p.date)
            if col == T_SERIES:
                return s.name
            if col == T_VALUE:
                return format_value(s.code, p)
            if col == T_UNIT:
                return s.unit
            if col == T_SPECIMEN:
                return " · ".join(x for x in (value_label(p.specimen), p.lab or "") if x)
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
