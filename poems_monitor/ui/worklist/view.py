"""The clinic worklist screen: what is overdue, due, due soon or never done, and which flags no
physician has acknowledged yet, across every patient.

Owns the screen: the filters (item, status, flags yes/no, MRN or name), the count summary, the
sortable table, and opening a patient at the right place (double-click or Enter emits
`openPatient(mrn, where)` with where = "followup:<item>" or "flag:<flag_id>"). The rows come from
`services.worklist` in a background task, in a worker process for a large clinic
(`ui.workers.run_in_worker_process`), so a cold rules cache never freezes the window. Given the
window's change bus, it reloads itself after any write that changes some patient's flags or
follow-up (or the protocol they come from).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton,
    QTableView, QVBoxLayout, QWidget,
)

from poems_monitor.i18n import ntr
from poems_monitor.local_format import count_text, day
from poems_monitor.services.access import Actor
from poems_monitor.services.changes import Changes
from poems_monitor.ui.changes import ChangeBus
from poems_monitor.services.clinic_database import Database
from poems_monitor.ui.theme import SPACING
from poems_monitor.ui.workers import run_in_worker_process
from poems_monitor.ui.worklist.model import (
    FLAG, FLAG_NAMES, ITEM_CHOICES, ROW_ROLE, STATUS_NAMES, WorklistData, WorklistFilter, WorklistModel, WorklistRow,
    load_worklist,
)


class WorklistView(QWidget):
    """The clinic worklist; `refresh()` reloads it (in the background)."""

    openPatient = Signal(str, str)  # mrn, where ("followup:<item>" | "flag:<flag_id>")
    loaded = Signal(int)  # rows loaded (tests and the status bar wait for it)

    def __init__(self, db: Database, actor: Actor, as_of: date | None = None, parent: QWidget | None = None,
                 bus: ChangeBus | None = None):
        super().__init__(parent)
        self._db = db
        self._actor = actor
        self._as_of = as_of
        if bus is not None:
            bus.changed.connect(self._on_changes)
        self._loading = False
        self._reload_again = False
        self.setObjectName("worklist_view")
        self.model = WorklistModel(self)
        self.proxy = WorklistFilter(self)
        self.proxy.setSourceModel(self.model)
        self._build()
        self._totals: tuple[tuple[WorklistRow, ...], dict[str, int], int] | None = None  # rows, counts, patients
        self.proxy.modelReset.connect(self._update_summary)
        self.proxy.layoutChanged.connect(self._update_summary)

    # ------------------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2 * SPACING, 2 * SPACING, 2 * SPACING, SPACING)
        layout.setSpacing(SPACING)

        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        title = QLabel(self.tr("Clinic worklist"))
        title.setObjectName("title")
        self.as_of_label = QLabel("")
        self.as_of_label.setObjectName("subtitle")
        titles.addWidget(title)
        titles.addWidget(self.as_of_label)
        head.addLayout(titles, 1)
        self.summary = QLabel("")
        self.summary.setObjectName("worklist_summary")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setMinimumWidth(240)  # (wrapped in a narrow window: `_fit_summary`)
        head.addWidget(self.summary, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(head)

        bar = QHBoxLayout()
        bar.setSpacing(SPACING)
        self.search = QLineEdit()
        self.search.setObjectName("worklist_search")
        self.search.setPlaceholderText(self.tr("Filter by MRN or name"))
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda text: self._keeping_current(lambda: self.proxy.set_text(text)))
        self.search.setMinimumWidth(150)  # (the bar fits 911 px: 1366x768 at 150 %)
        self.search.setMaximumWidth(280)
        self.item_filter = QComboBox()
        self.item_filter.setObjectName("worklist_item_filter")
        self.item_filter.addItem(self.tr("All items"), None)
        for code, name in ITEM_CHOICES:
            self.item_filter.addItem(name, code)
        self.item_filter.insertSeparator(self.item_filter.count())
        self.item_filter.addItem(self.tr("Flags only"), "flags")
        for code, name in FLAG_NAMES.items():
            self.item_filter.addItem(self.tr("Flag: {kind}").format(kind=name), code)
        # as wide as "Flag: <kind>" where there is room, narrower (scrolling its text) where not
        self.item_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.item_filter.setMinimumContentsLength(12)
        self.item_filter.currentIndexChanged.connect(
            lambda: self._keeping_current(lambda: self.proxy.set_item(self.item_filter.currentData())))
        self.status_filter = QComboBox()
        self.status_filter.setObjectName("worklist_status_filter")
        self.status_filter.addItem(self.tr("Any status"), None)
        for code in ("overdue", "never_done", "due", "due_soon"):
            self.status_filter.addItem(STATUS_NAMES[code], code)
        self.status_filter.currentIndexChanged.connect(
            lambda: self._keeping_current(lambda: self.proxy.set_status(self.status_filter.currentData())))
        self.flags_check = QCheckBox(self.tr("Show unacknowledged &flags"))
        self.flags_check.setObjectName("worklist_show_flags")
        self.flags_check.setChecked(True)
        self.flags_check.toggled.connect(lambda on: self._keeping_current(lambda: self.proxy.set_show_flags(on)))
        self.refresh_button = QPushButton(self.tr("&Refresh"))
        self.refresh_button.setObjectName("worklist_refresh")
        self.refresh_button.clicked.connect(self.refresh)
        search_label = QLabel(self.tr("&Search"))
        search_label.setBuddy(self.search)
        item_label = QLabel(self.tr("&Item"))
        item_label.setBuddy(self.item_filter)
        status_label = QLabel(self.tr("S&tatus"))
        status_label.setBuddy(self.status_filter)
        for w in (search_label, self.search, item_label, self.item_filter, status_label, self.status_filter,
                  self.flags_check):
            bar.addWidget(w, 1 if w is self.search else 0)  # the search widens up to its maximum
        bar.addStretch(1)
        bar.addWidget(self.refresh_button)
        layout.addLayout(bar)

        # while the rules run over the whole clinic (seconds after a protocol change or on a
        # first open of a big clinic): the table keeps its rows and this bar moves
        self.busy = QProgressBar()
        self.busy.setObjectName("worklist_busy")
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(6)
        self.busy.setAccessibleName(self.tr("Computing the worklist"))
        self.busy.setVisible(False)
        layout.addWidget(self.busy)

        self.table = QTableView()
        self.table.setObjectName("worklist_table")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(WorklistModel.STATUS, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(28)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        widths = {WorklistModel.STATUS: 180, WorklistModel.MRN: 100, WorklistModel.PATIENT: 190,
                  WorklistModel.ITEM: 150, WorklistModel.DUE: 110, WorklistModel.LAST_DONE: 110}
        for column, width in widths.items():  # never narrower than the title ("Échéance / depuis")
            title = str(self.model.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole) or "")
            header.resizeSection(column, max(width, header.fontMetrics().horizontalAdvance(title) + 30))
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        self.table.setAccessibleName(self.tr("Clinic worklist"))
        self.table.doubleClicked.connect(self._open_index)
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            shortcut = QShortcut(QKeySequence(key), self.table, self._open_current,
                                 context=Qt.ShortcutContext.WidgetShortcut)
            shortcut.setWhatsThis(self.tr("Open the patient at the selected item or flag"))
        layout.addWidget(self.table, 1)

        self.empty = QLabel("")
        self.empty.setObjectName("placeholder")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setVisible(False)
        layout.addWidget(self.empty)

    # ------------------------------------------------------------------------------------------
    def as_of(self) -> date:
        return self._as_of or date.today()

    def set_as_of(self, as_of: date | None) -> None:
        self._as_of = as_of
        self.refresh()

    def refresh(self) -> None:
        """Reload in the background; the table keeps its rows until the new ones arrive."""
        if self._loading:
            self._reload_again = True
            return
        self._loading = True
        self.busy.setVisible(True)
        self.refresh_button.setEnabled(False)
        self.as_of_label.setText(self.tr("Loading the worklist as of {date}…").format(date=day(self.as_of())))
        db, as_of = self._db, self.as_of()
        run_in_worker_process(load_worklist, db, (as_of,), self._loaded, self._failed, self, self._clinic_size())

    def _clinic_size(self) -> int:
        """Patients in the clinic, as the window's patient list knows them (0 on its own: a thread is enough)."""
        patient_list = getattr(self.window(), "patients", None)
        model = getattr(patient_list, "model", None)
        return model.total() if hasattr(model, "total") else 0

    def _on_changes(self, changes: Changes) -> None:
        if changes.rules_inputs or changes.patient_list:  # (names and MRNs are columns too)
            self.refresh()

    def _loaded(self, data: WorklistData) -> None:
        self._loading = False
        self.busy.setVisible(self._reload_again)
        self.refresh_button.setEnabled(True)
        self.set_data(data)
        self.loaded.emit(len(data.rows))
        if self._reload_again:
            self._reload_again = False
            self.refresh()

    def _failed(self, exc: Exception) -> None:
        self._loading = False
        self.busy.setVisible(False)
        self.refresh_button.setEnabled(True)
        self.as_of_label.setText(self.tr("The worklist could not be loaded: {error}").format(error=exc))
        self.loaded.emit(-1)

    def set_data(self, data: WorklistData) -> None:
        """Show `data` (also used directly by the screenshot command and tests)."""
        self._keeping_current(lambda: self.model.set_rows(data.rows))
        self.as_of_label.setText(self.tr("As of {date} · double-click or Enter opens the patient").format(
            date=day(data.as_of)))
        self._update_summary()

    def _keeping_current(self, change: Callable[[], None]) -> None:
        """`change` the rows shown (a reset of the model), then select again the row that was
        selected (the same patient, item and kind) where it is still shown."""
        selected = self.current_row()
        change()
        if selected is not None and (row := self.model.row_of(selected)) >= 0:
            self.table.selectRow(row)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        super().resizeEvent(event)
        self._fit_summary()

    def _fit_summary(self) -> None:
        """The counts on one line beside the title where they fit, wrapped where not (150 % scale)."""
        self.summary.setWordWrap(False)
        one_line = self.summary.sizeHint().width() + self.as_of_label.sizeHint().width() + 6 * SPACING
        self.summary.setWordWrap(one_line > self.width())

    def _update_summary(self, *_args) -> None:  # noqa: ANN002
        rows = self.model.rows()
        if self._totals is None or self._totals[0] is not rows:  # counted once per set of rows
            counts = {key: 0 for key in ("overdue", "never_done", "due", "due_soon", FLAG)}
            for r in rows:
                counts[r.status] = counts.get(r.status, 0) + 1
            self._totals = (rows, counts, len({r.mrn for r in rows}))
        _, counts, patient_count = self._totals
        shown = self.proxy.rowCount()
        parts = [
            self.tr("<b>{n}</b> overdue").format(n=count_text(counts["overdue"])),
            self.tr("<b>{n}</b> never done").format(n=count_text(counts["never_done"])),
            self.tr("<b>{n}</b> due").format(n=count_text(counts["due"])),
            self.tr("<b>{n}</b> due soon").format(n=count_text(counts["due_soon"])),
            ntr("<b>{n}</b> new flag", "<b>{n}</b> new flags", counts[FLAG]).format(n=count_text(counts[FLAG])),
        ]
        text = " · ".join(parts) + "&nbsp;&nbsp;&nbsp;" + ntr(
            "{patients} patient · showing {shown} of {total}", "{patients} patients · showing {shown} of {total}",
            patient_count).format(patients=count_text(patient_count), shown=count_text(shown), total=count_text(len(rows)))
        self.summary.setText(text)
        self._fit_summary()
        self.empty.setVisible(shown == 0 and not self._loading)
        self.empty.setText(self.tr("Nothing matches these filters.") if rows else self.tr("Nothing is due. 🎉"))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.model.rows():
            out[r.status] = out.get(r.status, 0) + 1
        return out

    # ------------------------------------------------------------------------------------------
    def current_row(self) -> WorklistRow | None:
        index = self.table.currentIndex()
        return index.data(ROW_ROLE) if index.isValid() else None

    def _open_index(self, index: QModelIndex) -> None:
        row: WorklistRow | None = index.data(ROW_ROLE) if index.isValid() else None
        if row is not None:
            self.openPatient.emit(row.mrn, row.where)

    def _open_current(self) -> None:
        self._open_index(self.table.currentIndex())
