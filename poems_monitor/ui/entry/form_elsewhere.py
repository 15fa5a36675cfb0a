"""A visit open in the entry form that another workstation saved meanwhile (a clinic server:
`ui.live_listener` offers every announcement to the open forms).

Owns telling who changed what, reloading the visit as saved now with what was typed put back
on top, and offering to keep editing (the save is then refused by the version check). Part of
`VisitEntryForm` (a mixin, as `FormSections`): it works on the form's widgets and state.
"""

from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QComboBox

from poems_monitor.services.changes import Changes
from poems_monitor.services.history import Change, visit_changes_since
from poems_monitor.services.visits import visit_on


class ChangedElsewhere:
    """`changed_elsewhere(changes)` and `reload_keeping_typed()` for the visit entry form."""

    def changed_elsewhere(self, changes: Changes) -> None:
        """Another workstation saved `changes`. When they concern the visit open here (the
        patient's audit entries about its date since the form was loaded): without unsaved edits
        the form reloads; with them it says who changed what and offers to reload keeping what was
        typed, or to keep editing (the save is then refused by the version check, with its sentence)."""
        if self._mrn is None or self._baseline is None or not changes.patient_changed(self._mrn):
            return
        self._audit_mark, news = visit_changes_since(self._db, self._mrn, self._audit_mark, self._baseline[0])
        if not news:
            return
        shown = news[:_ELSEWHERE_LINES]
        items = "".join(f"<li>{escape(_elsewhere_line(c), quote=False)}</li>" for c in shown)
        if len(news) > len(shown):
            items += "<li>" + self.tr("and {n} more (Patient › History)").format(n=len(news) - len(shown)) + "</li>"
        listed = f"<ul style='margin:2px 0 0 -20px'>{items}</ul>"
        if not self._dirty:
            self.reload_keeping_typed()
            self._show_banner("<b>" + self.tr("Saved meanwhile on another workstation; the form shows it now:")
                              + "</b>" + listed, "ok-banner")
            return
        self._show_banner(
            "<b>" + self.tr("Changed meanwhile on another workstation:") + "</b>" + listed
            + '<a href="elsewhere:reload">' + self.tr("Reload, keeping what you typed") + "</a> · "
            + '<a href="elsewhere:keep">' + self.tr("Keep editing") + "</a> "
            + self.tr("(saving without reloading will be refused: the visit is no longer the one you opened)"),
            "confirm-banner")

    def reload_keeping_typed(self) -> None:
        """Load the visit as saved now (a new visit: the one saved meanwhile on its date, if any)
        and put back on top of it every field typed since the form was loaded."""
        if self._mrn is None or self._baseline is None:
            return
        edits, scrolled = self._typed_edits(), self.scroll.verticalScrollBar().value()
        if self._visit_id is not None:
            self.load_visit(self._visit_id)
        else:
            existing = visit_on(self._db, self._mrn, self._baseline[0])
            if existing is None:
                return  # nothing saved on this date: the form is still a new visit as typed
            self.load_visit(existing)
        self._apply_edits(edits)
        self.scroll.verticalScrollBar().setValue(scrolled)  # the nurse stays where she was typing

    def _typed_edits(self) -> dict:
        """What was typed since loading, widget by widget (as typed, even if not yet valid)."""
        base = self._baseline
        assert base is not None

        def widget_state(widget) -> object:  # noqa: ANN001
            return widget.currentIndex() if isinstance(widget, QComboBox) else widget.text()

        edits: dict = {"rows": {}, "features": {}, "exams": {}}
        if self.date_edit.date().toPython() != base[0]:
            edits["date"] = self.date_edit.date()
        for (code, row), old in zip(self.rows.items(), base[1], strict=True):
            if row.editor is not None and row.state_key() != old:
                edits["rows"][code] = (widget_state(row.editor),
                                       row.unit_combo.currentIndex() if row.unit_combo is not None else None)
        for (code, choice), old in zip(self.features.items(), base[2], strict=True):
            if choice.state() != old:
                edits["features"][code] = choice.state()
        for (kind, (result, note)), old in zip(self.exams.items(), base[3], strict=True):
            if (result.currentData(), note.text().strip()) != old:
                edits["exams"][kind] = (result.currentIndex(), note.text())
        if self.note.toPlainText().strip() != base[4]:
            edits["note"] = self.note.toPlainText()
        return edits

    def _apply_edits(self, edits: dict) -> None:
        if "date" in edits:
            self.date_edit.setDate(edits["date"])
        for code, (typed, unit_index) in edits["rows"].items():
            row = self.rows[code]
            if row.unit_combo is not None and unit_index is not None:
                row.unit_combo.setCurrentIndex(unit_index)
            if isinstance(row.editor, QComboBox):
                row.editor.setCurrentIndex(typed)
            else:
                row.editor.setText(typed)
        for code, state in edits["features"].items():
            self.features[code].set_state(state)
        for kind, (index, text) in edits["exams"].items():
            result, note = self.exams[kind]
            result.setCurrentIndex(index)
            note.setText(text)
        if "note" in edits:
            self.note.setPlainText(edits["note"])
        self._on_changed()


_ELSEWHERE_LINES = 6  # changes listed in the banner; the rest are in the patient's history


def _elsewhere_line(c: Change) -> str:
    """"ann corrected Platelets, visit 2026-01-05: 300 → 320" (who, what, old and new)."""
    values = f"{c.old} → {c.new}" if c.old else c.new
    return f"{c.user} {c.action} {c.subject}" + (f": {values}" if values else "")
