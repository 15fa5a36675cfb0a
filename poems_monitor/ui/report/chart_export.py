"""The dashboard's trend charts rendered for paper and files: PNG at print resolution, and SVG.

Owns how a chart leaves the screen. A chart for print is a fresh, offscreen `TrendChart` (the
dashboard's own chart class, used read-only) drawn in the light theme at the physical size it
will have on paper, so its fonts, symbols and labels have the sizes they have on screen, and
then painted onto an image whose device pixel ratio gives the requested resolution (300 dpi by
default). Everything the chart draws, including its therapy/event overlay that paints in device
pixels, scales together; only cosmetic (hairline) pens do not follow a device pixel ratio in
Qt, so the series lines of the print copy are widened by the same ratio.

Why not pyqtgraph's own exporters: 0.14's SVGExporter fails on every plot (ValueError in
`correctCoordinates`), and its ImageExporter scales the painter's world transform, which the
chart overlay resets to draw its labels in device pixels: at 300 dpi the therapy and event
labels come out a third of the size of the axis text. SVG is written here with QSvgGenerator
over the same scene render and checked by rasterising it back (tests/ui/test_chart_export.py).

Works offscreen (no window is shown). Must not change the dashboard's live charts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, QSize, QSizeF
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QResizeEvent

from poems_monitor.i18n import tr
from poems_monitor.services.dashboard import PatientDashboard

MM_PER_INCH = 25.4
LOGICAL_DPI = 110.0  # chart pixels per inch on paper: fonts come out about 8 pt, as on a laptop screen
DEFAULT_DPI = 300


def mm_to_logical(mm: float) -> float:
    return mm / MM_PER_INCH * LOGICAL_DPI


def mm_to_pixels(mm: float, dpi: float) -> int:
    return max(1, round(mm / MM_PER_INCH * dpi))


@contextlib.contextmanager
def print_theme() -> Iterator[None]:
    """The light theme while print copies are built and painted (paper is white whatever the
    screen shows); the screen's theme is restored afterwards."""
    from poems_monitor.ui.theme import LIGHT, set_theme

    previous = set_theme(LIGHT)
    try:
        yield
    finally:
        set_theme(previous)


@dataclass
class PrintChart:
    """An offscreen chart laid out at a physical size. Keep it alive while painting it."""

    key: str
    title: str
    chart: object  # TrendChart
    logical: QSizeF  # size in chart pixels (LOGICAL_DPI)

    @property
    def plot_item(self):  # noqa: ANN201
        return self.chart.plot

    @property
    def empty(self) -> bool:
        return not self.chart.series

    def close(self) -> None:
        self.chart.plot_widget.close()
        self.chart.deleteLater()


def _lay_out(plot_widget, width: int, height: int) -> None:  # noqa: ANN001
    """Give a never-shown pyqtgraph widget its size and let its scene lay out now."""
    old = plot_widget.size()
    plot_widget.resize(width, height)
    plot_widget.resizeEvent(QResizeEvent(QSize(width, height), old))
    item = plot_widget.getPlotItem()
    item.layout.activate()
    item.setGeometry(QRectF(0, 0, width, height))
    item.layout.activate()


def build_print_chart(dashboard: PatientDashboard, key: str, width_mm: float, height_mm: float) -> PrintChart:
    """A `TrendChart` of `dashboard` for chart `key`, offscreen, `width_mm` × `height_mm` on paper.
    Call inside `print_theme()` (the chart takes its colours when it is built and drawn)."""
    from poems_monitor.ui.charts.trend_chart import SPEC_BY_KEY, TrendChart, x_range_for

    spec = SPEC_BY_KEY[key]
    chart = TrendChart(spec)
    w, h = round(mm_to_logical(width_mm)), round(mm_to_logical(height_mm))
    _lay_out(chart.plot_widget, w, h)
    chart.set_dashboard(dashboard, x_range_for(dashboard))
    _lay_out(chart.plot_widget, w, h)  # the right axis view box follows the new geometry
    settle = getattr(chart, "settle", None)
    if settle is not None:
        settle()
    return PrintChart(key, spec.title, chart, QSizeF(w, h))


@contextlib.contextmanager
def _wide_cosmetic_pens(plot_item, ratio: float) -> Iterator[None]:  # noqa: ANN001
    """Cosmetic pens are drawn in device pixels and ignore a device pixel ratio: widen them by
    `ratio` while painting (restored afterwards, so a live chart is left as it was)."""
    import pyqtgraph as pg

    changed = []
    scene = plot_item.scene()
    for item in scene.items() if scene is not None else ():
        if isinstance(item, pg.PlotCurveItem):
            pen = QPen(item.opts["pen"])
            if pen.isCosmetic() and ratio != 1:
                changed.append((item, item.opts["pen"]))
                wider = QPen(pen)
                wider.setWidthF(max(pen.widthF(), 1.0) * ratio)
                item.setPen(wider)
    try:
        yield
    finally:
        for item, pen in changed:
            item.setPen(pen)


def _paint_scene(plot_item, painter: QPainter, target: QRectF, background: QColor | None) -> None:  # noqa: ANN001
    """Paint `plot_item`'s part of its scene onto `painter` in export mode (pyqtgraph items draw
    their symbols as vectors instead of cached pixmaps)."""
    from pyqtgraph.exporters import ImageExporter

    source = plot_item.sceneBoundingRect()
    exporter = ImageExporter(plot_item)
    exporter.setExportMode(True, {"antialias": True, "background": background or QColor("white"),
                                  "painter": painter, "resolutionScale": 1.0})
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        plot_item.scene().render(painter, target, source)
    finally:
        exporter.setExportMode(False)


