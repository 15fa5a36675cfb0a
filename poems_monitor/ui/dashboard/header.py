"""The dashboard header: who the patient is and where they stand, at a glance."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from poems_monitor.domain.course import fmt_number
from poems_monitor.domain.safety_flags import MDS_CAUTION
from poems_monitor.i18n import tr
from poems_monitor.services.dashboard import PatientDashboard
from poems_monitor.ui.theme import SPACING, theme

_SEX = {"female": tr("female"), "male": tr("male"), "other": tr("other sex"), "unknown": tr("sex unknown")}


_ZWSP, _SHY = "\u200b", "\u00ad"  # zero-width space and soft hyphen: places a line may break
_HYPHENATED = {"THROMBOPROPHYLAXIS": "THROMBO" + _SHY + "PROPHYLAXIS"}


def _breakable(text: str) -> str:
    """`text` with break opportunities where Qt finds none: after a dash inside a regimen's name
    ("Lenalidomide–dexamethasone") and in a few long field names."""
    text = text.replace("–", "–" + _ZWSP)
    for word, hyphenated in _HYPHENATED.items():
        text = text.replace(word, hyphenated)
    return text


def _plain(text: str) -> str:
    return text.replace(_ZWSP, "").replace(_SHY, "")


def _keep_words_whole(label: QLabel) -> None:
    """A wrapping label never narrower than its longest unbreakable piece, so a narrow column
    (1366 px screens) wraps between words and never cuts one."""
    label.ensurePolished()
    fm = label.fontMetrics()
    pieces = label.text().replace(_ZWSP, " ").replace(_SHY, "- ").split()
    label.setMinimumWidth(max((fm.horizontalAdvance(w) for w in pieces), default=0) + 2)


class _Field(QWidget):
    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.name = QLabel(_breakable(name.upper()), self)
        self.name.setObjectName("fieldName")
        self.name.setWordWrap(True)  # a narrow column (1366 px screens) wraps the name instead of cutting it
        _keep_words_whole(self.name)
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
        self.value.setText(_breakable(text))
        self.value.setToolTip(tooltip)
        self.value.setStyleSheet(f"color: {colour};" if colour else "")
        _keep_words_whole(self.value)


class DashboardHeader(QFrame):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.name = QLabel("", self)
        self.name.setObjectName("title")
        self.name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.identity = QLabel("", self)
        self.identity.setObjectName("subtitle")
        self.identity.setWordWrap(True)  # leaves the fields room on 1366 px screens
        self.identity.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.diagnosis = _Field(tr("Diagnosis"), self)
        self.criteria = _Field(tr("Criteria"), self)
        self.therapy = _Field(tr("Current therapy"), self)
        self.prophylaxis = _Field(tr("Thromboprophylaxis"), self)
        self.last_visit = _Field(tr("Last visit"), self)
        self.flags = _Field(tr("Flags"), self)
        # Alkylator exposure, under the identity (the field row is full at 1366 px): shown only once
        # melphalan is on record (REFERENCE 7 [KYLE90]); the tooltip holds the doses and the caution.
        self.melphalan = QLabel("", self)
        self.melphalan.setObjectName("subtitle")
        self.melphalan.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.melphalan.setWordWrap(True)  # never widens the identity column: wraps under it instead
        self.melphalan.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.melphalan.hide()

        who = QVBoxLayout()
        who.setSpacing(2)
        who.addWidget(self.name)
        who.addWidget(self.identity)
        who.addWidget(self.melphalan)
        self.status = self._status_label()
        who.addWidget(self.status)
        fields = QGridLayout()
        fields.setHorizontalSpacing(SPACING * 3)
        fields.setVerticalSpacing(SPACING)
        for i, f in enumerate((self.diagnosis, self.criteria, self.therapy, self.prophylaxis, self.last_visit, self.flags)):
            fields.addWidget(f, 0, i)
        fields.setColumnStretch(1, 3)
        fields.setColumnStretch(2, 3)
        for c in (0, 3, 4, 5):
            fields.setColumnStretch(c, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(SPACING * 2, SPACING + SPACING // 2, SPACING * 2, SPACING + SPACING // 2)
        layout.setSpacing(SPACING * 4)
        layout.addLayout(who, 2)  # wide screens keep the identity on one line; narrow ones wrap it
        layout.addLayout(fields, 5)

    def _status_label(self) -> QLabel:
        """Where the patient stands (suspected, active, responding, ...), beside the criteria."""
        label = QLabel("", self)
        label.setObjectName("patientStatus")
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setWordWrap(True)
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
        self.status.setStyleSheet(f"color: {colour}; font-weight: 600;")
        self.status.setToolTip(f"{s.explanation}\n{tr('Rule: {rule}').format(rule=s.rule)}")
        _keep_words_whole(self.status)

    def set_dashboard(self, d: PatientDashboard) -> None:
        self._set_status(d)
        t = theme()
        self.name.setText(d.name)
        age = tr("{n} y").format(n=d.age) if d.age is not None else tr("age unknown")
        born = tr("born {d}").format(d=d.birth_date.isoformat()) if d.birth_date else ""
        self.identity.setText(" · ".join(x for x in (d.mrn, age, _SEX.get(d.sex, d.sex), born) if x))
        _keep_words_whole(self.identity)
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
                                tr("{n} visits recorded").format(n=len(d.visit_dates)))
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
            self.melphalan.setStyleSheet(f"color: {t.warning};")

    def texts(self) -> dict[str, str]:
        """What the header says, field by field (for tests and screen readers)."""
        texts = {
            "name": self.name.text(), "identity": self.identity.text(), "diagnosis": self.diagnosis.value.text(),
            "criteria": self.criteria.value.text(), "therapy": self.therapy.value.text(),
            "prophylaxis": self.prophylaxis.value.text(), "last_visit": self.last_visit.value.text(),
            "flags": self.flags.value.text(), "status": self.status.text(),
            "melphalan": self.melphalan.text() if not self.melphalan.isHidden() else "",
            "melphalan_tooltip": self.melphalan.toolTip() if not self.melphalan.isHidden() else "",
        }
        return {key: _plain(text) for key, text in texts.items()}
