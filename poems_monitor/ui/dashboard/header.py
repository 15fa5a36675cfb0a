"""The dashboard header: who the patient is and where they stand, at a glance.

Low by design (about four short lines, so the charts keep their room on 1366x768 screens): the
identity on the left, the six fields in two rows beside it, each text on one line; a
text wider than its place ends in "…" and its tooltip gives it in full.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from poems_monitor.domain.course import fmt_number
from poems_monitor.domain.safety_flags import MDS_CAUTION
from poems_monitor.domain.catalogue import sex_label
from poems_monitor.i18n import ntr, tr
from poems_monitor.local_format import day
from poems_monitor.services.dashboard import PatientDashboard
from poems_monitor.ui.theme import SPACING, theme



def _set_style(label: QLabel, sheet: str) -> None:
    """Set a label's style sheet only when it changes: setting one, even the same, polishes the
    label again (a patient switch sets eight)."""
    if label.styleSheet() != sheet:
        label.setStyleSheet(sheet)


def _keep_words_whole(label: QLabel) -> None:
    """A label never narrower than its longest word: a narrow column (1366 px screens) elides
    after a word, never shows only the start of the first one."""
    label.ensurePolished()
    fm = label.fontMetrics()
    pieces = label.text().split()
    label.setMinimumWidth(max((fm.horizontalAdvance(w) for w in pieces), default=0) + 2)


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when its text is wider than its place; `text()` stays the
    full text and the tooltip shows it in full (before the label's own tooltip). Lines of a
    multi-line text are joined with " · "."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setWordWrap(False)
        # Asks for its full width, shrinks (eliding) when the row has less: down to its longest word.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def shown_text(self) -> str:
        return self.text().replace("\n", " · ")

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.shown_text()) > self.contentsRect().width()

    # (both hints are one line of the font, computed here alone: QLabel's own, which laid the
    # text out only to be replaced, was about a fifth of a patient switch's layout pass)
    def minimumSizeHint(self):  # noqa: ANN201, N802 (Qt API)
        fm = self.fontMetrics()
        return QSize(fm.horizontalAdvance("…"), fm.height())

    def sizeHint(self):  # noqa: ANN201, N802 (Qt API)
        fm = self.fontMetrics()
        return QSize(fm.horizontalAdvance(self.shown_text()) + 2, fm.height())

    def paintEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        text = self.shown_text()
        if text == self.text() and not self.is_elided():
            super().paintEvent(event)  # fits: the label draws itself (and a mouse selection)
            return
        painter = QPainter(self)
        rect = self.contentsRect()
        elided = self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
        self.style().drawItemText(painter, rect, int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), self.palette(),
                                  self.isEnabled(), elided, self.foregroundRole())

    def event(self, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.ToolTip and self.is_elided():
            tip = "\n".join(t for t in (self.shown_text(), self.toolTip()) if t)
            QToolTip.showText(event.globalPos(), tip, self)
            return True
        return super().event(event)

    def tooltip_shown(self) -> str:
        """What hovering the label shows (for tests)."""
        return "\n".join(t for t in (self.shown_text() if self.is_elided() else "", self.toolTip()) if t)


class _Field(QWidget):
    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.name = ElidedLabel(name.upper(), self)
        self.name.setObjectName("fieldName")
        self.name.ensurePolished()  # field names are short: always in full
        self.name.setMinimumWidth(self.name.fontMetrics().horizontalAdvance(self.name.text()) + 2)
        self.value = ElidedLabel("–", self)
        self.value.setObjectName("fieldValue")
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.name)
        layout.addWidget(self.value)

    def set(self, text: str, tooltip: str = "", colour: str | None = None) -> None:
        self.value.setText(text)
        self.value.setToolTip(tooltip)
        _set_style(self.value, f"color: {colour};" if colour else "")
        _keep_words_whole(self.value)


class DashboardHeader(QFrame):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.name = ElidedLabel("", self)
        self.name.setObjectName("title")
        self.name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.identity = ElidedLabel("", self)
        self.identity.setObjectName("subtitle")
        self.identity.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.diagnosis = _Field(tr("Diagnosis"), self)
        self.criteria = _Field(tr("Criteria"), self)
        self.therapy = _Field(tr("Current therapy"), self)
        self.prophylaxis = _Field(tr("Thromboprophylaxis"), self)
        self.last_visit = _Field(tr("Last visit"), self)
        self.flags = _Field(tr("Flags"), self)
        # Alkylator exposure, under the identity (the field row is full at 1366 px): shown only once
        # melphalan is on record (REFERENCE 7 [KYLE90]); the tooltip holds the doses and the caution.
        self.melphalan = ElidedLabel("", self)
        self.melphalan.setObjectName("subtitle")
        self.melphalan.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.melphalan.hide()

        who = QVBoxLayout()
        who.setSpacing(2)
        who.addWidget(self.name)
        who.addWidget(self.identity)
        who.addWidget(self.melphalan)
        self.status = self._status_label()
        who.addWidget(self.status)
        who.addStretch(1)
        # Two rows on a grid of four columns; the therapy, the longest text, spans three:
        #   diagnosis | criteria | last visit | flags
        #   current therapy                   | thromboprophylaxis
        fields = QGridLayout()
        fields.setHorizontalSpacing(SPACING * 2)
        fields.setVerticalSpacing(SPACING // 2)
        for column, field in enumerate((self.diagnosis, self.criteria, self.last_visit, self.flags)):
            fields.addWidget(field, 0, column)
        fields.addWidget(self.therapy, 1, 0, 1, 3)
        fields.addWidget(self.prophylaxis, 1, 3)
        fields.setColumnStretch(4, 1)  # room to spare stays at the right end, the fields together
        layout = QHBoxLayout(self)
        layout.setContentsMargins(SPACING * 2, SPACING, SPACING * 2, SPACING)
        layout.setSpacing(SPACING * 3)
        layout.addLayout(who)  # each side asks for its texts' width; a narrow screen shrinks both
        layout.addLayout(fields, 1)

    def _status_label(self) -> QLabel:
        """Where the patient stands (suspected, active, responding, ...), beside the criteria."""
        label = ElidedLabel("", self)
        label.setObjectName("patientStatus")
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def _set_status(self, d: PatientDashboard) -> None:
        from poems_monitor.domain.patient_status import ATTENTION

        s = d.patient_status
        if s is None:
            self.status.setText("")
            return
        t = theme()
        colour = t.warning if s.status in ATTENTION else (t.ok if s.status in ("responding", "remission") else t.text)
        self.status.setText(tr("Status: {headline}").format(headline=s.headline))
        _set_style(self.status, f"color: {colour}; font-weight: 600;")
        self.status.setToolTip(f"{s.explanation}\n{tr('Rule: {rule}').format(rule=s.rule)}")
        _keep_words_whole(self.status)

    def set_dashboard(self, d: PatientDashboard) -> None:
        self._set_status(d)
        t = theme()
        self.name.setText(d.name)
        _keep_words_whole(self.name)
        age = tr("{n} y").format(n=d.age) if d.age is not None else tr("age unknown")
        born = tr("born {d}").format(d=day(d.birth_date)) if d.birth_date else ""
        self.identity.setText(" · ".join(x for x in (d.mrn, age, sex_label(d.sex), born) if x))
        _keep_words_whole(self.identity)
        self.diagnosis.set(day(d.diagnosis_date, tr("not recorded"), numeric=True))
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
            self.last_visit.set(f"{d.since_last_visit}\n{day(d.last_visit, numeric=True)}",
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

        exposure = d.melphalan
        self.melphalan.setVisible(exposure is not None and exposure.any)
        if exposure is not None and exposure.any:
            total = (tr("{mg} mg").format(mg=fmt_number(exposure.total_mg)) if exposure.dosed else tr("dose not recorded"))
            if exposure.dosed and exposure.undosed:
                total = tr("≥ {mg} mg").format(mg=fmt_number(exposure.total_mg))
            self.melphalan.setText(tr("Melphalan {total} · MDS risk, AL data [KYLE90]").format(total=total))
            self.melphalan.setToolTip(tr("Melphalan on record: {text}.\n{caution}").format(
                text=exposure.text(), caution=MDS_CAUTION))
            _set_style(self.melphalan, f"color: {t.warning};")

    def texts(self) -> dict[str, str]:
        """What the header says, field by field (for tests and screen readers)."""
        return {
            "name": self.name.text(), "identity": self.identity.text(), "diagnosis": self.diagnosis.value.text(),
            "criteria": self.criteria.value.text(), "therapy": self.therapy.value.text(),
            "prophylaxis": self.prophylaxis.value.text(), "last_visit": self.last_visit.value.text(),
            "flags": self.flags.value.text(), "status": self.status.text(),
            "melphalan": self.melphalan.text() if not self.melphalan.isHidden() else "",
            "melphalan_tooltip": self.melphalan.toolTip() if not self.melphalan.isHidden() else "",
        }
