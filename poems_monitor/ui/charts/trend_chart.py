"""One trend chart of the dashboard (pyqtgraph), switchable to a table of the same values.

Owns how a chart draws a `PatientDashboard`'s series: a date axis; one line per series *segment*
(a line never joins values across a change of specimen, lab or method, and plasma and serum
VEGF are two series); marker symbol and dash per series so colour is never the only signal;
threshold lines and the reference band; lines of therapy shaded and labelled; ASCT and
radiotherapy as labelled vertical lines; events as labelled dotted lines; flagged values ringed;
a hover tooltip with date, value, unit, specimen and the flag; and a "Table" button that shows
the same values as rows. Reads only the dashboard dataclass.

The parts it is made of have their own modules: `chart_spec` (which charts, value text and
tooltips), `chart_table` (the table twin), `chart_axis` (the y axis) and `course_overlay` (therapy
bands, events, thresholds and the placement of their labels). Their names are re-exported here.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QFrame, QGraphicsView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QStackedWidget, QTableView, QToolTip,
    QVBoxLayout, QWidget,
)

from poems_monitor.domain.catalogue import MEASURES
from poems_monitor.i18n import tr
from poems_monitor.services.dashboard import PatientDashboard, Series
from poems_monitor.ui.charts.chart_axis import ChartAxis, ChartDateAxis
from poems_monitor.ui.charts.chart_spec import (
    CHART_SPECS, DAY, SHORT_EVENT, SHORT_REGIMEN, SPEC_BY_KEY, ChartSpec, format_value, point_tooltip, series_summary, to_x,
)
from poems_monitor.ui.charts.chart_table import ChartTableModel
from poems_monitor.ui.charts.course_overlay import CourseOverlay
from poems_monitor.ui.theme import SPACING, series_colour, series_style, theme, to_qcolor


class _Hover:
    """Points of the chart in data coordinates, for the tooltip on mouse-over."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float, pg.ViewBox, object]] = []  # tooltip text or (series, point)

    def clear(self) -> None:
        self.points.clear()


