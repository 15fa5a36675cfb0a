"""What the main window and the dashboard call: print preview, print, save as PDF (the patient
summary), and export a chart (PNG at print resolution, or SVG).

Owns the dialogs around the renderers; the content is `services.patient_summary`, the pages are
`summary_document.SummaryDocument`, the charts `chart_export`. The preview paints the same
document the PDF holds. Rendering takes about half a second and uses Qt widgets (the offscreen
charts), so it runs on the GUI thread under a wait cursor.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPageLayout, QPageSize
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QMessageBox, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from poems_monitor.i18n import tr
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.dashboard import PatientDashboard
from poems_monitor.services.errors import PatientNotFound
from poems_monitor.services.patient_summary import PatientSummary, build_patient_summary
from poems_monitor.ui.accessibility import label_controls
from poems_monitor.ui.report.chart_export import DEFAULT_DPI, export_chart
from poems_monitor.ui.report.summary_document import PAGE_SIZES, SummaryDocument, write_summary_pdf

PDF_FILTERS = {tr("PDF, A4 (*.pdf)"): "A4", tr("PDF, US Letter (*.pdf)"): "Letter"}


def default_page_size() -> str:
    """Letter where the locale's paper is Letter (US, Canada, ...), A4 elsewhere."""
    from PySide6.QtCore import QLocale

    country = QLocale.system().territory()
    letter = {QLocale.Country.UnitedStates, QLocale.Country.Canada, QLocale.Country.Mexico, QLocale.Country.Chile,
              QLocale.Country.Colombia, QLocale.Country.Venezuela, QLocale.Country.Philippines}
    return "Letter" if country in letter else "A4"


def _page_size_of(printer) -> str:  # noqa: ANN001
    return "Letter" if printer.pageLayout().pageSize().id() == QPageSize.PageSizeId.Letter else "A4"


class _WaitCursor:
    def __enter__(self):  # noqa: ANN204
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        QGuiApplication.restoreOverrideCursor()


class SummaryPrinting:
    """One patient's summary, laid out per page size on demand (A4 and Letter)."""

    def __init__(self, summary: PatientSummary):
        self.summary = summary
        self._documents: dict[str, SummaryDocument] = {}

    @classmethod
    def load(cls, db: Database, mrn: str, as_of: date | None = None, generated_by: str | None = None) -> SummaryPrinting:
        return cls(build_patient_summary(db, mrn, as_of, generated_by))

    def document(self, page_size: str) -> SummaryDocument:
        if page_size not in self._documents:
            with _WaitCursor():
                self._documents[page_size] = SummaryDocument(self.summary, page_size)
        return self._documents[page_size]

    def paint(self, printer) -> int:  # noqa: ANN001
        """Paint on a QPrinter (preview or real), in the page size the printer is set to."""
        document = self.document(_page_size_of(printer))
        with _WaitCursor():
            return document.paint(printer)


def _printer(page_size: str):  # noqa: ANN202
    from PySide6.QtPrintSupport import QPrinter

    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setPageSize(QPageSize(PAGE_SIZES[page_size]))
    printer.setPageOrientation(QPageLayout.Orientation.Portrait)
    return printer


def summary_preview_dialog(parent: QWidget | None, printing: SummaryPrinting, page_size: str | None = None):  # noqa: ANN201
    """A QPrintPreviewDialog over the summary (not shown: call exec() or show())."""
    from PySide6.QtPrintSupport import QPrintPreviewDialog

    printer = _printer(page_size or default_page_size())
    dialog = QPrintPreviewDialog(printer, parent)
    dialog.setWindowTitle(tr("Patient summary: {name} ({mrn})").format(name=printing.summary.name,
                                                                        mrn=printing.summary.mrn))
    dialog.paintRequested.connect(printing.paint)
    dialog._printer = printer  # noqa: SLF001 (the dialog does not own the printer: keep it alive with it)
    dialog._printing = printing  # noqa: SLF001
    dialog.resize(900, 1000)
    return dialog


def show_summary_preview(parent: QWidget | None, db: Database, mrn: str, as_of: date | None = None,
                         generated_by: str | None = None) -> int:
    """Print preview of `mrn`'s summary (modal); printing from the preview prints the same pages."""
    try:
        printing = SummaryPrinting.load(db, mrn, as_of, generated_by)
    except PatientNotFound as exc:
        QMessageBox.warning(parent, tr("No summary"), str(exc))
        return 0
    return summary_preview_dialog(parent, printing).exec()


def print_summary(parent: QWidget | None, db: Database, mrn: str, as_of: date | None = None,
                  generated_by: str | None = None) -> bool:
    """The system print dialog, then the summary printed. True when printed."""
    from PySide6.QtPrintSupport import QPrintDialog

    printer = _printer(default_page_size())
    dialog = QPrintDialog(printer, parent)
    dialog.setWindowTitle(tr("Print patient summary"))
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return False
    try:
        SummaryPrinting.load(db, mrn, as_of, generated_by).paint(printer)
    except (PatientNotFound, OSError) as exc:
        QMessageBox.warning(parent, tr("Not printed"), str(exc))
        return False
    return True


