"""The printable patient summary: one QTextDocument, painted page by page onto a PDF writer or
a printer (the print preview shows exactly what the PDF holds).

Owns the page: A4 or Letter, margins, a running header from page 2 on, and a footer on every
page with the provenance ("generated on, by, from database"), the page number and the clinical
caution. The content comes from `services.patient_summary` (Qt-free); the trend charts are the
dashboard's own chart classes drawn offscreen at 300 dpi (`chart_export`) and added to the
document as image resources, one table per row of two charts. Each row is kept whole (never cut
across pages); the trends start where the sections before them end when their first row fits
there, otherwise the latest values (which flow across pages) come first and fill the page; a
section heading that would end a page is moved to the next. The sections' HTML is written by
`summary_html`. Works offscreen, without CUPS: `write_patient_summary` needs only a QGuiApplication.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from PySide6.QtCore import QBuffer, QMarginsF, QPointF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QColor, QFont, QPageLayout, QPageSize, QPagedPaintDevice, QPainter, QPdfWriter, QPen, QTextCursor,
    QTextDocument, QTextFormat, QTextOption,
)

from poems_monitor.i18n import tr
from poems_monitor.local_format import day
from poems_monitor.services.patient_summary import PatientSummary, build_patient_summary
from poems_monitor.ui.report.chart_export import DEFAULT_DPI, build_print_chart, print_theme, render_plot_image
from poems_monitor.ui.report.summary_html import KIND_TEXT  # noqa: F401 (re-exported: tests read it here)
from poems_monitor.ui.report.summary_html import INK, MUTED, ROW_ANCHOR, RULE, ChartFigure, chart_legend, summary_html

PAGE_SIZES = {"A4": QPageSize.PageSizeId.A4, "Letter": QPageSize.PageSizeId.Letter}
MARGINS_MM = QMarginsF(16, 12, 16, 11)  # left, top, right, bottom
HEADER_MM = 9.0  # running header band (pages 2 and later; page 1 has the identity block)
FOOTER_MM = 15.0
CHART_GAP_MM = 5.0
CHART_HEIGHT_MM = 54.0
FONT_FAMILIES = ["DejaVu Sans", "Noto Sans", "Liberation Sans", "Arial", "Helvetica"]



def page_layout(page_size: str) -> QPageLayout:
    if page_size not in PAGE_SIZES:
        raise ValueError(tr("Page size must be A4 or Letter, not {size}").format(size=page_size))
    return QPageLayout(QPageSize(PAGE_SIZES[page_size]), QPageLayout.Orientation.Portrait, MARGINS_MM,
                       QPageLayout.Unit.Millimeter)


def print_font(point_size: float = 8.4) -> QFont:
    from poems_monitor.ui.fonts import with_japanese_fallback

    font = QFont()
    font.setFamilies(with_japanese_fallback(FONT_FAMILIES))  # names and text in Japanese: the bundle's font
    font.setPointSizeF(point_size)
    font.setStyleHint(QFont.StyleHint.SansSerif)
    # No ligatures: "ﬀ"/"ﬁ" glyphs make the PDF's text unsearchable ("effusion" would not be found).
    for tag in ("liga", "clig"):
        font.setFeature(QFont.Tag(tag), 0)
    return font



# ---------------------------------------------------------------------------------------------
# The document and its pages
# ---------------------------------------------------------------------------------------------


class SummaryDocument:
    """A patient summary ready to paint on any paged device (QPdfWriter, QPrinter)."""

    def __init__(self, summary: PatientSummary, page_size: str = "A4", chart_dpi: float = DEFAULT_DPI):
        self.summary = summary
        self.page_size = page_size
        self.layout = page_layout(page_size)
        content_mm = self.layout.paintRect(QPageLayout.Unit.Millimeter).width()
        self.chart_width_mm = (content_mm - CHART_GAP_MM) / 2
        self.document = QTextDocument()
        self.document.setDocumentMargin(0)
        self.document.setDefaultFont(print_font())
        self.document.setUseDesignMetrics(True)
        self.chart_ms = 0.0
        figures, empty = self._render_charts(chart_dpi)
        self.figures, self.empty_charts = figures, empty
        self.latest_first = False  # the latest values before the trends (see `summary_html`); chosen by `lay_out`
        self.table_breaks: frozenset = frozenset()  # rows that start a page (see `_TableBreaks`); chosen by `lay_out`
        self.document.setHtml(summary_html(summary, figures, empty))
        self.page_count = 0
        # The pages are laid out once, on a PDF device at the file's resolution, and painted
        # scaled on any other device: the preview and the printer show exactly the file's pages.
        self._reference_buffer = QBuffer()
        self._reference = QPdfWriter(self._reference_buffer)
        self._reference.setResolution(DEFAULT_DPI)
        self._reference.setPageLayout(self.layout)

    def _render_charts(self, dpi: float) -> tuple[list[ChartFigure], list[str]]:
        from poems_monitor.ui.charts.trend_chart import CHART_SPECS

        t0 = time.perf_counter()
        d = self.summary.dashboard
        figures, empty = [], []
        width_mm, height_mm = self.chart_width_mm, CHART_HEIGHT_MM
        with print_theme():
            for spec in CHART_SPECS:
                if not any(c in d.series for c in spec.codes):
                    empty.append(spec.title)
                    continue
                chart = build_print_chart(d, spec.key, width_mm, height_mm)
                try:
                    image = render_plot_image(chart.plot_item, round(width_mm / 25.4 * dpi))
                    legend = chart_legend(chart.chart.series)
                finally:
                    chart.close()
                url = f"chart://{spec.key}"
                self.document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(url), image)
                figures.append(ChartFigure(spec.key, spec.title, legend, url,
                                           width_mm / 25.4 * 96, height_mm / 25.4 * 96))
        self.chart_ms = (time.perf_counter() - t0) * 1000
        return figures, empty

    # --- layout on a device -------------------------------------------------------------------
    def _geometry(self, device: QPagedPaintDevice) -> tuple[QRectF, float, float, float]:
        resolution = device.resolution() if hasattr(device, "resolution") else device.logicalDpiY()
        rect = QRectF(device.pageLayout().paintRectPixels(resolution))
        px_per_mm = resolution / 25.4
        header = HEADER_MM * px_per_mm
        footer = FOOTER_MM * px_per_mm
        return rect, header, footer, px_per_mm

    def lay_out(self, device: QPagedPaintDevice | None = None) -> int:
        """Lay the pages out (once, at the PDF's resolution, whatever `device` will show them) and
        set `device` to the summary's page; returns the page count."""
        if device is not None:
            device.setPageLayout(self.layout)
        if self.page_count:
            return self.page_count
        rect, header, footer, px_per_mm = self._geometry(self._reference)
        doc = self.document
        doc.documentLayout().setPaintDevice(self._reference)
        # whole pixels: the layout keeps page heights in 1/64 px, and a page end it rounds below
        # ours would let the first line of a page be painted (clipped) at the foot of the last one
        body = float(math.floor(rect.height() - header - footer))
        doc.setPageSize(QSizeF(rect.width(), body))
        # The trends come before the latest values if their first row of charts fits on the page
        # where they start; if it does not and page 1 would end half empty, the latest values (which
        # flow across pages) come first and fill it. Fewest pages first.
        best = None
        for latest_first in (False, True) if self.figures and self.summary.latest else (False,):
            broken = self._paginate(latest_first, body, px_per_mm)
            score = (max(1, doc.pageCount()), self._first_page_blank(body) > 35 * px_per_mm, latest_first,
                     self.table_breaks)
            if best is None or score[:3] < best[:3]:
                best = score
            if not broken:
                break
        if (best[2], best[3]) != (self.latest_first, self.table_breaks):
            self._set_content(best[2], best[3])
            self._keep_headings_with_content(body, px_per_mm)
        self.page_count = max(1, doc.pageCount())
        self._body = body
        self._rect = rect
        self._header = header
        self._px_per_mm = px_per_mm
        return self.page_count

    def _paginate(self, latest_first: bool, body: float, px_per_mm: float) -> bool:
        """Keep headings with what follows them and rows of charts whole, then start a new page at
        every table row that would be cut (or that would leave a group heading row, such as
        "Haematology", alone at the end of a page), until no row is cut. Returns whether the
        trends heading had to start a new page."""
        breaks: frozenset = frozenset()
        for _ in range(60):
            self._set_content(latest_first, breaks)
            trends_moved = self._keep_headings_with_content(body, px_per_mm)
            row = self._first_cut_row(body)
            if row is None:
                return trends_moved
            breaks = breaks | {row}
        return trends_moved

    def _table_rows(self) -> list[tuple[tuple[int, int], float, float, bool]]:
        """Every row of the `_table`s in document order: ((table, row), top, bottom, is a group
        heading row such as "Haematology", whose other cells are empty)."""
        layout = self.document.documentLayout()
        rows: list[list] = []  # [(table, row), top, bottom, group heading?, the QTextTable's position]
        block = self.document.begin()
        while block.isValid():
            table = QTextCursor(block).currentTable()
            if table is not None:
                rect = layout.blockBoundingRect(block)
                name = self._row_anchor(block)
                if name is not None:
                    rows.append([name, rect.top(), rect.bottom(), True, table.firstPosition()])
                elif rows and rows[-1][4] == table.firstPosition():  # another cell of the same row
                    row = rows[-1]
                    row[1], row[2] = min(row[1], rect.top()), max(row[2], rect.bottom())
                    row[3] = row[3] and not block.text().strip()
            block = block.next()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    @staticmethod
    def _first_row_bottom(rows, top: float, section_bottom: float) -> float:  # noqa: ANN001
        """The bottom of the first row of the first table between `top` and `section_bottom`
        (with the row after it when the first is a group heading); `top` when there is none."""
        for i, ((table, row), row_top, row_bottom, heading) in enumerate(rows):
            if row == 0 and top <= row_top < section_bottom:
                if heading and i + 1 < len(rows) and rows[i + 1][0][0] == table:
                    return rows[i + 1][2]
                return row_bottom
        return top

    def _first_cut_row(self, body: float) -> tuple[int, int] | None:
        """The first (table, row) of a `_table` that a page end cuts, or a group heading row that
        ends a page; None when every row is whole on its page. A table's first row is kept with
        its section heading by `_keep_headings_with_content` instead."""
        rows = self._table_rows()

        def page(y: float) -> int:
            return math.floor((y + 0.5) / body)

        for i, ((table, row), top, bottom, heading) in enumerate(rows):
            if row == 0:
                continue
            if page(top) != page(bottom - 1):
                (t_before, r_before), _top, _bottom, heading_before = rows[i - 1]
                if t_before == table and r_before > 0 and heading_before:
                    return t_before, r_before  # a group heading row goes with the row it heads
                return table, row
            following = rows[i + 1] if i + 1 < len(rows) else None
            if heading and following is not None and following[0][0] == table and page(following[1]) != page(top):
                return table, row
        return None

    @staticmethod
    def _row_anchor(block) -> tuple[int, int] | None:  # noqa: ANN001
        it = block.begin()
        while not it.atEnd():
            for name in it.fragment().charFormat().anchorNames():
                if name.startswith(ROW_ANCHOR):
                    table, row = name[len(ROW_ANCHOR):].split("-")
                    return int(table), int(row)
            it += 1
        return None

    def _first_page_blank(self, body: float) -> float:
        """Height left blank at the end of page 1 (device pixels) in the present layout."""
        layout = self.document.documentLayout()
        end = 0.0
        for frame in self.document.rootFrame().childFrames():
            rect = layout.frameBoundingRect(frame)
            if rect.top() < body:
                end = max(end, min(rect.bottom(), body))
        block = self.document.begin()
        while block.isValid():
            if QTextCursor(block).currentTable() is None:
                rect = layout.blockBoundingRect(block)
                if rect.top() < body and block.text().strip():
                    end = max(end, min(rect.bottom(), body))
            block = block.next()
        return body - end

    def _set_content(self, latest_first: bool, table_breaks: frozenset = frozenset()) -> None:
        if (latest_first, table_breaks) != (self.latest_first, self.table_breaks):
            self.document.setHtml(summary_html(self.summary, self.figures, self.empty_charts, latest_first,
                                               table_breaks))
            self.latest_first, self.table_breaks = latest_first, table_breaks
        else:  # undo the page breaks of an earlier layout
            block = self.document.begin()
            while block.isValid():
                fmt = block.blockFormat()
                if fmt.pageBreakPolicy() != QTextFormat.PageBreakFlag.PageBreak_Auto:
                    fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_Auto)
                    QTextCursor(block).setBlockFormat(fmt)
                block = block.next()
            for table in self._chart_rows():
                fmt = table.format()
                fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_Auto)
                table.setFormat(fmt)

    def _keep_headings_with_content(self, body: float, px_per_mm: float) -> bool:
        """No section heading ends a page: if less than ~28 mm of its section follow it on its
        page, it starts the next one; the trends heading stays with its first row of charts.
        Each row of charts is kept whole (it starts the next page if it would be cut), so the
        charts begin on the page where the sections before them end when one row fits there.
        Repeated until the layout is stable. True if the trends heading had to start a new page."""
        doc = self.document
        trends_moved = False
        keep = 28 * px_per_mm
        trends = tr("Trends")
        chart_rows = self._chart_rows()
        for _ in range(32):
            doc.markContentsDirty(0, doc.characterCount())  # the layout is lazy: lay out everything again
            layout = doc.documentLayout()
            moved = False
            table_rows = self._table_rows()
            for block, bottom in self._headings(layout):
                fmt = block.blockFormat()
                if fmt.pageBreakPolicy() & QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore:
                    continue
                top = layout.blockBoundingRect(block).top()
                if top < 1:
                    continue
                page_end = (math.floor((top + 0.5) / body) + 1) * body
                if block.text() == trends and chart_rows:
                    needed = layout.frameBoundingRect(chart_rows[0]).bottom() - top  # heading, note, first row
                else:  # some of the section, and at least its table's header and first row
                    needed = max(min(bottom - top, keep), self._first_row_bottom(table_rows, top, bottom) - top)
                if needed <= body and top + needed > page_end + 0.5:
                    fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
                    QTextCursor(block).setBlockFormat(fmt)
                    trends_moved = trends_moved or block.text() == trends
                    moved = True
                    break  # what follows has moved: measure again
            if not moved:
                for table in chart_rows:
                    fmt = table.format()
                    if fmt.pageBreakPolicy() & QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore:
                        continue
                    rect = layout.frameBoundingRect(table)
                    page_end = (math.floor((rect.top() + 0.5) / body) + 1) * body
                    if rect.height() <= body and rect.bottom() > page_end + 0.5:
                        fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
                        table.setFormat(fmt)
                        moved = True
                        break
            if not moved:
                break
        doc.markContentsDirty(0, doc.characterCount())
        doc.size()
        return trends_moved

    def _chart_rows(self) -> list:
        """The tables that hold one row of charts each (they hold the chart images), in order."""
        rows = []
        seen = set()
        block = self.document.begin()
        while block.isValid():
            table = QTextCursor(block).currentTable()
            if table is not None and table.firstPosition() not in seen:
                it = block.begin()
                while not it.atEnd():
                    fragment = it.fragment()
                    if fragment.charFormat().isImageFormat() and \
                            fragment.charFormat().toImageFormat().name().startswith("chart://"):
                        seen.add(table.firstPosition())
                        rows.append(table)
                        break
                    it += 1
            block = block.next()
        return rows

    def _headings(self, layout):  # noqa: ANN001, ANN202
        """(heading block, bottom of its section) for every h2, in document order."""
        doc = self.document
        out = []
        current = None
        bottom = 0.0
        block = doc.begin()
        while block.isValid():
            table = QTextCursor(block).currentTable()
            if table is None and block.blockFormat().headingLevel() == 2:
                if current is not None:
                    out.append((current, bottom))
                current = block
                bottom = layout.blockBoundingRect(block).bottom()
            elif current is not None:
                rect = layout.frameBoundingRect(table) if table is not None else layout.blockBoundingRect(block)
                bottom = max(bottom, rect.bottom())
            block = block.next()
        if current is not None:
            out.append((current, bottom))
        return out

    # --- painting -----------------------------------------------------------------------------
    def paint(self, device: QPagedPaintDevice, painter: QPainter | None = None) -> int:
        """Paint every page on `device` (a QPdfWriter or QPrinter); returns the page count."""
        pages = self.lay_out(device)
        own = painter is None
        if own:
            painter = QPainter()
            if not painter.begin(device):
                raise OSError(tr("The output could not be opened for painting"))
        geometry = self._geometry(device)
        try:
            for index in range(pages):
                if index:
                    device.newPage()
                self._paint_page(painter, index, pages, geometry)
        finally:
            if own:
                painter.end()
        return pages

    def _paint_page(self, painter: QPainter, index: int, pages: int, geometry: tuple) -> None:
        """One page: the laid-out body (scaled from the layout's resolution to the device's), and
        the running header and footer drawn at the device's own resolution."""
        rect, header, _footer, mm = geometry
        width = rect.width()
        laid_width, laid_body = self._rect.width(), self._body
        scale = width / laid_width  # the device's resolution over the layout's
        body = laid_body * scale
        painter.save()
        painter.translate(0, header)
        painter.scale(scale, scale)
        painter.translate(0, -index * laid_body)
        # a hair short of the page end: a line that starts the next page must not be drawn (clipped,
        # but in the PDF's text) at the foot of this one
        self.document.drawContents(painter, QRectF(0, index * laid_body, laid_width, laid_body - 0.01))
        painter.restore()
        s = self.summary
        small = print_font(6.9)
        painter.setFont(small)
        if index > 0:  # running header
            painter.setPen(QColor(INK))
            left = f"{s.name} · {tr('MRN')} {s.mrn}"
            painter.drawText(QRectF(0, 0, width, header - 2.5 * mm),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), left)
            painter.setPen(QColor(MUTED))
            painter.drawText(QRectF(0, 0, width, header - 2.5 * mm),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                             tr("Patient summary as of {d}").format(d=day(s.as_of)))
            painter.setPen(QPen(QColor(RULE), 0.25 * mm))
            painter.drawLine(QPointF(0, header - 1.8 * mm), QPointF(width, header - 1.8 * mm))
        top = header + body + 2.5 * mm
        painter.setPen(QPen(QColor(RULE), 0.25 * mm))
        painter.drawLine(QPointF(0, top), QPointF(width, top))
        painter.setPen(QColor(MUTED))
        line = painter.fontMetrics().height()
        page_text = tr("Page {n} of {total}").format(n=index + 1, total=pages)
        page_w = painter.fontMetrics().horizontalAdvance(page_text) + 4 * mm
        provenance = painter.fontMetrics().elidedText(
            f"{s.provenance()} · {tr('MRN')} {s.mrn}", Qt.TextElideMode.ElideMiddle, int(width - page_w - 2 * mm))
        painter.drawText(QRectF(0, top + 1.2 * mm, width - page_w, line),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), provenance)
        painter.setPen(QColor(INK))
        painter.drawText(QRectF(width - page_w, top + 1.2 * mm, page_w, line),
                         int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop), page_text)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WordWrap)
        painter.setPen(QColor(MUTED))
        italic = print_font(6.9)
        italic.setItalic(True)
        painter.setFont(italic)
        painter.drawText(QRectF(0, top + 1.2 * mm + line * 1.15, width, line * 2.4), s.caution, option)


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryResult:
    path: Path
    pages: int
    page_size: str
    seconds: float
    chart_seconds: float


