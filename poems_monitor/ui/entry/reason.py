"""The "why are you changing a saved visit?" dialog.

Owns asking for the reason of a correction (required by `services.visits.correct_visit`) and
showing what is about to change, so the person confirms the right edit. No services here.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget,
)

from poems_monitor.ui.entry.marks import mark_style, problem_label, show_problem
from poems_monitor.ui.entry.input_guard import guard_alt_typing, guard_wheel


class ReasonDialog(QDialog):
    """Asks for the reason of a correction; `reason()` is the text to audit."""

    def __init__(self, changes: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(self.tr("Reason for the correction"))
        self.setStyleSheet(mark_style())
        layout = QVBoxLayout(self)
        intro = QLabel(self.tr("This visit is already saved. The old values stay readable in the record; "
                               "please say why they are being changed."))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        if changes:
            shown = changes[:12]
            more = len(changes) - len(shown)
            text = "\n".join(f"•  {c}" for c in shown)
            if more > 0:
                text += "\n" + self.tr("…and {n} more").format(n=more)
            summary = QLabel(text)
            summary.setObjectName("changes")
            summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(summary)
        self.choice = QComboBox()
        self.choice.setObjectName("reason_choice")
        self.choice.setEditable(True)
        self.choice.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.choice.addItems([
            "",
            self.tr("Typing error"),
            self.tr("Laboratory amended the result"),
            self.tr("Value entered at the wrong visit"),
            self.tr("Result received after the visit was saved"),
        ])
        self.choice.lineEdit().setPlaceholderText(self.tr("Choose or type the reason"))
        self.choice.lineEdit().returnPressed.connect(self.accept)  # Enter confirms
        layout.addWidget(QLabel(self.tr("&Reason:"), buddy=self.choice))
        layout.addWidget(self.choice)
        self.detail = QPlainTextEdit()
        self.detail.setObjectName("reason_detail")
        self.detail.setTabChangesFocus(True)
        self.detail.setPlaceholderText(self.tr("Details (optional)"))
        self.detail.setFixedHeight(64)
        layout.addWidget(self.detail)
        self.problem = problem_label(self)
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(self.tr("&Save correction"))
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(self.tr("Cancel"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.choice.setFocus()
        guard_wheel(self)
        guard_alt_typing(self)
        self.resize(480, self.sizeHint().height())

    def reason(self) -> str:
        main = self.choice.currentText().strip()
        detail = self.detail.toPlainText().strip()
        if main and detail:
            return f"{main}: {detail}"
        return main or detail

    def accept(self) -> None:
        if not self.reason():
            show_problem(self.problem, self.tr("A correction needs a reason (for example: typing error)"), self.choice)
            self.choice.setFocus()
            return
        super().accept()

    @classmethod
    def get_reason(cls, parent: QWidget | None, changes: list[str]) -> str | None:
        """Ask; None when the person cancels. (Tests replace this class method.)"""
        dialog = cls(changes, parent)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            return dialog.reason()
        return None
