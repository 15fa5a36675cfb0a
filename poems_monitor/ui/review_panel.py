"""The physician's "To review" list: visits whose latest content a nurse entered and that no
physician has signed off yet, with "Sign off" and "Open visit".

Owns `ReviewModel` (a table model over `services.review.VisitToReview` rows) and
`ReviewPanel` (the table, an optional comment, the buttons and a message line). The rule of what
is to review and the permission to sign off are `services.review`'s: the Sign off button is
disabled for a role that may not sign off, and the service refuses it anyway. A refusal
(another role, a visit changed since the list was loaded) is shown as its sentence. Given the
window's change bus, it publishes its sign-offs there and reloads itself when a change concerns
the list (a visit saved or signed off, a patient's name corrected, a restore).
"""

from __future__ import annotations

from datetime import timezone

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QTableView, QVBoxLayout, QWidget,
)

from poems_monitor.i18n import ntr, tr
from poems_monitor.services.access import Actor, Permission, PermissionDenied
from poems_monitor.services.changes import Changes
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.errors import ConcurrentEdit, InputRefused, VisitNotFound
from poems_monitor.services.review import VisitToReview, sign_off_visit, visits_to_review
from poems_monitor.ui.changes import ChangeBus
from poems_monitor.ui.row_table_model import SORT_ROLE, RowTableModel

COL_DATE, COL_MRN, COL_NAME, COL_BY, COL_AT = range(5)
HEADERS = {COL_DATE: tr("Visit date"), COL_MRN: tr("MRN"), COL_NAME: tr("Patient"), COL_BY: tr("Entered by"),
           COL_AT: tr("Entered at")}


class ReviewModel(RowTableModel[VisitToReview]):
    headers = HEADERS

    def visit(self, row: int) -> VisitToReview:
        return self.row_at(row)

    def cell(self, v: VisitToReview, column: int, role: int):  # noqa: ANN201
        if role == SORT_ROLE:
            if column == COL_DATE:
                return v.date.toordinal()
            if column == COL_AT:
                return v.entered_at.timestamp()
            return self.cell(v, column, Qt.ItemDataRole.DisplayRole)
        if role == Qt.ItemDataRole.DisplayRole:
            if column == COL_DATE:
                return v.date.isoformat()
            if column == COL_AT:
                at = v.entered_at if v.entered_at.tzinfo else v.entered_at.replace(tzinfo=timezone.utc)
                return at.astimezone().strftime("%Y-%m-%d %H:%M")
            return {COL_MRN: v.mrn, COL_NAME: v.patient_name, COL_BY: v.entered_by}.get(column)
        if role == Qt.ItemDataRole.ToolTipRole and column == COL_DATE:
            return tr("Double-click to open this visit in the entry form")
        return None


