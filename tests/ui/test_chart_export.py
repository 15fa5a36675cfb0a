"""Chart export: PNG at the requested print size (pixels from mm and dpi), not blank, the chart's
overlay labels scaled with the rest; SVG that draws back like the PNG; the export dialog."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QImage

from poems_monitor.services.dashboard import build_dashboard
from poems_monitor.services.timeline_io import import_patients
from poems_monitor.ui.report.chart_export import (
    export_chart, export_plot_png, mm_to_pixels, rasterise_svg, render_chart_image,
)
from tests.conftest import TODAY
from tests.unit.timeline_builders import BASELINE_FEATURES, event, patient, treatment, visit


@pytest.fixture
def dashboard(db, admin):
    jane = patient(
        visit("2021-01-10", vegf_plasma=1240, platelets=520, hemoglobin=13.0, dlco_pct=70, fvc_pct=80,
              features=BASELINE_FEATURES),
        visit("2021-04-10", vegf_plasma=600, platelets=400, hemoglobin=12.5, dlco_pct=66, fvc_pct=82),
        visit("2021-07-10", vegf_plasma=300, platelets=300, hemoglobin=12.8, dlco_pct=72, fvc_pct=85),
        treatments=[treatment("lenalidomide_dexamethasone", "2021-02-01", "2021-12-01")],
        events=[event("dvt", "2021-03-01")],
    )
    import_patients(db, [jane], admin, reason="test")
    return build_dashboard(db, "H-000123", TODAY)


def ink_fraction(image: QImage, step: int = 3) -> float:
    """Share of sampled pixels that are not (near) white."""
    inked = total = 0
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            c = QColor(image.pixel(x, y))
            total += 1
            if c.red() + c.green() + c.blue() < 3 * 235:
                inked += 1
    return inked / total


def colour_count(image: QImage, colour: QColor, tolerance: int = 40, step: int = 2) -> int:
    n = 0
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            c = QColor(image.pixel(x, y))
            if abs(c.red() - colour.red()) + abs(c.green() - colour.green()) + abs(c.blue() - colour.blue()) < tolerance:
                n += 1
    return n


def test_png_has_the_print_size_and_is_not_blank(qapp, dashboard, tmp_path):
    target = tmp_path / "blood.png"
    export_chart(dashboard, "blood", target, width_mm=120, height_mm=60, dpi=300)
    image = QImage(str(target))
    assert (image.width(), image.height()) == (mm_to_pixels(120, 300), mm_to_pixels(60, 300)) == (1417, 709)
    assert round(image.dotsPerMeterX() * 0.0254) == 300
    assert 0.03 < ink_fraction(image) < 0.8
    # the platelet line (Okabe–Ito blue) is drawn, wide enough to be seen at print size
    assert colour_count(image, QColor("#0072B2")) > 400


def test_dpi_scales_pixels_not_the_drawing(qapp, dashboard):
    low = render_chart_image(dashboard, "vegf", 90, 50, dpi=150)
    high = render_chart_image(dashboard, "vegf", 90, 50, dpi=300)
    assert (low.width(), high.width()) == (mm_to_pixels(90, 150), mm_to_pixels(90, 300)) == (531, 1063)
    # the same drawing: ink covers about the same share of the picture at both resolutions
    assert abs(ink_fraction(low) - ink_fraction(high)) < 0.04


def test_svg_draws_back_like_the_png(qapp, dashboard, tmp_path):
    png, svg = tmp_path / "pft.png", tmp_path / "pft.svg"
    export_chart(dashboard, "pft", png, 120, 60, dpi=150)
    export_chart(dashboard, "pft", svg, 120, 60)
    data = svg.read_bytes()
    assert b"<svg" in data
    reference = QImage(str(png)).convertToFormat(QImage.Format.Format_RGB32)
    drawn = rasterise_svg(data, reference.width()).convertToFormat(QImage.Format.Format_RGB32)
    assert abs(drawn.height() - reference.height()) <= 1
    # the whole picture alike on a coarse grid (line widths differ: hairlines stay hairlines in SVG)
    small_ref = reference.scaled(60, 30).convertToFormat(QImage.Format.Format_RGB32)
    small_svg = drawn.scaled(60, 30).convertToFormat(QImage.Format.Format_RGB32)
    diff = sum(
        abs(QColor(small_ref.pixel(x, y)).lightness() - QColor(small_svg.pixel(x, y)).lightness())
        for y in range(30) for x in range(60)) / (60 * 30)
    assert diff < 12, f"SVG differs from the PNG (mean lightness difference {diff:.1f})"
    # and the axis text where the PNG has it (a wrong text scale in SVG moves the tick labels)
    assert profile_difference(reference, drawn) < 0.015


def profile_difference(a: QImage, b: QImage, bins: int = 40) -> float:
    """Mean difference of the ink-per-row profiles of the y-axis strip (left 12 %)."""
    def profile(image: QImage) -> list[float]:
        strip = round(image.width() * 0.12)
        rows = []
        for y in range(image.height()):
            inked = sum(1 for x in range(0, strip, 2) if QColor(image.pixel(x, y)).lightness() < 200)
            rows.append(inked / (strip / 2))
        size = len(rows) / bins
        return [sum(rows[int(i * size):int((i + 1) * size)]) / max(1, int((i + 1) * size) - int(i * size))
                for i in range(bins)]
    pa, pb = profile(a), profile(b)
    return sum(abs(x - y) for x, y in zip(pa, pb)) / bins


def test_unknown_suffix_is_refused(qapp, dashboard, tmp_path):
    with pytest.raises(ValueError):
        export_chart(dashboard, "vegf", tmp_path / "chart.jpg")


def test_live_chart_exports_as_shown_and_is_left_unchanged(qtbot, dashboard, tmp_path):
    from poems_monitor.ui.charts.trend_chart import SPEC_BY_KEY, TrendChart, x_range_for

    chart = TrendChart(SPEC_BY_KEY["blood"])
    qtbot.addWidget(chart)
    chart.resize(600, 300)
    chart.show()
    qtbot.waitExposed(chart)
    chart.set_dashboard(dashboard, x_range_for(dashboard))
    pens = [item.opts["pen"].widthF() for item in chart.plot.listDataItems()
            if hasattr(item, "curve")]
    target = export_plot_png(chart.plot, tmp_path / "live.png", width_mm=100, dpi=200)
    image = QImage(str(target))
    assert image.width() == mm_to_pixels(100, 200) and ink_fraction(image) > 0.03
    assert [item.opts["pen"].widthF() for item in chart.plot.listDataItems() if hasattr(item, "curve")] == pens


def test_export_dialog_writes_the_chosen_file(qtbot, dashboard, tmp_path):
    from poems_monitor.ui.report.actions import ChartExportDialog

    dialog = ChartExportDialog(dashboard, "pft")
    qtbot.addWidget(dialog)
    assert dialog.chart.currentData() == "pft" and dialog.path.text().endswith("H-000123-pft.png")
    dialog.width_mm.setValue(80)
    dialog.height_mm.setValue(40)
    dialog.dpi.setValue(200)
    assert dialog.size_note.text() == "630 × 315 pixels"
    dialog.path.setText(str(tmp_path / "lung.png"))
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted
    image = QImage(str(tmp_path / "lung.png"))
    assert (image.width(), image.height()) == (630, 315)
    dialog2 = ChartExportDialog(dashboard, "vegf")
    qtbot.addWidget(dialog2)
    dialog2.format.setCurrentIndex(1)
    assert dialog2.path.text().endswith(".svg") and not dialog2.dpi.isEnabled()
    dialog2.path.setText(str(tmp_path / "vegf.svg"))
    dialog2.accept()
    assert (tmp_path / "vegf.svg").read_bytes().lstrip().startswith(b"<?xml")
