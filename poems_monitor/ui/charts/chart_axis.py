"""The trend charts' axes: y ticks never below the chart's floor, plain numbers on a log scale;
the axis title written again only when its text changes."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtGui import QFontMetricsF

from poems_monitor.domain.numbers import format_number


class _TitleOnce(pg.AxisItem):
    """pyqtgraph lays the axis title out again (an HTML text item) at every change of range, even
    when its text stays the same: a patient switch changes every axis' range (fifteen titles)."""

    _shown_title: tuple[str, str] | None = None

    def _updateLabel(self) -> None:  # noqa: N802 (pyqtgraph API)
        title = (self.labelString(), self.label.font().key())
        if title != self._shown_title:
            self._shown_title = title
            self.label.setHtml(title[0])
            self._adjustSize()
        self.picture = None  # the ticks are drawn again, as pyqtgraph does
        self.update()


class ChartDateAxis(_TitleOnce, pg.DateAxisItem):
    """The charts' shared date axis."""


class ChartAxis(_TitleOnce):
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


__all__ = ["ChartAxis", "ChartDateAxis"]