def save_summary_pdf(parent: QWidget | None, db: Database, mrn: str, as_of: date | None = None,
                     generated_by: str | None = None, path: Path | str | None = None,
                     page_size: str | None = None) -> Path | None:
    """Ask where (and A4 or Letter, by the file type chosen), then write the summary PDF.
    With `path` given, no dialog is shown. Returns the file written, or None."""
    if path is None:
        filters = list(PDF_FILTERS)
        preferred = page_size or default_page_size()
        selected = next(f for f, size in PDF_FILTERS.items() if size == preferred)
        from poems_monitor.ui.ui_settings import save_folder

        name, chosen = QFileDialog.getSaveFileName(parent, tr("Save patient summary as PDF"),
                                                   str(save_folder() / f"summary-{mrn}.pdf"), ";;".join(filters),
                                                   selected)
        if not name:
            return None
        path = Path(name) if name.lower().endswith(".pdf") else Path(name + ".pdf")
        page_size = PDF_FILTERS.get(chosen, preferred)
    try:
        printing = SummaryPrinting.load(db, mrn, as_of, generated_by)
        write_summary_pdf(printing.document(page_size or default_page_size()), path)
    except (PatientNotFound, OSError) as exc:
        QMessageBox.warning(parent, tr("Summary not saved"), str(exc))
        return None
    from poems_monitor.ui.ui_settings import remember_save_folder

    remember_save_folder(Path(path))
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Chart export
# ---------------------------------------------------------------------------------------------


class ChartExportDialog(QDialog):
    """Export one dashboard chart: PNG at print resolution (width × height in mm at a dpi) or SVG."""

    def __init__(self, dashboard: PatientDashboard, chart_key: str | None = None, parent: QWidget | None = None):
        from poems_monitor.ui.charts.trend_chart import CHART_SPECS

        super().__init__(parent)
        self.dashboard = dashboard
        self.setWindowTitle(tr("Export chart"))
        self.chart = QComboBox(self)
        for spec in CHART_SPECS:
            self.chart.addItem(spec.title, spec.key)
        if chart_key is not None:
            self.chart.setCurrentIndex(max(0, self.chart.findData(chart_key)))
        self.format = QComboBox(self)
        self.format.addItem(tr("PNG image (print resolution)"), "png")
        self.format.addItem(tr("SVG vector drawing"), "svg")
        self.width_mm = QDoubleSpinBox(self)
        self.width_mm.setRange(40, 400)
        self.width_mm.setValue(170)
        self.width_mm.setSuffix(" mm")
        self.height_mm = QDoubleSpinBox(self)
        self.height_mm.setRange(30, 300)
        self.height_mm.setValue(80)
        self.height_mm.setSuffix(" mm")
        self.dpi = QSpinBox(self)
        self.dpi.setRange(72, 1200)
        self.dpi.setValue(DEFAULT_DPI)
        self.dpi.setSuffix(" dpi")
        self.size_note = QLabel(self)
        self.size_note.setObjectName("muted")
        self.path = QLineEdit(self)
        browse = QPushButton(tr("Choose…"), self)
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.path, 1)
        where.addWidget(browse)
        form = QFormLayout()
        form.addRow(tr("Chart"), self.chart)
        form.addRow(tr("Format"), self.format)
        form.addRow(tr("Width"), self.width_mm)
        form.addRow(tr("Height"), self.height_mm)
        form.addRow(tr("Resolution"), self.dpi)
        form.addRow("", self.size_note)
        form.addRow(tr("File"), where)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(tr("Export"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        for signal in (self.width_mm.valueChanged, self.height_mm.valueChanged, self.dpi.valueChanged):
            signal.connect(self._update_note)
        self.format.currentIndexChanged.connect(self._format_changed)
        self.chart.currentIndexChanged.connect(self._suggest_path)
        self.written: Path | None = None
        self._suggest_path()
        self._update_note()
        label_controls(self)

    @property
    def suffix(self) -> str:
        return self.format.currentData()

    def _suggest_path(self) -> None:
        from poems_monitor.ui.ui_settings import save_folder

        folder = Path(self.path.text()).parent if self.path.text() else save_folder()
        self.path.setText(str(folder / f"{self.dashboard.mrn}-{self.chart.currentData()}.{self.suffix}"))

    def _format_changed(self) -> None:
        self.dpi.setEnabled(self.suffix == "png")
        text = self.path.text()
        if text:
            self.path.setText(str(Path(text).with_suffix("." + self.suffix)))
        self._update_note()

    def _update_note(self) -> None:
        from poems_monitor.ui.report.chart_export import mm_to_pixels

        if self.suffix == "png":
            w, h = mm_to_pixels(self.width_mm.value(), self.dpi.value()), mm_to_pixels(self.height_mm.value(), self.dpi.value())
            self.size_note.setText(tr("{w} × {h} pixels").format(w=w, h=h))
        else:
            self.size_note.setText(tr("Scalable; lines and text as in the PNG"))

    def _browse(self) -> None:
        filters = tr("PNG image (*.png)") if self.suffix == "png" else tr("SVG drawing (*.svg)")
        name, _ = QFileDialog.getSaveFileName(self, tr("Export chart"), self.path.text(), filters)
        if name:
            self.path.setText(name)

    def export(self) -> Path:
        """Write the file as set in the dialog (OSError/ValueError when it cannot be written)."""
        path = Path(self.path.text()).with_suffix("." + self.suffix)
        with _WaitCursor():
            self.written = export_chart(self.dashboard, self.chart.currentData(), path, self.width_mm.value(),
                                        self.height_mm.value(), self.dpi.value())
        return self.written

    def accept(self) -> None:
        if not self.path.text().strip():
            QMessageBox.warning(self, tr("Chart not exported"), tr("Choose a file to write."))
            return
        try:
            self.export()
        except (OSError, ValueError) as exc:
            QMessageBox.warning(self, tr("Chart not exported"), str(exc))
            return
        from poems_monitor.ui.ui_settings import remember_save_folder

        remember_save_folder(self.written)
        super().accept()


def export_chart_dialog(parent: QWidget | None, dashboard: PatientDashboard, chart_key: str | None = None) -> Path | None:
    """Show the chart export dialog; the file written, or None when cancelled."""
    dialog = ChartExportDialog(dashboard, chart_key, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.written