def render_plot_image(plot_item, width_px: int, background: QColor | None = None,  # noqa: ANN001
                      height_px: int | None = None) -> QImage:
    """`plot_item` (a pyqtgraph PlotItem as laid out now) as an image `width_px` wide (and
    `height_px` high, default: its aspect), every element (text, symbols, lines, overlay labels)
    scaled alike."""
    source = plot_item.sceneBoundingRect()
    if source.width() <= 0 or source.height() <= 0:
        raise ValueError(tr("The chart has no size yet; show it or lay it out first."))
    ratio = width_px / source.width()
    height_px = height_px or max(1, round(source.height() * ratio))
    image = QImage(width_px, height_px, QImage.Format.Format_ARGB32)
    image.fill(background or QColor("white"))
    image.setDevicePixelRatio(ratio)
    painter = QPainter(image)
    try:
        with _wide_cosmetic_pens(plot_item, ratio):
            _paint_scene(plot_item, painter, QRectF(0, 0, source.width(), source.height()), background)
    finally:
        painter.end()
    image.setDevicePixelRatio(1.0)
    dots_per_metre = round(width_px / (source.width() / LOGICAL_DPI * MM_PER_INCH) * 1000)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    return image


def render_chart_image(dashboard: PatientDashboard, key: str, width_mm: float, height_mm: float,
                       dpi: float = DEFAULT_DPI) -> QImage:
    """Chart `key` of `dashboard` as printed: `width_mm` × `height_mm` at `dpi`, light theme."""
    with print_theme():
        chart = build_print_chart(dashboard, key, width_mm, height_mm)
        try:
            image = render_plot_image(chart.plot_item, mm_to_pixels(width_mm, dpi),
                                      height_px=mm_to_pixels(height_mm, dpi))
        finally:
            chart.close()
    dots_per_metre = round(dpi / MM_PER_INCH * 1000)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    return image


def write_svg(plot_item, path: Path | None, title: str = "", width_mm: float | None = None) -> bytes:  # noqa: ANN001
    """`plot_item` as SVG (QSvgGenerator over the scene render); written to `path` when given.
    Returns the SVG bytes."""
    from PySide6.QtSvg import QSvgGenerator

    source = plot_item.sceneBoundingRect()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(QSize(round(source.width()), round(source.height())))
    generator.setViewBox(QRectF(0, 0, source.width(), source.height()))
    # Text is laid out at the view's logical dpi; the generator must use the same, or the axis
    # labels land away from their ticks (pyqtgraph positions them from font metrics).
    views = plot_item.scene().views()
    generator.setResolution(views[0].logicalDpiY() if views else 96)
    generator.setTitle(title or tr("poems-monitor chart"))
    generator.setDescription(tr("Exported by poems-monitor"))
    painter = QPainter(generator)
    try:
        painter.fillRect(QRectF(0, 0, source.width(), source.height()), QColor("white"))
        _paint_scene(plot_item, painter, QRectF(0, 0, source.width(), source.height()), QColor("white"))
    finally:
        painter.end()
    data = bytes(buffer.data())
    if path is not None:
        Path(path).write_bytes(data)
    return data


def rasterise_svg(data: bytes, width_px: int) -> QImage:
    """An SVG drawn back onto an image (to check what was written)."""
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(QByteArray(data))
    if not renderer.isValid():
        raise ValueError(tr("Not a valid SVG"))
    size = renderer.defaultSize()
    height = max(1, round(size.height() * width_px / max(1, size.width())))
    image = QImage(width_px, height, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, width_px, height))
    painter.end()
    return image


def export_chart(dashboard: PatientDashboard, key: str, path: Path | str, width_mm: float = 170.0,
                 height_mm: float = 80.0, dpi: float = DEFAULT_DPI) -> Path:
    """Write chart `key` of `dashboard` to `path`: PNG (at `dpi`) or SVG, by the file's suffix.
    The file shows the chart as printed (light theme, physical size), whatever the screen shows."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(tr("Charts are exported as .png or .svg, not {suffix}").format(suffix=suffix or tr("no suffix")))
    if suffix == ".png":
        image = render_chart_image(dashboard, key, width_mm, height_mm, dpi)
        if not image.save(str(path), "PNG"):
            raise OSError(tr("{file} could not be written").format(file=path))
        return path
    with print_theme():
        chart = build_print_chart(dashboard, key, width_mm, height_mm)
        try:
            write_svg(chart.plot_item, path, title=f"{dashboard.name} ({dashboard.mrn}) – {chart.title}")
        finally:
            chart.close()
    return path


def export_plot_png(plot_item, path: Path | str, width_mm: float = 170.0, dpi: float = DEFAULT_DPI) -> Path:  # noqa: ANN001
    """Any pyqtgraph PlotItem exactly as it is laid out now (on screen, in its theme), as a PNG
    `width_mm` wide at `dpi`: everything is scaled alike, so a large on-screen chart gives small
    print text; `export_chart` makes a print-sized copy instead."""
    path = Path(path)
    image = render_plot_image(plot_item, mm_to_pixels(width_mm, dpi))
    dots_per_metre = round(dpi / MM_PER_INCH * 1000)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    if not image.save(str(path), "PNG"):
        raise OSError(tr("{file} could not be written").format(file=path))
    return path