class ReviewPanel(QWidget):
    """The clinic's visits to review. `openVisit(mrn, visit_id)` asks the window to open one;
    `countChanged(n)` tells how many are waiting (for the toolbar)."""

    openVisit = Signal(str, int)
    countChanged = Signal(int)
    signedOff = Signal(int)

    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None, bus: ChangeBus | None = None):
        super().__init__(parent)
        self._db = db
        self._actor = actor
        self._bus = bus
        if bus is not None:
            bus.changed.connect(self._on_changes)
        self.may_sign = actor.may(Permission.REVIEW)
        self.model = ReviewModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)

        title = QLabel(tr("Visits to review"))
        title.setObjectName("reviewTitle")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        title.setFont(font)
        self.summary = QLabel("")
        self.summary.setObjectName("reviewSummary")
        self.summary.setWordWrap(True)

        self.table = QTableView()
        self.table.setObjectName("reviewTable")
        self.table.setAccessibleName(tr("Visits to review"))
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL_DATE, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self._open_index)
        self.table.activated.connect(self._open_index)  # Return on a row

        self.comment = QLineEdit()
        self.comment.setObjectName("reviewComment")
        self.comment.setAccessibleName(tr("Comment for the sign-off"))
        self.comment.setPlaceholderText(tr("Comment for the sign-off (optional)"))
        self.comment.setMaxLength(2000)
        self.open_button = QPushButton(tr("&Open visit"))
        self.open_button.setObjectName("openVisitButton")
        self.open_button.clicked.connect(self.open_current)
        self.sign_button = QPushButton(tr("&Sign off"))
        self.sign_button.setObjectName("signOffButton")
        self.sign_button.setStyleSheet("font-weight: 600; padding: 4px 14px;")
        self.sign_button.clicked.connect(self.sign_off_current)
        if not self.may_sign:
            self.sign_button.setToolTip(tr("Only a physician may sign off a visit; you are signed in as {role}").format(
                role=actor.role.label))
            self.comment.setEnabled(False)
        else:
            self.sign_button.setToolTip(tr("Record that you reviewed this visit as it is shown"))
        self.message = QLabel("")
        self.message.setObjectName("reviewMessage")
        self.message.setAccessibleName(tr("Message"))
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        actions = QHBoxLayout()
        actions.addWidget(self.comment, 1)
        actions.addWidget(self.open_button)
        actions.addWidget(self.sign_button)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        layout.addWidget(self.message)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self._update_buttons()

    # --- data ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        current = self.current_visit()
        rows = visits_to_review(self._db)
        self.model.set_rows(rows)
        if current is not None:
            self.select_visit(current.visit_id)
        if self.proxy.rowCount() and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)
        n = len(rows)
        if n == 0:
            self.summary.setText(tr("No visit waits for review: every visit entered by a nurse is signed off."))
        else:
            who = tr("Select a visit, check it (Open visit), then sign it off.") if self.may_sign else tr(
                "A physician signs these off; you can open them.")
            self.summary.setText(ntr("{n} visit entered by a nurse waits for a physician's sign-off. ",
                                      "{n} visits entered by nurses wait for a physician's sign-off. ", n).format(n=n) + who)
        self._update_buttons()
        self.countChanged.emit(n)

    def _on_changes(self, changes: Changes) -> None:
        if changes.visit_reviews or changes.patient_list or changes.all_patients:
            self.refresh()

    def count(self) -> int:
        return self.model.rowCount()

    def current_visit(self) -> VisitToReview | None:
        index = self.table.currentIndex()
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if rows:
            index = rows[0]
        if not index.isValid():
            return None
        return self.model.visit(self.proxy.mapToSource(index).row())

    def select_visit(self, visit_id: int) -> bool:
        for r in range(self.proxy.rowCount()):
            source = self.proxy.mapToSource(self.proxy.index(r, 0))
            if self.model.visit(source.row()).visit_id == visit_id:
                self.table.selectRow(r)
                return True
        return False

    def _update_buttons(self) -> None:
        selected = self.current_visit() is not None
        self.open_button.setEnabled(selected)
        self.sign_button.setEnabled(selected and self.may_sign)

    # --- actions ---------------------------------------------------------------------------------
    def _open_index(self, index: QModelIndex) -> None:
        if index.isValid():
            v = self.model.visit(self.proxy.mapToSource(index).row())
            self.openVisit.emit(v.mrn, v.visit_id)

    def open_current(self) -> None:
        v = self.current_visit()
        if v is not None:
            self.openVisit.emit(v.mrn, v.visit_id)

    def sign_off_current(self) -> bool:
        """Sign off the selected visit at the version shown; a refusal is shown as its sentence."""
        v = self.current_visit()
        if v is None:
            self._say(tr("Select a visit first."), problem=True)
            return False
        try:
            signed = sign_off_visit(self._db, self._actor, v.visit_id, v.version, self.comment.text())
        except (PermissionDenied, ConcurrentEdit) as exc:
            self._say(str(exc), problem=True)
            if isinstance(exc, ConcurrentEdit):
                self.refresh()
            return False
        except InputRefused as exc:
            self._say("; ".join(p.message for p in exc.problems), problem=True)
            self.refresh()
            return False
        except VisitNotFound as exc:
            self._say(str(exc), problem=True)
            self.refresh()
            return False
        self.comment.clear()
        self._say(tr("Signed off: visit of {date} of {name} ({mrn}).").format(
            date=v.date.isoformat(), name=v.patient_name, mrn=v.mrn), problem=False)
        if self._bus is not None:
            self._bus.publish(signed)  # this list reloads as a subscriber, like the other screens
        else:
            self.refresh()
        self.signedOff.emit(v.visit_id)
        return True

    def _say(self, text: str, *, problem: bool) -> None:
        self.message.setText(("⚠ " if problem else "✓ ") + text)
        self.message.setProperty("problem", problem)
