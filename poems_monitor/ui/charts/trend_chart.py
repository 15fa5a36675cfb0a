"""One trend chart of the dashboard (pyqtgraph), switchable to a table of the same values.

Owns how a chart draws a `PatientDashboard`'s series: a date axis; one line per series *segment*
(a line never joins values across a change of specimen, lab or method, and plasma and serum
VEGF are two series); marker symbol and dash per series so colour is never the only signal;
threshold lines and the reference band; lines of therapy shaded and labelled; ASCT and
radiotherapy as labelled vertical lines; events as labelled dotted lines; flagged values ringed;
a hover tooltip with date, value, unit, specimen and the flag; and a "Table" button that shows
the same values as rows. Reads only the dashboard dataclass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPen
from PySide6.QtWidgets import (
    QAbstractItemView, QFrame, QGraphicsView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QStackedWidget, QTableView, QToolTip,
    QVBoxLayout, QWidget,
)

from poems_monitor.domain.catalogue import CHART_GROUP_BY_KEY, MEASURES
from poems_monitor.domain.numbers import format_measure_value, format_number
from poems_monitor.i18n import tr
from poems_monitor.services.dashboard import PatientDashboard, Series, SeriesPoint
from poems_monitor.ui.row_table_model import RowTableModel
from poems_monitor.ui.theme import SPACING, series_colour, series_style, theme, to_qcolor

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DAY = 86400.0

# Short labels for therapy bands (full names are in the tooltips and the table).
SHORT_REGIMEN = {
    "radiotherapy": "RT", "melphalan_dexamethasone": "MDex", "lenalidomide_dexamethasone": "Len-Dex",
    "thalidomide_dexamethasone": "Thal-Dex", "pomalidomide_dexamethasone": "Pom-Dex",
    "bortezomib_dexamethasone": "Bor-Dex", "bortezomib_cyclophosphamide_dexamethasone": "VCd",
    "daratumumab_based": "Dara", "cyclophosphamide_based": "Cyclo", "asct": "ASCT", "bevacizumab": "Bev",
    "corticosteroids": "Steroids", "ivig": "IVIG", "plasma_exchange": "PLEX",
}
SHORT_EVENT = {
    "dvt": "DVT", "pe": "PE", "arterial_thrombosis": "Art. thromb.", "stroke": "Stroke", "tia": "TIA",
    "myocardial_infarction": "MI", "relapse": "Relapse", "progression": "Progression",
    "engraftment_syndrome": "ES", "hospitalisation": "Hosp.", "death": "Death", "other": "Event",
    "transferred": "Transfer",
}


def to_x(day: date) -> float:
    """A date as seconds since the epoch (UTC), the unit of pyqtgraph's DateAxisItem."""
    return (day.toordinal() - _EPOCH_ORDINAL) * DAY


@dataclass(frozen=True)
class ChartSpec:
    key: str
    title: str
    codes: tuple[str, ...]
    y_label: str
    right_codes: tuple[str, ...] = ()  # drawn against a second y axis on the right
    right_label: str = ""
    log_y: bool = False
    y_floor: float | None = None  # lowest y shown (scores start at 0)
    empty_y: tuple[float, float] = (0.0, 100.0)  # y range shown when the chart has no values


def _spec(key: str, y_label: str, **drawing: Any) -> ChartSpec:
    """The chart of the catalogue's chart group `key` (title and measures), drawn so."""
    group = CHART_GROUP_BY_KEY[key]
    return ChartSpec(group.key, group.title, group.codes, y_label, **drawing)


CHART_SPECS: tuple[ChartSpec, ...] = (
    _spec("vegf", "pg/mL", log_y=True, empty_y=(50.0, 2000.0)),
    _spec("blood", "×10⁹/L", right_codes=("hemoglobin",), right_label="g/dL", y_floor=0, empty_y=(0.0, 500.0)),
    _spec("pft", "% predicted", y_floor=0, empty_y=(0.0, 120.0)),
    _spec("neuropathy", "score", y_floor=0, empty_y=(0.0, 10.0)),
    _spec("echo", "mmHg / %", y_floor=0, empty_y=(0.0, 80.0)),
)
SPEC_BY_KEY = {s.key: s for s in CHART_SPECS}


