"""The sections of the visit entry form, each a group box of rows: measures (name, value, unit,
previous value, verdict), features by diagnostic criterion, examinations, the note.

A mixin of `form_view.VisitEntryFormView` (it fills the view's `rows`, `features`,
`feature_previous`, `exams` and `note`, and connects each control to the view's `_on_changed`
callback); the view places the sections and wires the keyboard through them.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QGridLayout, QGroupBox, QLabel, QLineEdit, QPlainTextEdit

from poems_monitor.domain.catalogue import CRITERIA, EXAM_KINDS, EXAM_RESULTS, MEASURE_GROUPS, MEASURES, features_of, value_label
from poems_monitor.i18n import N_, tr
from poems_monitor.ui.entry.feature_choice import FeatureChoice
from poems_monitor.ui.entry.fields import NAME_WIDTH, PREVIOUS_WIDTH, UNIT_WIDTH, MeasureRow, previous_label

# a line under the section's rows where the catalogue alone would mislead
GROUP_NOTES = {
    "vegf": N_("Plasma and serum VEGF are different series: enter the value in the row of the specimen "
               "named on the laboratory report."),
    "monoclonal": N_("Often small or unmeasurable in POEMS: record the immunofixation result too."),
    "neuropathy": N_("ONLS total is computed from the arm and leg grades."),
}


class FormSections:
    """Builders of the form's group boxes (mixed into the view, which owns the widgets they fill)."""

    def _section(self, title: str, note: str | None = None) -> tuple[QGroupBox, QGridLayout]:
        box = QGroupBox(title)  # already in the user's language
        box.setObjectName(f"section_{title}")
        grid = QGridLayout(box)
        grid.setContentsMargins(10, 8, 10, 8)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(5)
        if note:
            label = QLabel(note)
            label.setWordWrap(True)
            label.setProperty("role", "section-note")
            grid.addWidget(label, 99, 0, 1, 5)
        return box, grid

    def _add_row(self, grid: QGridLayout, r: int, code: str) -> MeasureRow:
        """name | value | unit | previous value | verdict (the verdict column takes what is left)."""
        row = MeasureRow(code, self)
        self.rows[code] = row
        row.changed.connect(self._on_changed)
        grid.addWidget(row.name_label, r, 0)
        if row.editor is None:
            grid.addWidget(row.derived_label, r, 1, 1, 2)
        elif row.unit_widget is None:
            grid.addWidget(row.editor, r, 1, 1, 2)
        else:
            grid.addWidget(row.editor, r, 1)
            grid.addWidget(row.unit_widget, r, 2)
        grid.addWidget(row.previous, r, 3)
        grid.addWidget(row.status, r, 4)
        grid.setColumnStretch(4, 1)
        grid.setColumnMinimumWidth(0, NAME_WIDTH)
        grid.setColumnMinimumWidth(2, UNIT_WIDTH)
        grid.setColumnMinimumWidth(3, PREVIOUS_WIDTH)
        return row

    def _measure_section(self, group: str) -> QGroupBox:
        box, grid = self._section(MEASURE_GROUPS[group], tr(GROUP_NOTES[group]) if group in GROUP_NOTES else None)
        codes = [m.code for m in MEASURES.values() if m.group == group]
        for r, code in enumerate(codes):
            self._add_row(grid, r, code)
        return box

    def _neuropathy_section(self, group: str) -> QGroupBox:
        box, grid = self._section(MEASURE_GROUPS[group], tr(GROUP_NOTES[group]) if group in GROUP_NOTES else None)
        codes = [m.code for m in MEASURES.values() if m.group == group]
        for r, code in enumerate(codes):
            row = self._add_row(grid, r, code)
            if isinstance(row.editor, QComboBox):
                # the grades are long sentences: the closed box shows their start, the list all
                row.editor.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
                row.editor.setMinimumContentsLength(20)
                row.editor.view().setMinimumWidth(row.editor.view().sizeHintForColumn(0) + 24)
        return box

    def _features_sections(self) -> list[tuple[str, QGroupBox]]:
        """Features by diagnostic criterion in the criteria's numbered order, one row each:
        major criteria, minor criteria, then other features."""
        blocks = (
            (self.tr("Major criteria"), lambda c: c.number is not None and c.klass.value != "minor"),
            (self.tr("Minor criteria"), lambda c: c.number is not None and c.klass.value == "minor"),
            (self.tr("Other features"), lambda c: c.number is None),
        )
        criteria = [c for c in CRITERIA.values() if features_of(c.code)]
        out = []
        for title, belongs in blocks:
            members = [c for c in criteria if belongs(c)]
            if not members:
                continue
            box = QGroupBox(title)
            box.setObjectName(f"section_{title}")
            grid = QGridLayout(box)
            grid.setContentsMargins(10, 8, 10, 8)
            grid.setHorizontalSpacing(10)
            grid.setVerticalSpacing(4)
            r = 0
            for criterion in members:
                features = features_of(criterion.code)
                single = len(features) == 1 and features[0].name == criterion.name
                if not single:
                    number = f"{criterion.number}. " if criterion.number else ""
                    heading = QLabel(f"{number}{criterion.label}")
                    heading.setProperty("role", "criterion")
                    heading.setToolTip(tr(criterion.note) if criterion.note else value_label(criterion.klass.value))
                    grid.addWidget(heading, r, 0, 1, 3)
                    r += 1
                for feature in features:
                    choice = FeatureChoice(feature.code, box)
                    choice.changed.connect(self._on_changed)
                    choice.answered.connect(lambda c=choice: self._enter_next(c))
                    indent = "" if single or not criterion.number else "    "
                    prefix = f"{criterion.number}. " if single and criterion.number else ""
                    label = QLabel(f"{indent}{prefix}{feature.label}")
                    if single:
                        label.setProperty("role", "criterion")
                    label.setBuddy(choice)
                    if feature.derived:
                        label.setToolTip(self.tr("Also computed from the measurements; enter it when seen clinically"))
                    previous = previous_label(f"prev_{feature.code}", box)
                    grid.addWidget(label, r, 0)
                    grid.addWidget(choice, r, 1)
                    grid.addWidget(previous, r, 2)
                    self.features[feature.code] = choice
                    self.feature_previous[feature.code] = previous
                    r += 1
            grid.setColumnMinimumWidth(0, 200)
            grid.setColumnStretch(2, 1)
            out.append((title, box))
        return out

    def _exams_section(self) -> QGroupBox:
        box, grid = self._section(self.tr("Examinations done at this visit"))
        for r, kind in enumerate(EXAM_KINDS.values()):
            result = QComboBox()
            result.setObjectName(f"exam_{kind.code}")
            result.addItem(self.tr("— not done —"), None)
            for value in EXAM_RESULTS:
                result.addItem(value_label(value), value)
            result.setAccessibleName(kind.label)
            note = QLineEdit()
            note.setObjectName(f"exam_note_{kind.code}")
            note.setPlaceholderText(self.tr("finding (optional)"))
            note.setAccessibleName(self.tr("{exam} finding").format(exam=kind.label))
            result.currentIndexChanged.connect(self._on_changed)
            note.textChanged.connect(self._on_changed)
            label = QLabel(kind.label)
            label.setBuddy(result)
            grid.addWidget(label, r, 0)
            grid.addWidget(result, r, 1)
            grid.addWidget(note, r, 2)
            self.exams[kind.code] = (result, note)
        grid.setColumnStretch(2, 1)
        return box

    def _note_section(self) -> QGroupBox:
        box, grid = self._section(self.tr("Note"))
        self.note = QPlainTextEdit()
        self.note.setObjectName("visit_note")
        self.note.setTabChangesFocus(True)
        self.note.setFixedHeight(90)
        self.note.setPlaceholderText(self.tr("Anything the physician should read (Tab leaves the note)"))
        self.note.setAccessibleName(self.tr("Visit note"))
        self.note.textChanged.connect(self._on_changed)
        grid.addWidget(self.note, 0, 0)
        return box


__all__ = ["FormSections", "GROUP_NOTES"]
