"""The clinic's units: which unit each measure is typed and read in (the protocol's [units]).

Shows, for every measure the catalogue can convert, the unit the clinic uses and lets a
physician or an administrator change it, with a reason; saving is an audited protocol change
(`services.protocol_store.save_units`). Everyone else sees the table read-only. Values in the
database and in files stay in the canonical unit whatever is chosen here.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QGridLayout, QLabel, QLineEdit, QScrollArea, QVBoxLayout, QWidget,
)

from poems_monitor.domain.catalogue import MEASURES, MeasureKind
from poems_monitor.domain.display_units import DisplayUnits, choosable_units
from poems_monitor.domain.protocol import ProtocolError
from poems_monitor.i18n import tr
from poems_monitor.services.access import Actor, Permission, PermissionDenied
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.errors import InputRefused
from poems_monitor.services.protocol_store import SavedProtocol, protocol_status, save_units
from poems_monitor.ui.entry.input_guard import guard_wheel


def convertible_codes() -> tuple[str, ...]:
    """The measures a clinic may show in another unit, in catalogue order."""
    return tuple(c for c, m in MEASURES.items() if m.kind is MeasureKind.QUANTITY and len(choosable_units(c)) > 1)


class UnitsDialog(QDialog):
    """The unit per measure; `saved` holds what saving changed (None when nothing was saved)."""

    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None, *, read_only: bool = False):
        super().__init__(parent)
        self.setWindowTitle(tr("Clinic units"))
        self._db = db
        self._actor = actor
        self.saved: SavedProtocol | None = None
        status = protocol_status(db)
        self._units = status.protocol.units
        self.editable = actor.may(Permission.EDIT_PROTOCOL) and not read_only
        layout = QVBoxLayout(self)
        intro = QLabel(tr("Values are typed and shown in these units on every workstation of the clinic. The "
                          "database, exports and files keep the canonical unit; the rules compare canonical values."))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        if not self.editable:
            who = QLabel(tr("Only a physician or an administrator changes the clinic's units."))
            who.setObjectName("units_read_only")
            who.setProperty("role", "hint")
            layout.addWidget(who)
        grid_host = QWidget()
        grid = QGridLayout(grid_host)
        grid.addWidget(QLabel(f"<b>{tr('Measure')}</b>"), 0, 0)
        grid.addWidget(QLabel(f"<b>{tr('Unit shown')}</b>"), 0, 1)
        grid.addWidget(QLabel(f"<b>{tr('Canonical unit')}</b>"), 0, 2)
        self.choosers: dict[str, QComboBox] = {}
        for r, code in enumerate(convertible_codes(), start=1):
            m = MEASURES[code]
            name = QLabel(m.label)
            chooser = QComboBox()
            chooser.setObjectName(f"unit_choice_{code}")
            for unit in choosable_units(code):
                chooser.addItem(DisplayUnits(((code, unit),)).label(code), unit)
            chooser.setCurrentIndex(max(chooser.findData(self._units.unit(code)), 0))
            chooser.setEnabled(self.editable)
            chooser.setAccessibleName(tr("{name} unit shown").format(name=m.label))
            name.setBuddy(chooser)
            grid.addWidget(name, r, 0)
            grid.addWidget(chooser, r, 1)
            grid.addWidget(QLabel(m.unit_label), r, 2)
            self.choosers[code] = chooser
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(grid_host)
        layout.addWidget(scroll, 1)
        guard_wheel(grid_host)  # scrolling the list never changes a unit by accident
        self.reason = QLineEdit()
        self.reason.setObjectName("units_reason")
        self.reason.setPlaceholderText(tr("Why the units change (kept in the audit trail)"))
        self.reason.setAccessibleName(tr("Reason for the change"))
        self.reason.setVisible(self.editable)
        layout.addWidget(self.reason)
        self.problem = QLabel()
        self.problem.setObjectName("units_problem")
        self.problem.setWordWrap(True)
        self.problem.setProperty("mark", "refused")
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
                                   if self.editable else QDialogButtonBox.StandardButton.Close)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        layout.addWidget(buttons)
        self.resize(560, 520)

    def chosen(self) -> DisplayUnits:
        rows = ((code, c.currentData()) for code, c in self.choosers.items())
        return DisplayUnits(tuple(sorted((code, unit) for code, unit in rows if unit != MEASURES[code].unit)))

    def _refuse(self, message: str) -> None:
        self.problem.setText(message)
        self.problem.show()

    def save(self) -> None:
        """Save the chosen units as a protocol change; a refusal is said under the table and
        nothing changes."""
        if self.chosen() == self._units:
            self.reject()  # nothing to change, nothing to audit
            return
        try:
            self.saved = save_units(self._db, self._actor, self.chosen(), self.reason.text())
        except InputRefused as exc:
            self._refuse("; ".join(p.message for p in exc.problems))
            self.reason.setFocus()
            return
        except (PermissionDenied, ProtocolError) as exc:
            self._refuse(str(exc))
            return
        self.accept()


def open_units(parent: QWidget, db: Database, actor: Actor, *, read_only: bool = False) -> SavedProtocol | None:
    """Show the clinic's units; what saving changed, or None."""
    dialog = UnitsDialog(db, actor, parent, read_only=read_only)
    dialog.exec()
    return dialog.saved


__all__ = ["UnitsDialog", "convertible_codes", "open_units"]