def format_value(code: str, p: SeriesPoint) -> str:
    return f"{p.qualifier or ''}{format_measure_value(code, p.value)}"  # never "1,240": it reads back as 1.24


def point_tooltip(series: Series, p: SeriesPoint) -> str:
    lines = [f"<b>{p.date.isoformat()}</b>", f"{series.name}: <b>{format_value(series.code, p)}</b> {series.unit}"]
    details = []
    if p.specimen:
        details.append(tr("specimen: {s}").format(s=p.specimen.replace("_", " ")))
    if p.lab:
        details.append(tr("lab: {lab}").format(lab=p.lab))
    if p.method:
        details.append(tr("method: {m}").format(m=p.method))
    if details:
        lines.append(" · ".join(details))
    if p.entered:
        lines.append(tr("entered as {e}").format(e=p.entered))
    for message in p.flags:
        lines.append(f"⚑ {message}")
    return "<br>".join(lines)


# ---------------------------------------------------------------------------------------------
# Table of the same values
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# The chart
# ---------------------------------------------------------------------------------------------


class ChartAxis(pg.AxisItem):
    """A y axis whose ticks never go below the chart's floor (a score axis shows no "-2" when room
    is left under zero for the event labels) and, on a log scale, labels plain numbers (200, 500,
    1,000) at 1-2-5, 1-3 or decade steps, whichever keeps the labels apart at the axis' height
    (pyqtgraph labels every minor step, 2·10² 3·10² ..., which crowd on a short chart)."""

    def __init__(self, orientation: str, floor: float | None = None):
        super().__init__(orientation)
        self.floor = floor

    def tickValues(self, minVal, maxVal, size):  # noqa: ANN001, ANN201, N802, N803 (pyqtgraph API)
        levels = super().tickValues(minVal, maxVal, size)
        if self.floor is None or self.logMode:
            return levels
        return [(spacing, [v for v in values if v >= self.floor - 1e-9]) for spacing, values in levels]

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: ANN001, ANN201, N802, N803
        lo, hi = sorted((minVal, maxVal))
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo <= 0 or size <= 0:
            return [(None, [])]
        gap_px = QFontMetricsF(self.font()).height() * 1.5  # label height and some air
        px_per_decade = size / (hi - lo)
        fallback: list[float] = []
        for mantissas in ((1, 1.5, 2, 3, 5, 7), (1, 2, 5), (1, 3), (1,)):
            values = [k + math.log10(m) for k in range(math.floor(lo), math.ceil(hi) + 1) for m in mantissas]
            values = [v for v in values if lo - 1e-9 <= v <= hi + 1e-9]
            if len(values) < 2:
                fallback = fallback or values
                continue
            if min(b - a for a, b in zip(values, values[1:])) * px_per_decade >= gap_px:
                return [(None, values)]
            fallback = values[::2] if len(values) > 2 else values[:1]
        if hi - lo > 3:  # many decades: every n-th decade
            n = max(1, math.ceil(gap_px / px_per_decade))
            return [(None, [float(k) for k in range(math.ceil(lo), math.floor(hi) + 1)][::n])]
        chosen = fallback
        return [(None, chosen)]

    def logTickStrings(self, values, scale, spacing):  # noqa: ANN001, ANN201, N802
        out = []
        for v in values:
            number = 10 ** v * scale
            out.append(format_number(number, 0) if number >= 1 else f"{number:.2g}")
        return out


@dataclass
class _Label:
    x: float  # left edge of the text, device pixels
    text: str
    colour: QColor


