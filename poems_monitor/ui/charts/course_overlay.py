"""What a trend chart draws over its values, in device pixels: therapy bands and one-off
treatments, events, thresholds and reference bands, and the placement of their labels (rows
along the top and bottom edges, never over each other nor over a flagged value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPen


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


__all__ = ["CourseOverlay"]