def pdf_writer(path: Path | str, summary: PatientSummary, page_size: str) -> QPdfWriter:
    writer = QPdfWriter(str(path))
    writer.setResolution(DEFAULT_DPI)
    writer.setPageLayout(page_layout(page_size))
    writer.setCreator("poems-monitor")
    writer.setTitle(tr("Patient summary: {name} ({mrn}), as of {d}").format(
        name=summary.name, mrn=summary.mrn, d=day(summary.as_of)))
    return writer


def write_summary_pdf(document: SummaryDocument, path: Path | str) -> int:
    """Paint `document` into a PDF at `path` (written to a temporary file, then renamed)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    writer = pdf_writer(partial, document.summary, document.page_size)
    try:
        pages = document.paint(writer)
    finally:
        del writer  # closes the file
    if not partial.exists() or partial.stat().st_size == 0:
        raise OSError(tr("{file} could not be written").format(file=path))
    partial.replace(path)
    return pages


def write_patient_summary(db, mrn: str, path: Path | str, page_size: str = "A4", as_of: date | None = None,  # noqa: ANN001
                          generated_by: str | None = None) -> SummaryResult:
    """Write the printable summary of `mrn` to the PDF `path`. Needs a QGuiApplication (offscreen is
    fine). PatientNotFound (a KeyError whose str() is the sentence) for an unknown MRN;
    ValueError for a page size other than A4 or Letter; OSError when the file cannot be written."""
    t0 = time.perf_counter()
    page_layout(page_size)  # refuse a wrong size before any work
    summary = build_patient_summary(db, mrn, as_of, generated_by)
    document = SummaryDocument(summary, page_size)
    pages = write_summary_pdf(document, path)
    return SummaryResult(Path(path), pages, page_size, time.perf_counter() - t0, document.chart_ms / 1000)
