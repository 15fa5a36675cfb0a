"""The visit entry form's behaviour: a new visit, or a correction of a saved one.

`VisitEntryForm` subclasses the layout (`form_view.VisitEntryFormView`: widgets, sections,
keyboard paths) and owns what happens in it: loading a visit or a new one (opening the existing
visit of a date instead of starting a duplicate), the patient's previous value beside each
field, dirty tracking and Revert, the three tiers and the summary as the person types, the save
flow (confirmation of critical values, the reason for a correction, the messages), and the
unsaved-changes question when the form is left.

It must not decide a limit (domain.validation) nor write a row (services.visits): it collects
an `EnteredValue` per filled field and lets the service accept or refuse the whole visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from poems_monitor.domain.catalogue import EXAM_KINDS, FEATURES, MEASURES, FeatureState, sex_label
from poems_monitor.i18n import counted
from poems_monitor.domain.timeline import ExamRecord
from poems_monitor.services.access import Actor, PermissionDenied
from poems_monitor.services.changes import NO_CHANGES, Changes
from poems_monitor.services.clinic_database import Database, ServerUnreachable
from poems_monitor.services.errors import ConcurrentEdit, DatabaseBusy, FieldProblem, InputRefused
from poems_monitor.services.history import newest_entry_of_patient
from poems_monitor.services.patients import patient_of_visit, stored_patient
from poems_monitor.services.protocol_store import current_protocol
from poems_monitor.services.visits import (
    EnteredValue, LastRecorded, VisitInput, correct_visit, last_recorded, open_visit, record_visit, visit_on,
)
from poems_monitor.ui.entry.fields import fmt_number, show_previous
from poems_monitor.ui.entry.form_elsewhere import ChangedElsewhere
from poems_monitor.ui.entry.form_view import VisitEntryFormView
from poems_monitor.ui.entry.marks import set_tier
from poems_monitor.ui.entry.reason import ReasonDialog


@dataclass(frozen=True)
class PatientHeader:
    mrn: str
    name: str
    sex: str
    birth_date: date | None


def _patient_header(db: Database, mrn: str | None = None, visit_id: int | None = None) -> PatientHeader:
    """The few patient facts the form shows and validates against (one short read);
    PatientNotFound / VisitNotFound when the patient or visit is gone."""
    p = stored_patient(db, mrn) if visit_id is None else patient_of_visit(db, visit_id)
    return PatientHeader(p.mrn, p.name, p.sex, p.birth_date)


def _age(birth: date | None, on: date) -> int | None:
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))



class VisitEntryForm(ChangedElsewhere, VisitEntryFormView):
    """Enter a new visit (`load_new(mrn)`) or correct a saved one (`load_visit(visit_id)`)."""

    saved = Signal(int)
    dirtyChanged = Signal(bool)

    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None, *, today: date | None = None):
        # the state first: the view connects its widgets to the callbacks below while it builds
        self._db = db
        self._actor = actor
        self._today_fixed = today
        self._mrn: str | None = None
        self._header: PatientHeader | None = None
        self._visit_id: int | None = None
        self._version: int | None = None
        self._baseline: tuple | None = None
        self._baseline_values: dict[str, EnteredValue] = {}
        self._dirty = False
        self._loading = False
        self.last_changes: Changes = NO_CHANGES  # what the last save changed (services.changes)
        self._audit_mark = 0  # the patient's newest audit entry when the form was loaded (changed_elsewhere)
        self._previous: dict[str, LastRecorded] = {}
        self._confirmation = ""
        super().__init__(parent)

    def _today(self) -> date:
        return self._today_fixed or date.today()

    # ------------------------------------------------------------------------------------------
    # banner links and the visit date
    # ------------------------------------------------------------------------------------------
    def _on_banner_link(self, link: str) -> None:
        if link == "elsewhere:reload":
            self.reload_keeping_typed()
            return
        if link == "elsewhere:keep":
            self._hide_banner()
            return
        if link.startswith("visit:"):
            if self.maybe_leave():
                self.load_visit(int(link.split(":", 1)[1]))
            return
        self._focus_field(link)

    def _check_existing_visit(self, *_args) -> None:  # noqa: ANN002
        """A new visit moved to a date that already has one: say so now, not at save."""
        if self._loading or self._visit_id is not None or self._mrn is None:
            return
        existing = visit_on(self._db, self._mrn, self.date_edit.date().toPython())
        if existing is not None:
            self._show_banner(self.tr('{mrn} already has a visit on {d}. <a href="visit:{id}">Open that visit</a> '
                                      'to correct it, or choose another date.').format(
                mrn=_escape(self._mrn), d=self.date_edit.date().toPython().isoformat(), id=existing), "confirm-banner")
        elif self.banner.property("role") == "confirm-banner" and "visit:" in self.banner_text.text():
            self._hide_banner()

    # ------------------------------------------------------------------------------------------
    # loading
    # ------------------------------------------------------------------------------------------
    def load_new(self, mrn: str) -> None:
        """An empty visit dated today for the patient `mrn`; when the patient already has a visit
        today, that visit is opened instead (one visit a day: a duplicate would be refused at save)."""
        header = _patient_header(self._db, mrn=mrn)
        existing = visit_on(self._db, mrn, self._today())
        if existing is not None:
            self.load_visit(existing)
            self._show_banner(self.tr("{mrn} already has a visit today: it is opened for correction.").format(
                mrn=_escape(mrn)), "confirm-banner")
            return
        self._visit_id = None
        self._version = None
        self._fill(header, self._today(), (), (), (), "")
        self.title.setText(self.tr("New visit — {name}").format(name=header.name))
        self.date_edit.setFocus()

    def load_visit(self, visit_id: int) -> None:
        """A saved visit, to correct; saving asks for a reason and keeps the old values."""
        header = _patient_header(self._db, visit_id=visit_id)
        snapshot = open_visit(self._db, visit_id)
        self._visit_id = snapshot.visit_id
        self._version = snapshot.version
        self._fill(header, snapshot.date, snapshot.values, snapshot.features, snapshot.exams, snapshot.note)
        self.title.setText(self.tr("Visit of {date} — {name}").format(date=snapshot.date.isoformat(), name=header.name))
        extra = self.tr("entered by {who}").format(who=snapshot.created_by)
        if snapshot.reviewed_by:
            extra += " · " + self.tr("reviewed by {who}").format(who=snapshot.reviewed_by)
        self.subtitle.setText(self.subtitle.text() + " · " + extra + " · " + self.tr("changes need a reason"))

    def _fill(self, header: PatientHeader, day: date, values, features, exams, note: str) -> None:  # noqa: ANN001
        self._loading = True
        try:
            self._header = header
            self._mrn = header.mrn
            age = _age(header.birth_date, self._today())
            facts = [header.mrn, sex_label(header.sex)]
            if age is not None:
                facts.append(counted(age, "{n} year old", "{n} years old"))
            self.subtitle.setText(" · ".join(facts))
            self.date_edit.setMaximumDate(QDate(self._today()))
            if header.birth_date:
                self.date_edit.setMinimumDate(QDate(header.birth_date))
            self.date_edit.setDate(QDate(day))
            by_code = {v.code: v for v in values}
            self._baseline_values = by_code
            self._previous = last_recorded(self._db, header.mrn, day)
            units = current_protocol(self._db).units  # the clinic's unit per measure
            for row in self.rows.values():
                row.set_units(units)
            for code, row in self.rows.items():
                row.set_previous(self._previous.get(code))
            for code, label in self.feature_previous.items():
                show_previous(label, self._previous.get(code))
            for code, row in self.rows.items():
                row.load(by_code.get(code))
            states = dict(features)
            for code, choice in self.features.items():
                choice.set_state(states.get(code, FeatureState.UNKNOWN.value))
            by_kind = {x.kind: x for x in exams}
            for kind, (result, note_edit) in self.exams.items():
                x = by_kind.get(kind)
                result.setCurrentIndex(max(result.findData(x.result), 0) if x else 0)
                note_edit.setText(x.note if x else "")
            self.note.setPlainText(note)
            self._confirmed: set[str] = set()
        finally:
            self._loading = False
        self._set_enabled(True)
        self._refresh_all()
        self._hide_banner()
        self._baseline = self._state()
        self._set_dirty(False)
        self.scroll.verticalScrollBar().setValue(0)
        self._select_section(0)
        self._audit_mark = newest_entry_of_patient(self._db, header.mrn)

    # ------------------------------------------------------------------------------------------
    # state
    # ------------------------------------------------------------------------------------------
    def _state(self) -> tuple:
        return (
            self.date_edit.date().toPython(),
            tuple(row.state_key() for row in self.rows.values()),
            tuple(c.state() for c in self.features.values()),
            tuple((r.currentData(), n.text().strip()) for r, n in self.exams.values()),
            self.note.toPlainText().strip(),
        )

    def has_unsaved_changes(self) -> bool:
        return self._dirty

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirtyChanged.emit(dirty)
        self.revert_button.setEnabled(dirty)

    def _on_changed(self, *_args) -> None:  # noqa: ANN002
        if self._loading or self._baseline is None:
            return
        self._update_derived()
        self._update_summary()
        self._set_dirty(self._state() != self._baseline)

    def _refresh_all(self) -> None:
        sex = self._header.sex if self._header else None
        for row in self.rows.values():
            row.refresh(sex)
        self._update_derived()
        self._update_summary()

    def _update_derived(self) -> None:
        for row in self.rows.values():
            m = row.measure
            if not m.derived_from:
                continue
            parts = [self.rows[c].typed() for c in m.derived_from]
            if all(p is not None for p in parts):
                values = [int(p[0]) for p in parts]  # type: ignore[index]
                names = " + ".join(f"{self.rows[c].measure.label.split()[-1]} {v}" for c, v in zip(m.derived_from, values))
                row.derived_label.setText(self.tr("{total} of {max} ({parts})").format(
                    total=sum(values), max=fmt_number(m.absolute.high, 0), parts=names))
            else:
                row.derived_label.setText(self.tr("— (needs both grades)"))

    def _update_summary(self) -> None:
        counts = {"filled": 0, "refused": 0, "critical": 0, "out_of_range": 0}
        for row in self.rows.values():
            if not row.is_empty():
                counts["filled"] += 1
            if row.verdict.tier:
                counts[row.verdict.tier] += 1
        parts = [self.tr("{n} values").format(n=counts["filled"])]
        if counts["refused"]:
            parts.append(self.tr("✖ {n} not possible").format(n=counts["refused"]))
        if counts["critical"]:
            parts.append(self.tr("⚠ {n} to confirm").format(n=counts["critical"]))
        if counts["out_of_range"]:
            parts.append(self.tr("● {n} out of range").format(n=counts["out_of_range"]))
        self.summary.setText("   ".join(parts))

    def _collect(self, confirmed: set[str]) -> VisitInput:
        values = tuple(
            v for v in (row.entered(code in confirmed) for code, row in self.rows.items() if row.editor is not None)
            if v is not None
        )
        features = tuple((code, c.state()) for code, c in self.features.items()
                         if c.state() != FeatureState.UNKNOWN.value)
        exams = tuple(ExamRecord(kind, r.currentData(), n.text().strip())
                      for kind, (r, n) in self.exams.items() if r.currentData() is not None)
        return VisitInput(date=self.date_edit.date().toPython(), values=values, features=features, exams=exams,
                          note=self.note.toPlainText().strip())

    def _changes(self) -> list[str]:
        """'Platelets: 312 → 321' lines for the reason dialog."""
        out = []
        for code, row in self.rows.items():
            if row.editor is None:
                continue
            old = self._baseline_values.get(code)
            new = row.entered()
            old_text = _shown(old)
            new_text = _shown(new)
            if old_text != new_text:
                out.append(f"{row.measure.label}: {old_text} → {new_text}")
        base = self._baseline
        if base is not None:
            if base[0] != self.date_edit.date().toPython():
                out.append(self.tr("Visit date: {a} → {b}").format(a=base[0], b=self.date_edit.date().toPython()))
            for (code, c), old_state in zip(self.features.items(), base[2]):
                if c.state() != old_state:
                    out.append(f"{FEATURES[code].label}: {old_state} → {c.state()}")
            for (kind, (r, n)), old in zip(self.exams.items(), base[3]):
                if (r.currentData(), n.text().strip()) != old:
                    out.append(f"{EXAM_KINDS[kind].label}: {old[0] or '—'} → {r.currentData() or '—'}")
            if base[4] != self.note.toPlainText().strip():
                out.append(self.tr("Note changed"))
        return out

    # ------------------------------------------------------------------------------------------
    # saving
    # ------------------------------------------------------------------------------------------
    def save(self) -> bool:
        """Save through the visit services; True when the visit is stored (or nothing changed)."""
        if self._mrn is None:
            return False
        if self._visit_id is not None and not self._dirty:
            self._show_banner(self.tr("Nothing changed since the visit was opened."), "ok-banner")
            return True
        reason = ""
        if self._visit_id is not None:
            answer = ReasonDialog.get_reason(self, self._changes())
            if answer is None:
                return False
            reason = answer
        confirmed: set[str] = set()
        for _attempt in range(2):
            entry = self._collect(confirmed)
            try:
                if self._visit_id is None:
                    result = record_visit(self._db, self._actor, self._mrn, entry, today=self._today())
                else:
                    result = correct_visit(self._db, self._actor, self._visit_id, self._version or 0, entry, reason,
                                           today=self._today())
            except InputRefused as refused:
                blocking = [p for p in refused.problems if not p.needs_confirmation]
                if blocking:
                    self._show_problems(blocking)
                    return False
                if confirmed or not self._confirm_critical(refused.problems):
                    self._show_problems(refused.problems, pending_confirmation=True)
                    return False
                confirmed = {p.field for p in refused.problems}
                continue
            except ConcurrentEdit as clash:
                QMessageBox.warning(self, self.tr("Saved by someone else"), str(clash))
                self._show_banner(_escape(str(clash)), "banner")
                return False
            except PermissionDenied as denied:
                QMessageBox.warning(self, self.tr("Not allowed"), str(denied))
                return False
            except DatabaseBusy as busy:  # another workstation's long import: nothing saved, the form keeps it all
                QMessageBox.warning(self, self.tr("Database busy"), str(busy))
                return False
            except ServerUnreachable as gone:  # the clinic server went away: nothing saved, the form keeps it all
                self._show_banner(_escape(str(gone)) + "<br>" + self.tr(
                    "What you typed is kept here: save again when the server is back."), "banner")
                return False
            break
        else:  # pragma: no cover - the loop always returns or breaks
            return False
        was_new = self._visit_id is None
        self.last_changes = result.changes  # what the window publishes on `saved`
        self.load_visit(result.visit_id)
        if was_new:
            text = self.tr("Visit of {date} saved for {mrn}.").format(date=entry.date.isoformat(), mrn=self._mrn)
        else:
            text = self.tr("Correction saved (version {v}); the old values stay in the record.").format(v=result.version)
        if result.out_of_range:
            text += " " + self.tr("Outside the reference range: {list}.").format(
                list="; ".join(_escape(p.message) for p in result.out_of_range))
        self._show_banner(text, "ok-banner")
        self._confirmation = self.banner_message()
        self.saved.emit(result.visit_id)
        return True

    def _confirm_critical(self, problems: list[FieldProblem]) -> bool:
        lines = "\n".join(f"•  {p.message}" for p in problems)
        answer = QMessageBox.question(
            self, self.tr("Confirm critical values"),
            self.tr("These values are possible but alarming:\n\n{lines}\n\nAre they correct as entered?").format(lines=lines),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _show_problems(self, problems: list[FieldProblem], pending_confirmation: bool = False) -> None:
        items = []
        for p in problems:
            symbol = "⚠" if p.needs_confirmation else "✖"
            items.append(f'<li>{symbol} <a href="field:{_escape(p.field)}">{_escape(p.message)}</a></li>')
            row = self.rows.get(p.field)
            if row is not None and row.editor is not None:
                set_tier(row.editor, "critical" if p.needs_confirmation else "refused")
            elif p.field == "date":
                set_tier(self.date_edit, "refused")
        head = (self.tr("Not saved: the critical values were not confirmed.") if pending_confirmation
                else self.tr("Not saved. Please correct:"))
        self._show_banner(f"<b>{head}</b><ul style='margin:2px 0 0 -20px'>{''.join(items)}</ul>",
                          "confirm-banner" if pending_confirmation else "banner")
        if problems:
            self._focus_field(f"field:{problems[0].field}")

    # ------------------------------------------------------------------------------------------
    # leaving
    # ------------------------------------------------------------------------------------------
    def _revert(self) -> None:
        if self._visit_id is not None:
            self.load_visit(self._visit_id)
        elif self._mrn is not None:
            self.load_new(self._mrn)

    def maybe_leave(self) -> bool:
        """True when the form may be left: nothing unsaved, or saved, or discarded on request."""
        if not self._dirty:
            return True
        answer = QMessageBox.question(
            self, self.tr("Unsaved visit"),
            self.tr("The visit of {mrn} has changes that are not saved. Save them before leaving?").format(
                mrn=self._mrn or ""),
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        if answer == QMessageBox.StandardButton.Discard:
            self._revert()
            return True
        return False

    def confirmation(self) -> str:
        """What the last save confirmed (saved, values out of range), as plain text; "" before."""
        return self._confirmation

    @property
    def visit_date(self) -> date | None:
        return self.date_edit.date().toPython() if self._mrn is not None else None

    # for the screenshot command and tests
    @property
    def visit_id(self) -> int | None:
        return self._visit_id

    @property
    def mrn(self) -> str | None:
        return self._mrn


def _shown(v: EnteredValue | None) -> str:
    if v is None:
        return "—"
    value = v.value
    text = fmt_number(float(value), 6) if isinstance(value, (int, float)) else str(value)
    unit = v.unit or ""
    m = MEASURES.get(v.code)
    if m is not None and unit:
        conv = m.conversion_for(unit)
        unit = conv.label if conv is not None else unit
    elif m is not None and m.kind.value == "quantity":
        unit = m.unit_label
    return f"{v.qualifier or ''}{text} {unit}".strip()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["VisitEntryForm", "PatientHeader"]
