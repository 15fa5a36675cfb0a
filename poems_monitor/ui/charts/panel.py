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

PLOT_MIN_HEIGHT = 200  # px of plot (axes included; about 170 px of data area): values and trends stay readable


class ChartsPanel(QWidget):
    def __init__(self, parent: QWidget | None = None, columns: int = 2, extra: QWidget | None = None):
        super().__init__(parent)
        self.charts: dict[str, TrendChart] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(SPACING)
        first = None
        for i, spec in enumerate(CHART_SPECS):
            chart = TrendChart(spec, self)
            chart.plot_widget.setMinimumHeight(PLOT_MIN_HEIGHT)
            self.charts[spec.key] = chart
            grid.addWidget(chart, i // columns, i % columns)
            if first is None:
                first = chart
            else:
                chart.plot.setXLink(first.plot)
        if extra is not None:
            n = len(CHART_SPECS)
            grid.addWidget(extra, n // columns, n % columns)
        for r in range((len(CHART_SPECS) + 1 + columns - 1) // columns):
            grid.setRowStretch(r, 1)
        for c in range(columns):
            grid.setColumnStretch(c, 1)

    def set_dashboard(self, d: PatientDashboard) -> None:
        x_range = x_range_for(d)
        charts = list(self.charts.values())
        for chart in charts:
            chart.set_dashboard(d, x_range if chart is charts[0] else None)  # the others follow the link
        for chart in charts:
            chart.settle()