class CourseOverlay(pg.GraphicsObject):
    """Lines of therapy, one-off treatments, events, thresholds and reference bands of one chart,
    drawn by one item in device pixels (labels stay legible at any zoom; one item is much cheaper
    than dozens).

    Labels never overlap: therapy and one-off treatment labels are stacked in rows along the top
    edge and event labels in rows along the bottom edge (left to right, each in the first row
    where it fits); a label that fits in no row is left out (its name is in the tooltip of the
    band or line). Threshold labels take the first free place beside their line. No label covers
    a ringed (flagged) value: a row label moves to another row or is left out, a threshold label
    moves along its line. Every label has a background of the chart's surface, so it stays
    legible over lines and points."""

    LABEL_PAD = 2.0  # pixels of background around a label's text
    GAP = 4.0  # pixels between two labels of a row

    def __init__(self) -> None:
        super().__init__()
        self.bands: list[tuple[float, float, QColor, str]] = []  # x0, x1, colour, label (top)
        self.lines: list[tuple[float, QColor, Qt.PenStyle, str, bool]] = []  # x, colour, style, label, at top
        self.hbands: list[tuple[float, float, QColor]] = []  # y0, y1 (view coordinates), colour
        # y, colour, style, label, at right, on the right axis (view coordinates of `right_view`)
        self.hlines: list[tuple[float, QColor, Qt.PenStyle, str, bool, bool]] = []
        self.right_view: pg.ViewBox | None = None
        # flagged values: x, y (view coordinates; of `right_view` when on the right axis), on the
        # right axis, ring diameter in pixels; labels keep clear of them
        self.rings: list[tuple[float, float, bool, float]] = []
        self.painted_labels: list[tuple[pg.QtCore.QRectF, str]] = []  # of the last paint (tests look)
        self.ring_boxes: list[pg.QtCore.QRectF] = []  # of the last paint
        self.text_colour = QColor("#000000")
        self.label_background = QColor(255, 255, 255, 220)
        self.empty_text = ""  # shown in the middle of the chart (no values)
        self.empty_colour = QColor("#808080")
        self.label_font = QFont()  # the application's font, a little smaller than the axes' text
        self.label_font.setPointSizeF(max(7.5, self.label_font.pointSizeF() * 0.92))
        self.setZValue(-30)

    def clear(self) -> None:
        self.bands, self.lines, self.hbands, self.hlines, self.rings = [], [], [], [], []
        self.empty_text = ""

    def boundingRect(self):  # noqa: ANN201, N802 (Qt API)
        vb = self.getViewBox()
        return vb.viewRect() if vb is not None else pg.QtCore.QRectF()

    def viewRangeChanged(self) -> None:  # noqa: N802 (pyqtgraph API)
        self.prepareGeometryChange()
        self.update()

    # --- label layout (shared by the paint and by the head room estimate) --------------------
    def line_height(self) -> float:
        return QFontMetricsF(self.label_font).height() + 2 * self.LABEL_PAD - 1

    @staticmethod
    def max_rows(height_px: float, line_h: float, top: bool) -> int:
        """Rows of labels along one edge: therapies (top) 1 to 3, events (bottom) 1 to 2, so that
        the labels never take more than about a third of the plot's height."""
        return max(1, min(3 if top else 2, int(height_px / (4 if top else 8) / line_h)))

    def _row_labels(self, x_px, left: float, right: float, top: bool) -> list[_Label]:  # noqa: ANN001
        out = []
        if top:
            for x0, x1, _colour, label in self.bands:
                p0, p1 = x_px(x0), x_px(x1)
                if label and p1 > left and p0 < right:
                    out.append(_Label(max(p0, left) + 3, label, self.text_colour))
        for x, colour, _style, label, at_top in self.lines:
            p = x_px(x)
            if label and at_top == top and left <= p <= right:
                out.append(_Label(p + 3, label, colour))
        out.sort(key=lambda item: item.x)
        return out

    def place_rows(self, labels: list[_Label], left: float, right: float, rows: int, metrics: QFontMetricsF,
                   blocked=None) -> list[tuple[_Label, int, float, float]]:  # noqa: ANN001
        """(label, row, x, width) for every label that fits, left to right, first free row;
        `blocked(row, x, width)` says where a label must not go (a ringed value is there)."""
        ends = [-math.inf] * rows
        placed = []
        pad = self.LABEL_PAD
        for label in labels:
            width = metrics.horizontalAdvance(label.text) + 2 * pad
            x = min(label.x - pad, right - width)  # a label at the right edge is pulled back in
            if x < left:
                continue  # narrower than the chart: cannot be shown whole
            for row in range(rows):
                if x >= ends[row] + self.GAP and not (blocked and blocked(row, x, width)):
                    ends[row] = x + width
                    placed.append((label, row, x, width))
                    break
        return placed

    def rows_needed(self, x_range: tuple[float, float], width_px: float, height_px: float) -> tuple[int, int]:
        """Rows of labels at the top and at the bottom for this x range and plot size."""
        if width_px <= 1 or x_range[1] <= x_range[0]:
            return (1 if self.bands or any(at for *_, at in self.lines) else 0,
                    1 if any(not at for *_, at in self.lines) else 0)
        scale = width_px / (x_range[1] - x_range[0])

        def x_px(x: float) -> float:
            return (x - x_range[0]) * scale

        metrics = QFontMetricsF(self.label_font)
        out = []
        for top in (True, False):
            rows = self.max_rows(height_px, self.line_height(), top)
            placed = self.place_rows(self._row_labels(x_px, 0.0, width_px, top), 0.0, width_px, rows, metrics)
            out.append(1 + max((row for _, row, _, _ in placed), default=-1))
        return out[0], out[1]

    # --- paint ---------------------------------------------------------------------------------
    def paint(self, painter, *_args) -> None:  # noqa: ANN001, ANN002
        vb = self.getViewBox()
        if vb is None:
            return
        rect = vb.viewRect()
        transform = painter.transform()
        a = transform.map(QPointF(rect.left(), rect.top()))
        b = transform.map(QPointF(rect.right(), rect.bottom()))
        left, right = min(a.x(), b.x()), max(a.x(), b.x())
        top, bottom = min(a.y(), b.y()), max(a.y(), b.y())

        def px(x: float) -> float:
            return transform.map(QPointF(x, rect.top())).x()

        def py(y: float) -> float:
            return transform.map(QPointF(rect.left(), y)).y()

        right_range = self.right_view.viewRange()[1] if self.right_view is not None else None

        def py_right(y: float) -> float:
            lo, hi = right_range
            return bottom - (y - lo) / ((hi - lo) or 1.0) * (bottom - top)

        painter.save()
        painter.resetTransform()
        painter.setFont(self.label_font)
        metrics = QFontMetricsF(self.label_font)
        line_h = self.line_height()
        pad = self.LABEL_PAD
        ascent = metrics.ascent()
        for y0, y1, colour in self.hbands:
            a_px, b_px = py(y0), py(y1)
            p0, p1 = max(min(a_px, b_px), top), min(max(a_px, b_px), bottom)
            if p1 > p0:
                painter.fillRect(pg.QtCore.QRectF(left, p0, right - left, p1 - p0), colour)
        for x0, x1, colour, _label in self.bands:
            p0, p1 = max(px(x0), left), min(px(x1), right)
            if p1 > p0:
                painter.fillRect(pg.QtCore.QRectF(p0, top, p1 - p0, bottom - top), colour)
        for x, colour, style, _label, _at_top in self.lines:
            p = px(x)
            if left <= p <= right:
                painter.setPen(QPen(colour, 1.3, style))
                painter.drawLine(QPointF(p, top), QPointF(p, bottom))
        hline_pixels = []
        for y, colour, style, label, at_right, on_right in self.hlines:
            if on_right and right_range is None:
                continue
            p = py_right(y) if on_right else py(y)
            if not top <= p <= bottom:
                continue
            painter.setPen(QPen(colour, 1.0, style))
            painter.drawLine(QPointF(left, p), QPointF(right, p))
            if label:
                hline_pixels.append((p, colour, label, at_right))

        taken: list[pg.QtCore.QRectF] = []
        rings = []
        for x, y, on_right, size in self.rings:
            if on_right and right_range is None:
                continue
            cx, cy, r = px(x), (py_right(y) if on_right else py(y)), size / 2 + 1
            rings.append(pg.QtCore.QRectF(cx - r, cy - r, 2 * r, 2 * r))
        self.ring_boxes, self.painted_labels = rings, []

        def on_a_ring(box: pg.QtCore.QRectF) -> bool:
            return any(box.intersects(ring) for ring in rings)

        def draw_label(box: pg.QtCore.QRectF, text: str, colour: QColor) -> None:
            painter.fillRect(box, self.label_background)
            painter.setPen(colour)
            painter.drawText(QPointF(box.left() + pad, box.top() + pad - 1 + ascent), text)
            taken.append(box)
            self.painted_labels.append((box, text))

        for at_top in (True, False):
            rows = self.max_rows(bottom - top, line_h, at_top)
            labels = self._row_labels(px, left, right, at_top)

            def row_box(row: int, x: float, width: float, at_top: bool = at_top) -> pg.QtCore.QRectF:
                y = top + 1 + row * line_h if at_top else bottom - 1 - (row + 1) * line_h
                return pg.QtCore.QRectF(x, y, width, line_h)

            for label, row, x, width in self.place_rows(labels, left, right, rows, metrics,
                                                        lambda r, x, w, f=row_box: on_a_ring(f(r, x, w))):
                draw_label(row_box(row, x, width), label.text, label.colour)
        for p, colour, label, at_right in hline_pixels:
            width = metrics.horizontalAdvance(label) + 2 * pad
            # beside its line: at its end first, then further along it, never over a ringed value
            steps = [i / 6 for i in range(7)]
            span = max(right - left - width - 4, 0)
            xs = [right - width - 2 - f * span for f in steps] if at_right else [left + 2 + f * span for f in steps]
            candidates = [pg.QtCore.QRectF(x, y, width, line_h)
                          for x in xs for y in (p - line_h + 1, p)
                          if top <= y and y + line_h <= bottom]
            candidates = [box for box in candidates if not on_a_ring(box)]
            if not candidates:
                continue  # nowhere clear of the flagged values: the line stays, unlabelled

            def overlap(box: pg.QtCore.QRectF) -> float:
                return sum(box.intersected(other).width() * box.intersected(other).height() for other in taken)

            best = min(candidates, key=overlap)  # the first free place (min keeps the first of equals)
            draw_label(best, label, colour)
        if self.empty_text:
            painter.setPen(self.empty_colour)
            painter.drawText(pg.QtCore.QRectF(left, top, right - left, bottom - top),
                             int(Qt.AlignmentFlag.AlignCenter), self.empty_text)
        painter.restore()


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

        self.axis = pg.DateAxisItem(orientation="bottom", utcOffset=0)
        axes = {"bottom": self.axis, "left": ChartAxis("left", spec.y_floor)}
        if spec.right_codes:
            axes["right"] = ChartAxis("right", 0.0)
        self.plot_widget = pg.PlotWidget(axisItems=axes, background=t.surface)
        self.plot_widget.setMinimumHeight(150)
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
        self.table = QTableView(self)
        self.table.setModel(self.table_model)
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
            curve = pg.PlotDataItem([], [], name=MEASURES[code].name if code in MEASURES else code)
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
        self.stack.setCurrentIndex(1 if on else 0)
        self.table_button.setText(tr("Chart") if on else tr("Table"))
        self.table_button.setToolTip(tr("Show the chart") if on else tr("Show these values as a table"))
        self.modeChanged.emit(on)

    @property
    def showing_table(self) -> bool:
        return self.stack.currentIndex() == 1

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
                self._hline(50, tr("PASP 50 (PH)"), series_colour("pasp"), style=Qt.PenStyle.DotLine)
                y_values.append(50)
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