class TrendChart(QFrame):
    """A card: title, legend, "Table" toggle; the plot or the table of its values."""

    modeChanged = Signal(bool)  # True: table shown

    def __init__(self, spec: ChartSpec, parent: QWidget | None = None):
        super().__init__(parent)
        self.spec = spec
        self.setObjectName("card")
        t = theme()
        self.title = QLabel(spec.title, self)
        self.title.setObjectName("section")
        self.legend = QLabel(self)
        self.legend.setObjectName("muted")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.table_button = QPushButton(tr("Table"), self)
        self.table_button.setCheckable(True)
        self.table_button.setToolTip(tr("Show these values as a table"))
        self.table_button.setAccessibleName(tr("Show {chart} as a table").format(chart=spec.title))
        self.table_button.toggled.connect(self.show_table)

        self.axis = ChartDateAxis(orientation="bottom", utcOffset=0)
        axes = {"bottom": self.axis, "left": ChartAxis("left", spec.y_floor)}
        if spec.right_codes:
            axes["right"] = ChartAxis("right", 0.0)
        self.plot_widget = pg.PlotWidget(axisItems=axes, background=t.surface)
        self.plot_widget.setMinimumHeight(150)
        self.plot_widget.setAccessibleName(tr("{chart} chart").format(chart=spec.title))
        # One paint of the whole chart per update: with pyqtgraph's "minimal" mode a redrawn chart is
        # painted rectangle by rectangle, each item many times over.
        self.plot_widget.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=False, y=True, alpha=0.12)
        self.vb = self.plot.getViewBox()
        self.vb.setMouseEnabled(x=True, y=False)
        left = self.plot.getAxis("left")
        left.setLabel(spec.y_label)
        left.setWidth(56)
        for name in ("left", "bottom", "right"):
            ax = self.plot.getAxis(name)
            ax.setPen(pg.mkPen(t.border))
            ax.setTextPen(pg.mkPen(t.text_muted))
        self.right_vb: pg.ViewBox | None = None
        if spec.right_codes:
            self.right_vb = pg.ViewBox()
            self.right_vb.setMouseEnabled(x=True, y=False)
            self.plot.showAxis("right")
            self.plot.scene().addItem(self.right_vb)
            right = self.plot.getAxis("right")
            right.linkToView(self.right_vb)
            right.setLabel(spec.right_label)
            right.setWidth(48)
            self.right_vb.setXLink(self.plot)
            self.vb.sigResized.connect(self._sync_right)
        if spec.log_y:
            self.plot.setLogMode(x=False, y=True)
        self.hover = _Hover()
        self._mouse_proxy = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse)

        self.table_model = ChartTableModel(self)
        self.table = QTableView(self)  # given its model when first shown: a hidden table sized to its
        # contents would read every value of every chart at the window's first layout (cold start)
        self.table.setAlternatingRowColors(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAccessibleName(tr("{chart} values").format(chart=spec.title))

        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.plot_widget)
        self.stack.addWidget(self.table)

        self.legend.setWordWrap(True)
        top = QHBoxLayout()
        top.setSpacing(SPACING)
        top.addWidget(self.title, 1)
        top.addWidget(self.table_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING + 4, SPACING, SPACING, SPACING // 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.legend)
        layout.addWidget(self.stack, 1)
        self.series: tuple[Series, ...] = ()
        # Every item is made once and updated in place for each patient (setData on the same
        # items): adding and removing pyqtgraph items costs far more than drawing them.
        for vb in (self.vb, self.right_vb):
            if vb is not None:
                vb.disableAutoRange()  # ranges are set explicitly: no auto-range pass at paint time
        self._overlay = CourseOverlay()
        self.vb.addItem(self._overlay, ignoreBounds=True)
        self._overlay.right_view = self.right_vb  # thresholds of the right axis are drawn by the same item
        self._curves: dict[str, pg.PlotDataItem] = {}
        for code in spec.codes:
            curve = pg.PlotDataItem([], [], name=MEASURES[code].label if code in MEASURES else code)
            curve.setDynamicRangeLimit(None)  # no re-plot on every change of the y range
            if code in spec.right_codes and self.right_vb is not None:
                self.right_vb.addItem(curve)
                curve.setLogMode(False, False)
            else:
                self.plot.addItem(curve)
            self._curves[code] = curve
        self._rings: dict[int, pg.ScatterPlotItem] = {}  # id(view box) -> flagged values, ringed
        for vb in (self.vb, self.right_vb):
            if vb is None:
                continue
            ring = pg.ScatterPlotItem(symbol="o", brush=pg.mkBrush(0, 0, 0, 0))
            ring.setZValue(20)
            # in the view box directly (not a plot data item): main-axis values already in log10
            vb.addItem(ring, ignoreBounds=True)
            self._rings[id(vb)] = ring
        self._styled_for: object = None  # the theme the items were styled for
        self._fit: tuple | None = None  # what the y ranges were fitted to (see _fit_y)
        self._fitted_size = (0, 0)
        self.vb.sigResized.connect(self._on_resized)

    # --- public --------------------------------------------------------------------------------
    def show_table(self, on: bool) -> None:
        if self.table_button.isChecked() != on:
            self.table_button.setChecked(on)  # re-enters through toggled
            return
        if on and self.table.model() is None:
            self.table.setModel(self.table_model)
        self.stack.setCurrentIndex(1 if on else 0)
        self.table_button.setText(tr("Chart") if on else tr("Table"))
        self.table_button.setToolTip(tr("Show the chart") if on else tr("Show these values as a table"))
        self.modeChanged.emit(on)

    @property
    def showing_table(self) -> bool:
        return self.stack.currentIndex() == 1

    def _label_axes(self) -> None:
        """Each axis names the unit its series are drawn in: the clinic's unit (protocol [units])
        where the chart has one measure unit on that axis, else the chart's own label."""
        spec = self.spec
        sides = (("left", spec.y_label, [c for c in spec.codes if c not in spec.right_codes]),
                 ("right", spec.right_label, list(spec.right_codes)))
        for side, label, codes in sides:
            units = {s.unit for s in self.series if s.code in codes}
            if side == "right" and self.right_vb is None:
                continue
            if len(units) == 1 and label in {MEASURES[c].unit_label for c in codes}:
                label = units.pop()
            if self.plot.getAxis(side).labelText != label:
                self.plot.getAxis(side).setLabel(label)

    def data_item_count(self) -> int:
        """Drawn data points (for tests and the benchmark)."""
        return sum(len(s.points) for s in self.series)

    def set_dashboard(self, d: PatientDashboard, x_range: tuple[float, float] | None) -> None:
        """Redraw for `d`; `x_range` None keeps the range (a chart linked to another follows it)."""
        spec = self.spec
        t = theme()
        if self._styled_for is not t:
            self._restyle(t)
        self.series = tuple(d.series[c] for c in spec.codes if c in d.series)
        self.table_model.set_series(self.series)
        self._label_axes()
        self.plot_widget.setAccessibleDescription(series_summary(self.series))
        self.hover.clear()
        self._overlay.clear()
        self._draw_therapies(d, t)
        self._draw_events(d, t)
        y_values: list[float] = []
        right_values: list[float] = []
        self._draw_reference(d, t, y_values, right_values)
        has_main = has_right = False
        legend = []
        rings: dict[int, tuple[list[float], list[float], list[int]]] = {k: ([], [], []) for k in self._rings}
        by_code = {s.code: s for s in self.series}
        for code, curve in self._curves.items():
            s = by_code.get(code)
            if s is None:
                if curve.xData is not None and len(curve.xData):
                    curve.setData([], [])
                curve.setVisible(False)
                continue
            right = code in spec.right_codes and self.right_vb is not None
            target = self.right_vb if right else self.vb
            self._draw_series(s, curve, target, rings[id(target)])
            (right_values if right else y_values).extend(p.value for p in s.points)
            if right:
                has_right = has_right or bool(s.points)
            else:
                has_main = has_main or bool(s.points)
            legend.append(self._legend_entry(s, right))
        for key, ring in self._rings.items():
            xs, ys, sizes = rings[key]
            ring.setData(x=xs, y=ys, size=sizes) if xs else ring.setData(x=[], y=[])
            on_right = self.right_vb is not None and key == id(self.right_vb)
            self._overlay.rings.extend((x, y, on_right, size) for x, y, size in zip(xs, ys, sizes))
        self.legend.setText("&nbsp;&nbsp;".join(legend) if legend else "")
        if x_range is not None:
            self.vb.setXRange(*x_range, padding=0)
        self._fit = (x_range or x_range_for(d), y_values, has_main, right_values, has_right)
        self._fit_y()
        if self.right_vb is not None:
            self._sync_right()
        self._overlay.empty_text = "" if self.series else tr("No values recorded")
        self._overlay.update()

    def settle(self) -> None:
        """Apply the new ranges now (pyqtgraph defers them to the first paint, where the change
        of transform asks for a second paint of the chart)."""
        for vb in (self.vb, self.right_vb):
            if vb is not None:
                vb.prepareForPaint()

    # --- drawing -------------------------------------------------------------------------------
    def _restyle(self, t) -> None:  # noqa: ANN001
        """Pens and symbols of the series (once, and again if the theme changes)."""
        for code, curve in self._curves.items():
            style = series_style(code)
            colour = QColor(series_colour(code))
            pen = pg.mkPen(colour, width=2, style=style.dash)
            pen.setCosmetic(True)
            curve.setPen(pen)
            curve.setSymbol(style.symbol)
            curve.setSymbolBrush(pg.mkBrush(colour))
            curve.setSymbolPen(pg.mkPen(t.surface, width=1))
        for ring in self._rings.values():
            ring.setPen(pg.mkPen(t.highlight, width=2))
        self._overlay.empty_colour = to_qcolor(t.text_muted)
        self._overlay.label_background = t.qcolor("surface", 225)
        self._styled_for = t

    def _y(self, value: float) -> float:
        if self.spec.log_y:
            return math.log10(max(value, 1e-3))
        return value

    def _fit_y(self) -> None:
        """The y ranges for the values of the last `set_dashboard`, with head room for the rows of
        therapy labels (top) and event labels (bottom) at the chart's present size; again when
        the chart is resized (the rows depend on the size)."""
        if self._fit is None:
            return
        x_range, y_values, has_main, right_values, has_right = self._fit
        width, height = self.vb.width(), self.vb.height()
        self._fitted_size = (round(width), round(height))
        height = height if height > 60 else 150.0
        top_rows, bottom_rows = self._overlay.rows_needed(x_range, width, height)
        line_h = self._overlay.line_height()
        margins = (top_rows * line_h / height, bottom_rows * line_h / height)
        self._set_y(self.vb, y_values, self.spec.log_y, has_main, self.spec.empty_y, margins)
        if self.right_vb is not None:
            self._set_y(self.right_vb, right_values, False, has_right, (0.0, 20.0), margins)

    def _on_resized(self) -> None:
        if self._fit is not None and self._fitted_size != (round(self.vb.width()), round(self.vb.height())):
            self._fit_y()

    def _set_y(self, vb: pg.ViewBox, values: list[float], log: bool, has_data: bool, empty: tuple[float, float],
               margins: tuple[float, float]) -> None:
        """Fit `values` (the series and the thresholds to show; `empty` stands in for the series
        of a chart without values), leaving `margins` (fractions of the height, top and bottom)
        free for the rows of labels."""
        values = values if has_data else [*values, *empty]
        if log:
            lo, hi = math.log10(max(min(values), 1e-3)), math.log10(max(max(values), 1e-3))
            if hi - lo < 0.5:
                lo, hi = lo - 0.25, hi + 0.25
        else:
            lo, hi = min(values), max(values)
            if self.spec.y_floor is not None:
                lo = min(lo, self.spec.y_floor)
            if hi - lo < 1e-9:
                hi = lo + 1
        air = 0.06 if log else 0.04
        top, bottom = min(margins[0], 0.45), min(margins[1], 0.3)
        scale = (hi - lo) / max(0.3, 1 - top - bottom - 2 * air)
        vb.setYRange(lo - (bottom + air) * scale, hi + (top + air) * scale, padding=0)

    def _sync_right(self) -> None:
        if self.right_vb is not None:
            self.right_vb.setGeometry(self.vb.sceneBoundingRect())
            self.right_vb.linkedViewChanged(self.vb, self.right_vb.XAxis)

    def _draw_series(self, s: Series, curve: pg.PlotDataItem, target: pg.ViewBox, ring) -> None:  # noqa: ANN001
        """One series as one line (broken where the specimen, lab or method changes), its
        symbols, and a ring around each flagged value."""
        n = len(s.points)
        xs = np.fromiter((to_x(p.date) for p in s.points), float, n)
        ys = np.fromiter((p.value for p in s.points), float, n)
        segments = np.fromiter((p.segment for p in s.points), int, n)
        connect = "all" if n < 2 or segments[0] == segments[-1] else np.append(segments[1:] == segments[:-1], False)
        size = 7 if n < 120 else 5
        if curve.opts["symbolSize"] != size:
            curve.setSymbolSize(size)
        curve.setData(xs, ys, connect=connect)
        curve.setVisible(True)
        main = target is self.vb
        for p in s.points:  # tooltips are written only when hovered
            x = to_x(p.date)
            y = self._y(p.value) if main else p.value
            self.hover.points.append((x, y, target, (s, p)))
            if p.flags:
                ring[0].append(x)
                ring[1].append(y)
                ring[2].append(size + 10)

    def _legend_entry(self, s: Series, right: bool) -> str:
        style = series_style(s.code)
        glyph = {"o": "●", "s": "■", "t": "▼", "d": "◆", "star": "★", "+": "+", "x": "×"}.get(style.symbol, "●")
        dash = {Qt.PenStyle.SolidLine: "—", Qt.PenStyle.DashLine: "– –", Qt.PenStyle.DotLine: "···"}.get(style.dash, "-·-")
        side = f" ({tr('right axis')})" if right else ""
        return (f"<span style='color:{series_colour(s.code)}'>{dash} {glyph}</span> "
                f"<span>{s.name}{side}</span>")

    def _hline(self, value: float, text: str, colour: str, target: pg.ViewBox | None = None,
               style: Qt.PenStyle = Qt.PenStyle.DashLine, position: float = 0.99) -> None:
        right = target is not None and target is self.right_vb
        y = value if right else self._y(value)
        self._overlay.hlines.append((y, to_qcolor(colour), style, text, position > 0.5, right))

    def _band(self, lo: float | None, hi: float | None, colour: str, target: pg.ViewBox | None = None,
              log: bool = False) -> None:
        big = 1e9
        lo_v = lo if lo is not None else (0.001 if log else -big)
        hi_v = hi if hi is not None else big
        if log:
            lo_v, hi_v = math.log10(max(lo_v, 1e-3)), math.log10(max(hi_v, 1e-3))
        self._overlay.hbands.append((lo_v, hi_v, to_qcolor(colour)))  # main axis only

    def _draw_reference(self, d: PatientDashboard, t, y_values: list[float], right_values: list[float]) -> None:  # noqa: ANN001
        th = d.thresholds
        codes = {s.code for s in self.series}
        key = self.spec.key
        if key == "vegf":
            if "vegf_plasma" in codes:
                self._band(0, th.vegf_plasma_upper_reference, t.reference_band, log=True)
                self._hline(th.vegf_plasma_elevated, tr("plasma > {v:g} elevated").format(v=th.vegf_plasma_elevated),
                            series_colour("vegf_plasma"))
                y_values.append(th.vegf_plasma_elevated)
            if "vegf_serum" in codes:
                if "vegf_plasma" not in codes:
                    self._band(0, th.vegf_serum_upper_reference, t.reference_band, log=True)
                self._hline(th.vegf_serum_upper_reference, tr("serum ULN {v:g}").format(v=th.vegf_serum_upper_reference),
                            series_colour("vegf_serum"), style=Qt.PenStyle.DotLine)
                y_values.append(th.vegf_serum_upper_reference)
        elif key == "blood":
            ref = th.references.get("platelets")
            if ref and "platelets" in codes:
                self._band(ref[0], ref[1], t.reference_band)
            self._hline(th.platelets_high, tr("platelets {v:g}").format(v=th.platelets_high), series_colour("platelets"))
            y_values.append(th.platelets_high * 1.1)
            if self.right_vb is not None and "hemoglobin" in codes:
                if th.hemoglobin_high is not None:
                    sex = "F" if d.sex == "female" else "M"
                    self._hline(th.hemoglobin_high, tr("Hb {v:g} ({sex})").format(v=th.hemoglobin_high, sex=sex),
                                series_colour("hemoglobin"), target=self.right_vb, style=Qt.PenStyle.DotLine)
                    right_values.append(th.hemoglobin_high)
                right_values.append(0.0)
        elif key == "pft":
            self._band(80, None, t.reference_band)
            self._hline(80, tr("80 %"), t.threshold, style=Qt.PenStyle.DotLine)
        elif key == "echo":
            if "pasp" in codes:
                ref = th.references.get("pasp")
                if ref and ref[1] is not None:
                    self._hline(ref[1], tr("PASP {v:g}").format(v=ref[1]), series_colour("pasp"))
                ph = th.pasp_pulmonary_hypertension  # the protocol's threshold, in the clinic's unit
                self._hline(ph, tr("PASP {v:g} (PH)").format(v=ph), series_colour("pasp"), style=Qt.PenStyle.DotLine)
                y_values.append(ph)
            if "lvef" in codes:
                self._hline(50, tr("LVEF 50"), series_colour("lvef"), style=Qt.PenStyle.DashDotLine, position=0.02)

    def _draw_therapies(self, d: PatientDashboard, t) -> None:  # noqa: ANN001
        """Lines of therapy as shaded, labelled bands; ASCT and radiotherapy as labelled lines."""
        overlay = self._overlay
        end_default = to_x(d.as_of)
        shade = 0
        for th in d.therapies:
            short = SHORT_REGIMEN.get(th.regimen, th.label)
            if th.one_off:
                overlay.lines.append((to_x(th.start), to_qcolor(t.text_muted), Qt.PenStyle.SolidLine, short, True))
                self.hover.points.append((to_x(th.start), math.nan, self.vb,
                                          f"<b>{th.label}</b><br>{th.start.isoformat()}"))
                continue
            if not th.line:
                continue  # supportive treatment: not a line of therapy, not shaded
            x0 = to_x(th.start)
            x1 = max(to_x(th.end) if th.end else end_default, x0 + DAY)
            colour = t.therapy_band if shade % 2 == 0 else t.therapy_band_alt
            shade += 1
            overlay.bands.append((x0, x1, to_qcolor(colour), short))
            self.hover.points.append((x0, math.nan, self.vb, f"<b>{th.label}</b><br>{th.start.isoformat()} – "
                                      f"{th.end.isoformat() if th.end else tr('ongoing')}"))
        overlay.text_colour = to_qcolor(t.text)

    def _draw_events(self, d: PatientDashboard, t) -> None:  # noqa: ANN001
        """Events as dotted vertical lines labelled at the bottom (✚ marks a thrombosis)."""
        overlay = self._overlay
        for e in d.events:
            colour = t.critical if e.thrombotic else t.text_muted
            mark = "✚ " if e.thrombotic else "◆ "
            overlay.lines.append((to_x(e.date), to_qcolor(colour), Qt.PenStyle.DotLine,
                                  mark + SHORT_EVENT.get(e.type, e.name), False))
            self.hover.points.append((to_x(e.date), math.nan, self.vb,
                                      f"<b>{e.date.isoformat()}</b><br>{e.name}" + (f"<br>{e.note}" if e.note else "")))

    # --- hover ---------------------------------------------------------------------------------
    def _on_mouse(self, event) -> None:  # noqa: ANN001
        pos = event[0]
        if not self.plot.sceneBoundingRect().contains(pos):
            return
        best, best_d = None, 14.0  # pixels
        for x, y, vb, text in self.hover.points:
            if math.isnan(y):  # an event: match on x only
                scene = vb.mapViewToScene(QPointF(x, vb.viewRange()[1][0]))
                dist = abs(scene.x() - pos.x())
            else:
                scene = vb.mapViewToScene(QPointF(x, y))
                dist = math.hypot(scene.x() - pos.x(), scene.y() - pos.y())
            if dist < best_d:
                best, best_d = text, dist
        view = self.plot_widget
        if best is None:
            QToolTip.hideText()
            return
        if isinstance(best, tuple):
            best = point_tooltip(*best)
        global_pos = view.mapToGlobal(view.mapFromScene(pos))
        QToolTip.showText(global_pos, best, view)


def x_range_for(d: PatientDashboard) -> tuple[float, float]:
    """The shared date range of every chart: first visit or treatment to the as-of date, padded."""
    starts = [d.visit_dates[0]] if d.visit_dates else []
    starts += [t.start for t in d.therapies] + [e.date for e in d.events]
    first = min(starts) if starts else d.as_of
    last = max([d.as_of] + list(d.visit_dates[-1:]))
    span = max((last - first).days, 120)
    pad = max(span * 0.03, 20) * DAY  # the first and last points stay clear of the axes
    return to_x(first) - pad - (60 * DAY if span == 120 else 0), to_x(last) + pad


# the names other modules and tests import from here (they moved to the chart_* modules)
__all__ = [
    "CHART_SPECS", "DAY", "SHORT_EVENT", "SHORT_REGIMEN", "SPEC_BY_KEY", "ChartAxis", "ChartSpec", "ChartTableModel",
    "CourseOverlay", "TrendChart", "format_value", "point_tooltip", "to_x", "x_range_for",
]
