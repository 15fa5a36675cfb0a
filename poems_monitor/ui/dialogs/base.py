"""What the patient, treatment and event dialogs share: a form of labelled fields, each with its
own inline problem line, an optional-date field, and the save path through a service.

Owns the mapping from a service's `FieldProblem.field` to the line under that field, so a
refusal reads where the person is looking. No rule lives here: the services decide.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QDate, QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox, QCheckBox, QDateEdit, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QSizePolicy, QVBoxLayout, QWidget,
)

from poems_monitor.i18n import tr
from poems_monitor.services.access import Actor, PermissionDenied
from poems_monitor.services.changes import NO_CHANGES, Changes, changes_of
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.errors import ConcurrentEdit, DatabaseBusy, FieldProblem, InputRefused, RecordNotFound
from poems_monitor.ui.accessibility import label_controls
from poems_monitor.ui.entry.marks import mark_style, problem_label, show_problem
from poems_monitor.ui.entry.input_guard import guard_alt_typing, guard_wheel


def date_edit(day: date | None = None, name: str = "") -> QDateEdit:
    edit = QDateEdit()
    edit.setObjectName(name)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setCalendarPopup(True)
    edit.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons)
    edit.setMinimumDate(QDate(1900, 1, 1))
    edit.setMaximumDate(QDate(2100, 12, 31))
    edit.setDate(QDate(day or date.today()))
    return edit


class DateField(QLineEdit):
    """A date typed as YYYY-MM-DD that starts empty: no date is ever assumed for the person.

    `value()` is the date, or None when empty; text that is no date raises `InputRefused` for
    `field` from `checked_value()`, so the dialog shows the problem under the field.
    """

    def __init__(self, day: date | None = None, name: str = "", field: str = ""):
        super().__init__()
        self.setObjectName(name)
        self._field = field or name
        self.setPlaceholderText("YYYY-MM-DD")
        self.setMaxLength(10)
        self.setValidator(QRegularExpressionValidator(QRegularExpression(r"[0-9]{0,4}(-[0-9]{0,2}){0,2}"), self))
        self.setMaximumWidth(self.fontMetrics().horizontalAdvance("0000-00-00") + 30)
        if day is not None:
            self.setDate(day)

    def setDate(self, day: date | QDate) -> None:  # noqa: N802 (the QDateEdit name the dialogs use)
        self.setText((day.toPython() if isinstance(day, QDate) else day).isoformat())

    def date(self) -> QDate:
        """As QDateEdit.date(): an invalid QDate when empty or not a date."""
        day = self.value()
        return QDate(day) if day is not None else QDate()

    def value(self) -> date | None:
        try:
            return date.fromisoformat(self.text().strip())
        except ValueError:
            return None

    def checked_value(self, label: str) -> date | None:
        text = self.text().strip()
        day = self.value()
        if text and day is None:
            raise InputRefused([FieldProblem(self._field, tr("{label}: '{text}' is not a date; write it as "
                                                             "YYYY-MM-DD").format(label=label, text=text))])
        return day


class OptionalDate(QWidget):
    """A date that may be left out: a check box ("known") and the date."""

    changed = Signal()

    def __init__(self, check_text: str, day: date | None = None, default: date | None = None, name: str = ""):
        super().__init__()
        self.setObjectName(name)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.check = QCheckBox(check_text)
        self.check.setObjectName(f"{name}_known")
        self.edit = date_edit(day or default, name=f"{name}_date")
        layout.addWidget(self.check)
        layout.addWidget(self.edit)
        layout.addStretch(1)
        self.check.toggled.connect(self.edit.setEnabled)
        self.check.toggled.connect(self.changed)
        self.edit.dateChanged.connect(self.changed)
        self.set_value(day)
        self.setFocusProxy(self.check)

    def value(self) -> date | None:
        return self.edit.date().toPython() if self.check.isChecked() else None

    def set_value(self, day: date | None) -> None:
        self.check.setChecked(day is not None)
        self.edit.setEnabled(day is not None)
        if day is not None:
            self.edit.setDate(QDate(day))


class ServiceDialog(QDialog):
    """A dialog whose OK saves through a service; refusals show under the fields they name."""

    saved = Signal(int)

    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None, today: date | None = None):
        super().__init__(parent)
        self._db = db
        self._actor = actor
        self._today = today or date.today()
        self.saved_id: int | None = None
        self.changes: Changes = NO_CHANGES  # what the save changed (the window publishes it)
        self.setStyleSheet(mark_style() + _DIALOG_STYLE)
        self.setMinimumWidth(620)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 14, 16, 12)
        outer.setSpacing(10)
        self.heading = QLabel("")
        self.heading.setObjectName("dialog_heading")
        self.heading.setWordWrap(True)
        outer.addWidget(self.heading)
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.form.setHorizontalSpacing(12)
        self.form.setVerticalSpacing(4)
        outer.addLayout(self.form)
        self.general_problem = problem_label(self)
        self.general_problem.setObjectName("general_problem")
        outer.addWidget(self.general_problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        # Our own texts: the platform's differ ("&Save" on GNOME, "Save" elsewhere), and Alt+S must
        # mean Save in every dialog (field labels keep off S).
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setText(self.tr("&Save"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(self.tr("Cancel"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        outer.addWidget(self.buttons)
        self._fields: dict[str, tuple[QWidget, QLabel, QLabel]] = {}

    def add_field(self, key: str, label: str, widget: QWidget, hint: str = "") -> QLabel:
        """A labelled field with its problem line (and an optional hint) below it."""
        box = QWidget()
        # the full width of the field column: hints and problems read on one line, not wrapped
        # into a sliver beside a narrow combo box (and squeezed when the dialog refits)
        box.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 4)
        column.setSpacing(2)
        column.addWidget(widget)
        if hint:
            hint_label = QLabel(hint)
            hint_label.setProperty("role", "hint")
            hint_label.setWordWrap(True)
            column.addWidget(hint_label)
        problem = problem_label(box)
        problem.setObjectName(f"problem_{key}")
        column.addWidget(problem)
        name = QLabel(label)
        name.setBuddy(widget)
        self.form.addRow(name, box)
        self._fields[key] = (widget, problem, name)
        return name

    def set_field_visible(self, key: str, visible: bool) -> None:
        widget, problem, name = self._fields[key]
        self.form.setRowVisible(name, visible)

    def problem_text(self, key: str) -> str:
        """What the person reads under field `key` ("" when fine)."""
        label = self._fields[key][1] if key in self._fields else self.general_problem
        return label.text() if label.isVisibleTo(self) else ""

    def clear_problems(self) -> None:
        for widget, problem, _name in self._fields.values():
            show_problem(problem, None, widget)
        show_problem(self.general_problem, None)

    def show_problems(self, problems: list[FieldProblem]) -> None:
        self.clear_problems()
        general: list[str] = []
        first: QWidget | None = None
        grouped: dict[str, list[str]] = {}
        for p in problems:
            if p.field in self._fields:
                grouped.setdefault(p.field, []).append(p.message)
            else:
                general.append(p.message)
        for key, messages in grouped.items():
            widget, label, _name = self._fields[key]
            show_problem(label, "; ".join(messages), widget)
            first = first or widget
        if general:
            show_problem(self.general_problem, "; ".join(general))
        if first is not None:
            first.setFocus()
        self.refit()

    def refit(self) -> None:
        """Grow or shrink to fit lines that appeared or vanished (problems, optional fields)."""
        self.layout().activate()
        self.resize(self.width(), self.layout().totalHeightForWidth(self.width()))

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        guard_wheel(self)  # fields are added by the subclasses, so guard them when shown
        guard_alt_typing(self)
        label_controls(self)  # a field sits in a box under its label: Qt alone would not name it
        super().showEvent(event)

    def submit(self) -> int:
        """Save through the service; return the saved row's id (the service's, which carries what
        changed; or set `self.changes`). Raises the service's refusals."""
        raise NotImplementedError

    def accept(self) -> None:
        self.clear_problems()
        try:
            saved = self.submit()
            self.changes = self.changes | changes_of(saved)
            self.saved_id = int(saved)
        except InputRefused as refused:
            self.show_problems(refused.problems)
            return
        except (ConcurrentEdit, PermissionDenied, RecordNotFound, DatabaseBusy) as exc:
            show_problem(self.general_problem, str(exc))
            return
        self.saved.emit(self.saved_id)
        super().accept()


_DIALOG_STYLE = """
QLabel#dialog_heading { font-size: 13pt; font-weight: 600; }
"""
