"""The lab CSV import dialog: choose a file and its date format, see every row with its status
(new, duplicate of a stored value, conflicting, invalid with the reason) before anything is
written, then import all rows or none: off the GUI thread, behind a progress dialog whose Cancel undoes
the whole import (one transaction). A file larger than a few hundred rows is read and previewed off
the GUI thread too, with a progress bar and a Stop button in the dialog, which stays usable (another
file or date format supersedes the running preview).

Owns the view only: the preview and the import are `services.lab_import`; the rows come back as
plain records and are shown through a small table model. Status is told by a word and a symbol,
never by colour alone.
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar,
    QPushButton, QTableView, QVBoxLayout, QWidget,
)

from poems_monitor.domain.catalogue import MEASURES
from poems_monitor.domain.lab_csv import CsvEncodingError, DateFormat, LabCsv, LabRow, RowStatus
from poems_monitor.i18n import counted, ntr, tr
from poems_monitor.services.access import Actor, PermissionDenied
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.lab_import import LabImportRefused, import_lab_csv, preview_lab_csv, read_lab_csv_file
from poems_monitor.services.progress import Cancelled
from poems_monitor.ui.row_table_model import RowTableModel
from poems_monitor.ui.workers import ProgressDialog, run_background, run_with_progress

# Text up to this size is previewed at once on the GUI thread (a few hundred rows: well under a
# tenth of a second); a larger file is read and previewed by a worker.
PREVIEW_AT_ONCE_CHARS = 32 * 1024

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


class _PreviewSignals(QObject):
    progressed = Signal(str, int, int)


class LabImportDialog(QDialog):
    """Preview every row of a lab CSV file, then import all rows or none."""

    imported = Signal(object)  # LabImportSummary
    previewed = Signal(object)  # the LabCsv shown; None when the file could not be read or the reading was stopped

    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None, today: date | None = None):
        super().__init__(parent)
        self._db = db
        self._actor = actor
        self._today = today or date.today()
        self._text: str | None = None
        self._path: Path | None = None  # a file still to be read (by the preview worker)
        self._source = ""
        self.previewing = None  # the preview worker's relay while one runs
        self._preview_stop: threading.Event | None = None
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

        self.preview_row = QWidget()
        reading = QHBoxLayout(self.preview_row)
        reading.setContentsMargins(0, 0, 0, 0)
        self.preview_bar = QProgressBar()
        self.preview_bar.setObjectName("preview_progress")
        self.preview_bar.setAccessibleName(tr("Reading the file"))
        self.stop_button = QPushButton(tr("Stop reading"))
        self.stop_button.setObjectName("stop_preview")
        self.stop_button.clicked.connect(self.stop_preview)
        reading.addWidget(self.preview_bar, 1)
        reading.addWidget(self.stop_button)
        self.preview_row.hide()
        outer.addWidget(self.preview_row)

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
        self.finished.connect(lambda _result: self.stop_preview())  # closed while reading: the worker stops

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
        """Preview a file: a small one at once, a larger one by a worker (see `refresh`)."""
        path = Path(path)
        try:
            small = path.is_file() and path.stat().st_size <= PREVIEW_AT_ONCE_CHARS
            text = read_lab_csv_file(path) if small or not path.is_file() else None
        except OSError as exc:
            self._show_message(tr("{file} cannot be read: {error}").format(file=path, error=exc.strerror or exc), error=True)
            return
        except CsvEncodingError as exc:
            self._show_message(tr("{file}: {error}").format(file=path.name, error=exc), error=True)
            return
        self.path_edit.setText(str(path))
        self._path = None if text is not None else path
        self._set_content(text, path.name)

    def set_text(self, text: str, source: str = "lab CSV") -> None:
        self._path = None
        self._set_content(text, source)

    def _set_content(self, text: str | None, source: str) -> None:
        self._text = text
        self._source = source
        self.summary = None
        self.refresh()

    # --- preview and import ----------------------------------------------------------------

    def refresh(self) -> None:
        """Preview the file with the chosen date format: small text at once, anything larger off
        the GUI thread (a preview already running is superseded)."""
        if self._text is None and self._path is None:
            return
        self.stop_preview()
        self.preview = None
        self.import_button.setEnabled(False)
        if self._text is not None and len(self._text) <= PREVIEW_AT_ONCE_CHARS:
            self.preview = preview_lab_csv(self._db, self._text, self.date_format, self._today)
            self._show_preview(self.preview)
            self.previewed.emit(self.preview)
            return
        self._preview_in_background()

    def _preview_in_background(self) -> None:
        stop = self._preview_stop = threading.Event()
        signals = _PreviewSignals()  # no parent: the worker may still emit after the dialog is gone (it is checked first)
        signals.progressed.connect(self._preview_progress, Qt.ConnectionType.QueuedConnection)
        db, path, text, fmt, today = self._db, self._path, self._text, self.date_format, self._today

        def progress(what: str, done: int, total: int) -> None:  # worker thread
            if stop.is_set():
                raise Cancelled(what)
            try:
                signals.progressed.emit(what, done, total)
            except RuntimeError:  # the dialog went away meanwhile
                raise Cancelled(what) from None

        def work() -> tuple[str, LabCsv] | str:  # worker thread: the text and its preview, or why not
            try:
                loaded = text if text is not None else read_lab_csv_file(path)
            except OSError as exc:
                return tr("{file} cannot be read: {error}").format(file=path, error=exc.strerror or exc)
            except CsvEncodingError as exc:
                return tr("{file}: {error}").format(file=path.name, error=exc)
            return loaded, preview_lab_csv(db, loaded, fmt, today, progress)

        def done(result: tuple[str, LabCsv] | str) -> None:
            if stop is not self._preview_stop:
                return  # superseded by another file or date format
            if stop.is_set():  # stopped during its last step, which has finished: still nothing is shown
                failed(Cancelled(""))
                return
            self._preview_ended()
            if isinstance(result, str):
                self._show_message(result, error=True)
                self.previewed.emit(None)
                return
            self._text, self._path = result[0], None
            self.preview = result[1]
            self._show_preview(self.preview)
            self.previewed.emit(self.preview)

        def failed(exc: Exception) -> None:
            if stop is not self._preview_stop:
                return
            self._preview_ended()
            if isinstance(exc, Cancelled):
                self._show_message(tr("Reading stopped: nothing is shown and nothing was written. Choose the file "
                                      "again to see its rows."))
                self._text = self._path = None
                self.path_edit.clear()
            else:
                self._show_message(tr("The file could not be previewed: {error}").format(error=exc), error=True)
            self.previewed.emit(None)

        self.model.set_rows([])
        self.preview_bar.setRange(0, 0)
        self.stop_button.setEnabled(True)
        self.preview_row.show()
        self._show_message(tr("Reading {file}… You can choose another file or date format meanwhile.").format(
            file=self._source))
        self.previewing = run_background(work, done, failed, owner=self)

    def _preview_progress(self, what: str, done: int, total: int) -> None:
        if self._preview_stop is None or self._preview_stop.is_set():
            return
        self.preview_bar.setFormat(f"{what} %p%")
        self.preview_bar.setRange(0, max(total, 0))
        self.preview_bar.setValue(min(done, total) if total > 0 else 0)

    def stop_preview(self) -> None:
        """Stop the preview that is running, if any: nothing of it is shown."""
        if self._preview_stop is not None and not self._preview_stop.is_set():
            self._preview_stop.set()
            self.stop_button.setEnabled(False)

    def _preview_ended(self) -> None:
        self.previewing = None
        self.preview_row.hide()

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
