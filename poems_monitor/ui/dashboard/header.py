"""The dashboard header: who the patient is and where they stand, at a glance."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from poems_monitor.i18n import ntr, tr
from poems_monitor.services.dashboard import PatientDashboard
from poems_monitor.ui.theme import SPACING, theme

_SEX = {"female": tr("female"), "male": tr("male"), "other": tr("other sex"), "unknown": tr("sex unknown")}


class _Field(QWidget):
    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.name = QLabel(name.upper(), self)
        self.name.setObjectName("fieldName")
        self.value = QLabel("–", self)
        self.value.setObjectName("fieldValue")
        self.value.setWordWrap(True)
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.name)
        layout.addWidget(self.value)

    def set(self, text: str, tooltip: str = "", colour: str | None = None) -> None:
        self.value.setText(text)
        self.value.setToolTip(tooltip)
        self.value.setStyleSheet(f"color: {colour};" if colour else "")


class DashboardHeader(QFrame):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.name = QLabel("", self)
        self.name.setObjectName("title")
        self.name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.identity = QLabel("", self)
        self.identity.setObjectName("subtitle")
        self.identity.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.diagnosis = _Field(tr("Diagnosis"), self)
        self.criteria = _Field(tr("Criteria"), self)
        self.therapy = _Field(tr("Current therapy"), self)
        self.prophylaxis = _Field(tr("Thromboprophylaxis"), self)
        self.last_visit = _Field(tr("Last visit"), self)
        self.flags = _Field(tr("Flags"), self)

        who = QVBoxLayout()
        who.setSpacing(2)
        who.addWidget(self.name)
        who.addWidget(self.identity)
        self.fields = fields = QGridLayout()
        fields.setHorizontalSpacing(SPACING * 3)
        fields.setVerticalSpacing(SPACING)
        self._columns = 0
        self._arrange(6)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(SPACING * 2, SPACING + SPACING // 2, SPACING * 2, SPACING + SPACING // 2)
        layout.setSpacing(SPACING * 4)
        layout.addLayout(who, 0)
        layout.addLayout(fields, 1)

    def _arrange(self, columns: int) -> None:
        """The six facts in one row, or in two rows of three where one row would clip their names
        (a dashboard beside the patient list at 1366×768)."""
        if columns == self._columns:
            return
        self._columns = columns
        facts = (self.diagnosis, self.criteria, self.therapy, self.prophylaxis, self.last_visit, self.flags)
        for f in facts:
            self.fields.removeWidget(f)
        for i, f in enumerate(facts):
            self.fields.addWidget(f, i // columns, i % columns)
        for c in range(6):
            self.fields.setColumnStretch(c, 0)
        stretch = (1, 3, 3, 1, 1, 1) if columns == 6 else (1, 1, 1)
        for c, factor in enumerate(stretch):
            self.fields.setColumnStretch(c, factor)

    def resizeEvent(self, event) -> None:  # noqa: ANN001
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        names = sum(f.name.sizeHint().width() for f in (self.diagnosis, self.criteria, self.therapy,
                                                        self.prophylaxis, self.last_visit, self.flags))
        room = self.width() - self.name.sizeHint().width() - SPACING * 4 - SPACING * 4 - 5 * SPACING * 3
        self._arrange(6 if names * 1.4 <= room else 3)

    def set_dashboard(self, d: PatientDashboard) -> None:
        t = theme()
        self.name.setText(d.name)
        age = tr("{n} y").format(n=d.age) if d.age is not None else tr("age unknown")
        born = tr("born {d}").format(d=d.birth_date.isoformat()) if d.birth_date else ""
        self.identity.setText(" · ".join(x for x in (d.mrn, age, _SEX.get(d.sex, d.sex), born) if x))
        self.diagnosis.set(d.diagnosis_date.isoformat() if d.diagnosis_date else tr("not recorded"))
        fulfilled = d.criteria.fulfilled_on is not None
        used = ", ".join(c.name for c in d.criteria.used) if fulfilled else ""
        self.criteria.set(
            ("✓ " if fulfilled else "○ ") + d.criteria_status,
            tr("Criteria used: {used}").format(used=used) if used else "",
            None if fulfilled else t.warning,
        )
        self.therapy.set(d.current_therapy)
        self.prophylaxis.set(d.thromboprophylaxis, colour=t.critical if d.thromboprophylaxis in (
            tr("None"), tr("Not documented")) else None)
        if d.last_visit:
            self.last_visit.set(f"{d.since_last_visit}\n{d.last_visit.isoformat()}",
                                ntr("{n} visit recorded", "{n} visits recorded", len(d.visit_dates)).format(n=len(d.visit_dates)))
        else:
            self.last_visit.set(tr("no visit yet"), colour=t.warning)
        new = len(d.unacknowledged)
        worst = next((f.flag.severity.value for f in d.unacknowledged if f.flag.severity.value == "critical"), None)
        self.flags.set(
            tr("{n} new · {total} in all").format(n=new, total=len(d.flags)) if d.flags else tr("none"),
            tr("New = not yet acknowledged by a physician"),
            t.severity_colour(worst or "warning") if new else None,
        )
        self._fit()  # the name's width decides whether the facts fit in one row

    def texts(self) -> dict[str, str]:
        """What the header says, field by field (for tests and screen readers)."""
        return {
            "name": self.name.text(), "identity": self.identity.text(), "diagnosis": self.diagnosis.value.text(),
            "criteria": self.criteria.value.text(), "therapy": self.therapy.value.text(),
            "prophylaxis": self.prophylaxis.value.text(), "last_visit": self.last_visit.value.text(),
            "flags": self.flags.value.text(),
        }
