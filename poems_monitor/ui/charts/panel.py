"""The dashboard's charts laid out together, their x-axes linked (zooming one zooms all).

Owns the grid of `TrendChart`s and the one shared date range; charts are built once and
redrawn for each patient, which keeps opening a patient fast. Each plot keeps a readable minimum
height (PLOT_MIN_HEIGHT): on a low screen the page holding the panel scrolls instead of
squeezing the plots to slivers.
"""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QWidget

from poems_monitor.services.dashboard import PatientDashboard
from poems_monitor.ui.charts.trend_chart import CHART_SPECS, TrendChart, x_range_for
from poems_monitor.ui.theme import SPACING

PLOT_MIN_HEIGHT = 180  # px of plot, its date axis included (about 158 px of data): values and trends stay readable


class ChartsPanel(QWidget):
    def __init__(self, parent: QWidget | None = None, columns: int = 2, extra: QWidget | None = None):
        super().__init__(parent)
        self.charts: dict[str, TrendChart] = {}
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(SPACING)
        first = None
        for spec in CHART_SPECS:
            chart = TrendChart(spec, self)
            chart.plot_widget.setMinimumHeight(PLOT_MIN_HEIGHT)
            self.charts[spec.key] = chart
            if first is None:
                first = chart
            else:
                chart.plot.setXLink(first.plot)
        if extra is not None:  # a card among the charts, as tall as they are even when they scroll
            extra.setMinimumHeight(PLOT_MIN_HEIGHT)
        self._cells: list[QWidget] = [*self.charts.values(), *([extra] if extra is not None else [])]
        self.columns = 0
        self.set_columns(columns)

    def set_columns(self, columns: int) -> None:
        """Lay the charts (and the extra card) out in `columns` columns, row by row."""
        if columns == self.columns:
            return
        for cell in self._cells:
            self._grid.removeWidget(cell)
        for r in range(self._grid.rowCount()):
            self._grid.setRowStretch(r, 0)
        for c in range(self._grid.columnCount()):
            self._grid.setColumnStretch(c, 0)
        for i, cell in enumerate(self._cells):
            self._grid.addWidget(cell, i // columns, i % columns)
        for r in range((len(self._cells) + columns - 1) // columns):
            self._grid.setRowStretch(r, 1)
        for c in range(columns):
            self._grid.setColumnStretch(c, 1)
        self.columns = columns

    def two_columns_width(self) -> int:
        """The narrowest width that holds two charts side by side without cutting them."""
        widest = max(cell.minimumSizeHint().width() for cell in self._cells)
        return 2 * widest + SPACING

    def set_dashboard(self, d: PatientDashboard) -> None:
        x_range = x_range_for(d)
        charts = list(self.charts.values())
        for chart in charts:
            chart.set_dashboard(d, x_range if chart is charts[0] else None)  # the others follow the link
        # (not settled here: the caller lays the new legends out first and then settles once, at
        # the charts' final sizes; settling before would apply every range twice)

    def settle(self) -> None:
        """Apply the charts' new ranges now, before they are painted (after `set_dashboard` and the
        layout of the new legends).

        (Each chart is still painted in a window paint pass of its own, and the charts after the
        first only once the rest of the window has painted: each chart's QGraphicsScene handles its
        changed items in a queued call that then flushes the window's pending update at once
        (Qt's QGraphicsView dispatchPendingUpdateRequests), one scene after the other. Bare
        pyqtgraph charts do the same, and each pass paints only what changed: no chart is painted
        twice, so merging the passes would save only their small overhead.)"""
        for chart in self.charts.values():
            chart.settle()
