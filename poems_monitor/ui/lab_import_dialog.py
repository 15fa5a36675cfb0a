"""The lab CSV import dialog: choose a file and its date format, see every row with its status
(new, duplicate of a stored value, conflicting, invalid with the reason) before anything is
written, then import all rows or none: off the GUI thread, behind a progress dialog whose Cancel undoes
the whole import (one transaction).

Owns the view only: the preview and the import are `services.lab_import`; the rows come back as
plain records and are shown through a small table model. Status is told by a word and a symbol,
never by colour alone.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
    QTableView, QVBoxLayout, QWidget,
)

from poems_monitor.domain.catalogue import MEASURES
from poems_monitor.domain.lab_csv import CsvEncodingError, DateFormat, LabCsv, LabRow, RowStatus
from poems_monitor.i18n import counted, ntr, tr
from poems_monitor.services.access import Actor, PermissionDenied
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.lab_import import LabImportRefused, import_lab_csv, preview_lab_csv, read_lab_csv_file
from poems_monitor.ui.row_table_model import RowTableModel
from poems_monitor.ui.workers import ProgressDialog, run_with_progress

# Okabe-Ito colours, always beside a symbol and a word.
_STATUS_LOOK: dict[RowStatus, tuple[str, str, str]] = {
    RowStatus.NEW: ("✚", tr("new"), "#009E73"),
    RowStatus.DUPLICATE: ("=", tr("duplicate"), "#6B7280"),
    RowStatus.CONFLICTING: ("⚠", tr("conflicting"), "#E69F00"),
    RowStatus.INVALID: ("✖", tr("invalid"), "#D55E00"),
}


class LabRowsModel(RowTableModel[LabRow]):
    """One row per line of the file."""

    COLUMNS = (tr("Line"), tr("Status"), tr("MRN"), tr("Date"), tr("Measure"), tr("Value"), tr("Stored"), tr("Remarks"))
    LINE, STATUS, MRN, DATE, MEASURE, VALUE, STORED, REMARKS = range(8)
    headers = dict(enumerate(COLUMNS))

    def _text(self, r: LabRow, column: int) -> str:
        if column == self.LINE:
            return str(r.row)
        if column == self.STATUS:
            symbol, word, _colour = _STATUS_LOOK[r.status]
            return f"{symbol} {word}"
        if column == self.MRN:
            return r.mrn or r.field("mrn")
        if column == self.DATE:
            return r.date.isoformat() if r.date else r.field("date")
        if column == self.MEASURE:
            if r.code in MEASURES:
                name = MEASURES[r.code].label
                return name if r.code_as_read.lower() == r.code else f"{name} ({r.code_as_read})"
            return r.code_as_read or r.field("code")
        if column == self.VALUE:
            text = r.value_text()
            return f"{text} [{r.specimen}]" if r.specimen and r.code and not MEASURES[r.code].specimen else text
        if column == self.STORED:
            return r.stored
        if column == self.REMARKS:
            if r.problems:
                return "; ".join(f"{p.message} [{p.column or tr('row')}: {p.rule}]" for p in r.problems)
            if r.status is RowStatus.CONFLICTING:
                return tr("another value is stored: nothing is overwritten")
            return r.note
        return ""

    def cell(self, r: LabRow, column: int, role: int) -> object:
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._text(r, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == self.STATUS:
            return QColor(_STATUS_LOOK[r.status][2])
        if role == Qt.ItemDataRole.UserRole:
            return r.status.value
        return None


class LabImportDialog(QDialog):
    """Preview every row of a lab CSV file, then import all rows or none."""

    imported = Signal(object)  # LabImportSummary

    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None, today: date | None = None):
        super().__init__(parent)
        self._db = db
        self._actor = actor
        self._today = today or date.today()
        self._text: str | None = None
        self._source = ""
        self.preview: LabCsv | None = None
        self.summary = None
        self.importing: ProgressDialog | None = None  # the progress dialog while an import runs
        self.setWindowTitle(tr("Import lab results (CSV)"))
        self.resize(1100, 640)

        outer = QVBoxLayout(self)
        intro = QLabel(tr("Columns: mrn, date, code (ours or LOINC), value (with < or > when censored), unit, "
                          "and optionally specimen, lab, method. Nothing is written until you press Import."))
        intro.setWordWrap(True)
        outer.addWidget(intro)
        row = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("path")
        self.path_edit.setAccessibleName(tr("Lab results file"))
        self.path_edit.setReadOnly(True)
        self.path_edit.setPlaceholderText(tr("no file chosen"))
        choose = QPushButton(tr("Choose file…"))
        choose.setObjectName("choose")
        choose.clicked.connect(self._choose)
        self.format_box = QComboBox()
        self.format_box.setObjectName("date_format")
        self.format_box.addItem(tr("Dates as YYYY-MM-DD"), DateFormat.ISO.value)
        self.format_box.addItem(tr("Dates as DD/MM/YYYY"), DateFormat.DMY.value)
        self.format_box.currentIndexChanged.connect(self.refresh)
        date_label = QLabel(tr("Date format:"))
        date_label.setBuddy(self.format_box)
        row.addWidget(self.path_edit, 1)
        row.addWidget(choose)
        row.addWidget(date_label)
        row.addWidget(self.format_box)
        outer.addLayout(row)

        self.summary_label = QLabel(tr("Choose a file to see its rows."))
        self.summary_label.setObjectName("summary")
        self.summary_label.setWordWrap(True)
        outer.addWidget(self.summary_label)

        self.model = LabRowsModel(self)
        self.table = QTableView()
        self.table.setObjectName("rows")
        self.table.setAccessibleName(tr("Rows of the file"))
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        outer.addWidget(self.table, 1)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton(tr("Import"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setObjectName("import")
        self.import_button.setEnabled(False)
        self.import_button.clicked.connect(self._import)
        self.buttons.rejected.connect(self.reject)
        outer.addWidget(self.buttons)

    # --- input ---------------------------------------------------------------------------------

    @property
    def date_format(self) -> DateFormat:
        return DateFormat(self.format_box.currentData())

    def set_date_format(self, fmt: DateFormat | str) -> None:
        self.format_box.setCurrentIndex(self.format_box.findData(DateFormat(fmt).value))

    def _choose(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, tr("Lab results file"), "", tr("CSV files (*.csv *.txt);;All files (*)"))
        if path:
            self.load_file(Path(path))

    def load_file(self, path: Path) -> None:
        try:
            text = read_lab_csv_file(Path(path))
        except OSError as exc:
            self._show_message(tr("{file} cannot be read: {error}").format(file=path, error=exc.strerror or exc), error=True)
            return
        except CsvEncodingError as exc:
            self._show_message(tr("{file}: {error}").format(file=Path(path).name, error=exc), error=True)
            return
        self.path_edit.setText(str(path))
        self.set_text(text, Path(path).name)

    def set_text(self, text: str, source: str = "lab CSV") -> None:
        self._text = text
        self._source = source
        self.summary = None
        self.refresh()

    # --- preview and import ----------------------------------------------------------------

    def refresh(self) -> None:
        if self._text is None:
            return
        self.preview = preview_lab_csv(self._db, self._text, self.date_format, self._today)
        self._show_preview(self.preview)

    def _show_preview(self, preview: LabCsv) -> None:
        self.model.set_rows(list(preview.rows))
        counts = preview.counts()
        text = tr("{rows}: {new} new, {dup} duplicate of stored values, {conf} conflicting, {inv} invalid.").format(
            rows=counted(len(preview.rows), "{n} row", "{n} rows"), new=counts["new"], dup=counts["duplicate"], conf=counts["conflicting"],
            inv=counts["invalid"])
        if preview.file_problems:
            text = " ".join(str(p) for p in preview.file_problems)
        elif preview.importable:
            n = counts["new"]
            text += " " + (ntr("Import adds the {n} new value; duplicates are skipped.",
                                "Import adds the {n} new values; duplicates are skipped.", n).format(n=n) if n
                           else tr("Everything in this file is already stored."))
        else:
            text += " " + tr("Nothing can be imported until every row is new or a duplicate: correct the file "
                             "(or the visit, for a conflict) and choose it again.")
        if preview.ignored_columns:
            text += " " + tr("Columns ignored: {cols}.").format(cols=", ".join(preview.ignored_columns))
        self._show_message(text, error=not preview.importable)
        self.import_button.setEnabled(preview.importable and counts["new"] > 0)

    def _show_message(self, text: str, error: bool = False) -> None:
        self.summary_label.setText(text)
        self.summary_label.setProperty("role", "problem" if error else "")
        self.summary_label.setStyleSheet("color: #D55E00;" if error else "")

    def _import(self) -> None:
        """Import off the GUI thread behind a progress dialog whose Cancel undoes the whole import."""
        if self._text is None or self.preview is None or not self.preview.importable or self.importing is not None:
            return
        self.import_button.setEnabled(False)
        db, actor, text, fmt, source, today = (self._db, self._actor, self._text, self.date_format, self._source,
                                               self._today)
        self.importing = run_with_progress(
            lambda progress: import_lab_csv(db, actor, text, fmt, source=source, today=today, progress=progress),
            self._imported, self._import_cancelled, self._import_failed, parent=self,
            title=tr("Importing lab results"))

    def _imported(self, summary) -> None:  # noqa: ANN001 (LabImportSummary)
        self.importing = None
        self.summary = summary
        self.imported.emit(summary)
        self.accept()

    def _import_cancelled(self) -> None:
        self.importing = None
        self._show_message(tr("Import cancelled: nothing was written, the record is as it was before."))
        self.import_button.setEnabled(True)

    def _import_failed(self, exc: Exception) -> None:
        self.importing = None
        if isinstance(exc, LabImportRefused):  # the record changed since the preview
            self.preview = exc.preview
            self._show_preview(exc.preview)
            return
        self.import_button.setEnabled(True)
        if isinstance(exc, PermissionDenied):
            self._show_message(str(exc), error=True)
            return
        self._show_message(tr("The import failed and nothing was written: {error}").format(error=exc), error=True)
