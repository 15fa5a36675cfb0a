"""The patient list panel: search box, status filters and the sortable table.

Owns the widgets only; the main window hands it the patient rows and the clinic overview
(computed off the GUI thread). Emits `patientActivated(mrn)` when a patient is chosen by click,
Enter or arrow keys, so the dashboard follows the selection.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView, QBoxLayout, QCheckBox, QHeaderView, QLabel, QLineEdit, QTableView, QVBoxLayout, QWidget,
)

from poems_monitor.i18n import ntr, tr
from poems_monitor.local_format import count_text, day
from poems_monitor.services.dashboard import PatientStatus
from poems_monitor.services.patients import PatientListRow
from poems_monitor.ui.patients.model import (
    COL_AGE_SEX, COL_FLAGS, COL_LAST_VISIT, COL_MRN, COL_NAME, COL_OVERDUE, MRN_ROLE, PatientFilterProxy,
    PatientTableModel,
)
from poems_monitor.ui.shortcuts_help import declare_keys, key_text
from poems_monitor.ui.theme import SPACING

NAME_MIN_WIDTH = 110  # px the Name column keeps: a narrower list hides the optional columns first
OPTIONAL_COLUMNS = (COL_LAST_VISIT, COL_AGE_SEX)  # hidden in this order (the dashboard header shows both)


class PatientListPanel(QWidget):
    patientActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = PatientTableModel(self)
        self.proxy = PatientFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.search = QLineEdit(self)
        self.search.setPlaceholderText(tr("Find patient by MRN or name  (Ctrl+F)"))
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName(tr("Find patient"))
        self.search.textChanged.connect(self._on_search)
        self.search.returnPressed.connect(self._open_first)
        self.search.installEventFilter(self)  # Down/Up move through the matches
        declare_keys(self.search, [
            (" / ".join(key_text(k) for k in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp)),
             tr("move through the matching patients"), tr("the patient search box")),
            (key_text(Qt.Key.Key_Return), tr("open the selected patient"), tr("the patient search box"))])

        self.only_flags = QCheckBox(tr("Has new flags"), self)
        self.only_overdue = QCheckBox(tr("Has overdue items"), self)
        self.only_flags.toggled.connect(lambda on: self._keeping_current(lambda: self.proxy.set_only_new_flags(on)))
        self.only_overdue.toggled.connect(lambda on: self._keeping_current(lambda: self.proxy.set_only_overdue(on)))

        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL_MRN, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setAccessibleName(tr("Patients"))
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        # Widths from font metrics, not ResizeToContents: that asks the model for every cell of
        # 1,000 rows at each keystroke of the search (and stalls with thousands of patients).
        for col in (COL_MRN, COL_AGE_SEX, COL_LAST_VISIT, COL_FLAGS, COL_OVERDUE):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        self._widths: dict[int, int] = {}  # each fitted column's width, kept while it is hidden
        self._fit_columns()  # the optional columns are shown when the panel is wide (see resizeEvent)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.table.activated.connect(self._on_activated)

        self.count = QLabel(self)
        self.count.setObjectName("muted")

        self._filters = filters = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        filters.setSpacing(SPACING * 2)
        filters.addWidget(self.only_flags)
        filters.addWidget(self.only_overdue)
        filters.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING, SPACING, SPACING // 2, SPACING)
        layout.setSpacing(SPACING)
        title = QLabel(tr("Patients"), self)
        title.setObjectName("section")
        layout.addWidget(title)
        layout.addWidget(self.search)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count)
        self._silent = False

    # --- feeding -------------------------------------------------------------------------------
    def _fit_columns(self, rows: list[PatientListRow] = ()) -> None:
        """Column widths for the widest text a column can hold (the longest MRNs are measured)."""
        header = self.table.horizontalHeader()
        cell = self.table.fontMetrics()
        head_font = QFont(header.font())
        head_font.setBold(True)
        head = QFontMetrics(head_font)
        mrns = sorted((r.mrn for r in rows), key=len)[-50:] or ["H-000000"]
        samples = {
            COL_MRN: mrns, COL_AGE_SEX: ["100 X", "– ?"], COL_LAST_VISIT: [day(date(2000, 9, 28))],  # the longest month name of the language
            COL_FLAGS: ["99 ‼", "…"], COL_OVERDUE: ["99", "…"],
        }
        for col, texts in samples.items():
            title = self.model.headerData(col, Qt.Orientation.Horizontal)
            width = max([cell.horizontalAdvance(t) + 14 for t in texts] + [head.horizontalAdvance(title) + 12 + 16])
            header.resizeSection(col, width)
            self._widths[col] = width
        self._fit_name_column()

    def set_patients(self, rows: list[PatientListRow]) -> None:
        current = self.current_mrn()
        self._fit_columns(rows)
        self.model.set_patients(rows)
        self._update_count()
        if current:
            self.select(current, emit=False)

    def set_status(self, status: dict[str, PatientStatus]) -> None:
        self.model.set_status(status)
        self._update_count()

    # --- selection -----------------------------------------------------------------------------
    def current_mrn(self) -> str | None:
        index = self.table.currentIndex()
        return index.data(MRN_ROLE) if index.isValid() else None

    def select(self, mrn: str, emit: bool = True) -> bool:
        row = self.model.row_of(mrn)
        if row < 0 and self.model.knows(mrn):  # hidden by the search or a filter: show everyone again
            self.search.clear()
            self.only_flags.setChecked(False)
            self.only_overdue.setChecked(False)
            row = self.model.row_of(mrn)
        if row < 0:
            return False
        proxy_index = self.proxy.mapFromSource(self.model.index(row, COL_MRN))
        self._silent = not emit
        try:
            self.table.selectionModel().setCurrentIndex(
                proxy_index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
            self.table.scrollTo(proxy_index)
        finally:
            self._silent = False
        return True

    def neighbours(self, mrn: str) -> list[str]:
        """The MRNs just below and just above `mrn` in the list as shown (filtered and sorted):
        where the arrow keys go next. Empty when `mrn` is not shown."""
        row = self.model.row_of(mrn)
        shown = self.proxy.mapFromSource(self.model.index(row, COL_MRN)).row() if row >= 0 else -1
        if shown < 0:
            return []
        return [self.proxy.index(r, COL_MRN).data(MRN_ROLE) for r in (shown + 1, shown - 1)
                if 0 <= r < self.proxy.rowCount()]

    def select_row_silently(self, row: int) -> None:
        self._silent = True
        try:
            self.table.selectionModel().setCurrentIndex(
                self.proxy.index(row, COL_MRN),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        finally:
            self._silent = False

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def eventFilter(self, watched, event) -> bool:  # noqa: ANN001, N802 (Qt API)
        """In the search box, Down/Up (and PgDown/PgUp) move the selection through the matches
        without opening them; Enter opens the selected one (see _open_first)."""
        if watched is self.search and event.type() == QEvent.Type.KeyPress and not event.modifiers() & ~(
                Qt.KeyboardModifier.KeypadModifier):
            steps = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 10, Qt.Key.Key_PageUp: -10}
            step = steps.get(event.key())
            if step is not None and self.proxy.rowCount():
                current = self.table.currentIndex()
                row = 0 if not current.isValid() and step > 0 else (
                    self.proxy.rowCount() - 1 if not current.isValid() else current.row() + step)
                row = max(0, min(self.proxy.rowCount() - 1, row))
                self.select_row_silently(row)
                self.table.scrollTo(self.proxy.index(row, COL_MRN))
                return True
        return super().eventFilter(watched, event)

    # --- slots -----------------------------------------------------------------------------------
    def _keeping_current(self, refilter) -> None:  # noqa: ANN001
        """Filter again (the model resets), keeping the current patient current when still shown."""
        current = self.current_mrn()
        refilter()
        if current and not self.table.currentIndex().isValid():
            row = self.model.row_of(current)
            if row >= 0:
                self.select_row_silently(self.proxy.mapFromSource(self.model.index(row, COL_MRN)).row())
        self._update_count()

    def _on_search(self, text: str) -> None:
        self._keeping_current(lambda: self.proxy.set_search(text))
        if self.proxy.rowCount() == 1:  # exactly one match: show it at once
            self.table.selectRow(0)
        elif self.proxy.rowCount() and not self.table.currentIndex().isValid():
            self.select_row_silently(0)  # Enter opens the first match, Down/Up move from there

    def _open_first(self) -> None:
        if self.proxy.rowCount():
            index = self.table.currentIndex()
            if not index.isValid():
                self.table.selectRow(0)
                index = self.table.currentIndex()
            mrn = index.data(MRN_ROLE)
            if mrn:
                self.patientActivated.emit(mrn)
                self.table.setFocus()

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid() and not self._silent:
            self.patientActivated.emit(current.data(MRN_ROLE))

    def _on_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.patientActivated.emit(index.data(MRN_ROLE))

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.total()
        self.count.setText(ntr("{shown} of {total} patient", "{shown} of {total} patients", total).format(
            shown=count_text(shown), total=count_text(total)) if shown != total else ntr(
            "{total} patient", "{total} patients", total).format(total=count_text(total)))

    def resizeEvent(self, event) -> None:  # noqa: ANN001
        super().resizeEvent(event)
        self._fit_name_column()
        # the two filters side by side where they fit, else one above the other (150 % scale)
        side_by_side = (self.only_flags.sizeHint().width() + self.only_overdue.sizeHint().width()
                        + self._filters.spacing() + 2 * SPACING <= event.size().width())
        self._filters.setDirection(QBoxLayout.Direction.LeftToRight if side_by_side
                                   else QBoxLayout.Direction.TopToBottom)

    def _fit_name_column(self) -> None:
        """Show the optional columns only while the Name column keeps NAME_MIN_WIDTH (a narrow list,
        on 1366 px screens, would squeeze the names to a letter)."""
        scroll_bar = self.table.verticalScrollBar().sizeHint().width()
        room = self.table.width() - 2 * self.table.frameWidth() - scroll_bar - NAME_MIN_WIDTH
        fixed = sum(self._widths[c] for c in (COL_MRN, COL_FLAGS, COL_OVERDUE))
        for col in reversed(OPTIONAL_COLUMNS):  # the more useful first: age and sex, then the last visit
            shown = fixed + self._widths[col] <= room
            self.table.setColumnHidden(col, not shown)
            if shown:
                self.table.horizontalHeader().resizeSection(col, self._widths[col])
                fixed += self._widths[col]
