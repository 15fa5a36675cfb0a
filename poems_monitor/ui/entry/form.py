"""The nurse's visit entry form: a new visit, or a correction of a saved one.

Owns the screen: sections in the order the clinic works (catalogue `MEASURE_GROUPS`, then
features by criterion, exams, note) with a list of them beside the form, one column unless two
fit whole; keyboard handling (Tab through every control, Enter to the next value, Ctrl+PgDown /
Ctrl+PgUp and Alt+digit to a section, Ctrl+S to save); the patient's previous value beside each
field; the three tiers shown as the person types, the confirmation of critical values, the
reason for a correction, the unsaved-changes question, and opening the existing visit of a
date instead of starting a duplicate.

It must not decide a limit (domain.validation) nor write a row (services.visits): it collects
an `EnteredValue` per filled field and lets the service accept or refuse the whole visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from PySide6.QtCore import QDate, QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractSpinBox, QApplication, QComboBox, QDateEdit, QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
    QLineEdit, QListWidget, QListWidgetItem, QMessageBox, QPlainTextEdit, QPushButton, QScrollArea, QSizePolicy,
    QVBoxLayout, QWidget,
)

from poems_monitor.domain.catalogue import (
    CRITERIA, EXAM_KINDS, EXAM_RESULTS, FEATURES, MEASURE_GROUPS, MEASURES, FeatureState, features_of,
)
from poems_monitor.domain.timeline import ExamRecord
from poems_monitor.persistence.db import Database, DatabaseBusy
from poems_monitor.services.access import Actor, PermissionDenied
from poems_monitor.services.changes import NO_CHANGES, Changes
from poems_monitor.services.errors import ConcurrentEdit, FieldProblem, InputRefused
from poems_monitor.services.history import Change, newest_entry_of_patient, visit_changes_since
from poems_monitor.services.patients import patient_of_visit, stored_patient
from poems_monitor.services.visits import (
    EnteredValue, LastRecorded, VisitInput, correct_visit, last_recorded, open_visit, record_visit, visit_on,
)
from poems_monitor.ui.entry.feature_choice import FeatureChoice
from poems_monitor.ui.entry.fields import (
    NAME_WIDTH, PREVIOUS_WIDTH, UNIT_WIDTH, MeasureRow, fmt_number, previous_label, show_previous,
)
from poems_monitor.ui.entry.marks import mark_style, set_tier
from poems_monitor.ui.entry.reason import ReasonDialog
from poems_monitor.ui.entry.input_guard import guard_alt_typing, guard_wheel

# Where each measure group sits: two columns of measure sections, then full-width sections.
# The measure sections go side by side only where both columns fit whole (name, value, unit,
# previous value) with room for a verdict of some words; below that, one column: nothing is
# ever clipped (at 1366x768 and 1920x1080 with the patient list open: one column).
VERDICT_ROOM = 120
LEFT_GROUPS = ("vitals", "hematology", "vegf", "monoclonal", "chemistry")
RIGHT_GROUPS = ("endocrine", "pft", "echo")
WIDE_GROUPS = ("neuropathy",)
_GROUP_NOTES = {
    "vegf": "Plasma and serum VEGF are different series: enter the value in the row of the specimen "
            "named on the laboratory report.",
    "monoclonal": "Often small or unmeasurable in POEMS: record the immunofixation result too.",
    "neuropathy": "ONLS total is computed from the arm and leg grades.",
}


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


class VisitEntryForm(QWidget):
    """Enter a new visit (`load_new(mrn)`) or correct a saved one (`load_visit(visit_id)`)."""

    saved = Signal(int)
    dirtyChanged = Signal(bool)

    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None, *, today: date | None = None):
        super().__init__(parent)
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
        self.rows: dict[str, MeasureRow] = {}
        self.features: dict[str, FeatureChoice] = {}
        self.feature_previous: dict[str, QLabel] = {}
        self._previous: dict[str, LastRecorded] = {}
        self.exams: dict[str, tuple[QComboBox, QLineEdit]] = {}
        self._enter_chain: list[QWidget] = []
        self._confirmation = ""
        self.setObjectName("visit_entry_form")
        self.setStyleSheet(mark_style() + _FORM_STYLE)
        self._build()
        self._set_enabled(False)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)

    # ------------------------------------------------------------------------------------------
    # building
    # ------------------------------------------------------------------------------------------
    def _today(self) -> date:
        return self._today_fixed or date.today()

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 10, 12, 10)
        outer.setSpacing(8)

        # header: who, which visit, when; save
        head = QHBoxLayout()
        head.setSpacing(12)
        titles = QVBoxLayout()
        titles.setSpacing(2)
        self.title = QLabel(self.tr("No patient selected"))
        self.title.setObjectName("entry_title")
        self.subtitle = QLabel("")
        self.subtitle.setObjectName("entry_subtitle")
        self.subtitle.setProperty("role", "hint")
        for label in (self.title, self.subtitle):  # a long name must not widen the form past the window
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            label.setMinimumWidth(160)
        titles.addWidget(self.title)
        titles.addWidget(self.subtitle)
        head.addLayout(titles, 1)
        self.date_edit = QDateEdit()
        self.date_edit.setObjectName("visit_date")
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons)
        self.date_edit.setAccessibleName(self.tr("Visit date"))
        self.date_edit.dateChanged.connect(self._on_changed)
        self.date_edit.dateChanged.connect(self._check_existing_visit)
        date_label = QLabel(self.tr("Visit &date"))
        date_label.setBuddy(self.date_edit)
        head.addWidget(date_label)
        head.addWidget(self.date_edit)
        self.summary = QLabel("")
        self.summary.setObjectName("entry_summary")
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        titles.addWidget(self.summary)  # what the visit holds so far, under who the patient is
        self.revert_button = QPushButton(self.tr("Revert"))
        self.revert_button.setObjectName("revert_button")
        self.revert_button.setToolTip(self.tr("Throw away the changes not yet saved"))
        self.revert_button.clicked.connect(self._revert)
        self.revert_button.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.save_button = QPushButton(self.tr("Save visit"))
        self.save_button.setObjectName("save_button")
        self.save_button.setDefault(False)
        self.save_button.setAutoDefault(False)
        self.save_button.setToolTip(self.tr("Save (Ctrl+S)"))
        self.save_button.clicked.connect(self.save)
        self.save_button.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        head.addWidget(self.revert_button)
        head.addWidget(self.save_button)
        outer.addLayout(head)

        # banner: what stops the save, or what was saved (stays until the next edit)
        self.banner = QFrame()
        self.banner.setObjectName("entry_banner")
        self.banner.setProperty("role", "banner")
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(10, 6, 10, 6)
        self.banner_text = QLabel("")
        self.banner_text.setObjectName("banner_text")
        self.banner_text.setWordWrap(True)
        self.banner_text.setTextFormat(Qt.TextFormat.RichText)
        self.banner_text.linkActivated.connect(self._on_banner_link)
        self.banner_text.setAccessibleName(self.tr("Messages"))
        banner_layout.addWidget(self.banner_text)
        self.banner.setVisible(False)
        outer.addWidget(self.banner)

        # the list of sections beside the scrolled sections
        self.section_list = QListWidget()
        self.section_list.setObjectName("entry_sections")
        self.section_list.setAccessibleName(self.tr("Sections of the visit"))
        self.section_list.setToolTip(self.tr("Jump to a section: Ctrl+PgDown / Ctrl+PgUp, or Alt+1 … Alt+9"))
        self.section_list.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.section_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.section_list.itemActivated.connect(lambda item: self.jump_to_section(self.section_list.row(item)))
        self.section_list.itemClicked.connect(lambda item: self.jump_to_section(self.section_list.row(item)))
        self.scroll = QScrollArea()
        self.scroll.setObjectName("entry_scroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.verticalScrollBar().valueChanged.connect(self._follow_scroll)
        body = QWidget()
        body.setObjectName("entry_body")
        self.body = body
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 4, 0)
        column.setSpacing(10)
        # measure sections: one column, or two when the form is wide (see _reflow)
        self._columns = QHBoxLayout()
        self._columns.setSpacing(14)
        self._left, self._right = QVBoxLayout(), QVBoxLayout()
        for side in (self._left, self._right):
            side.setSpacing(10)
            side.addStretch(1)
            self._columns.addLayout(side, 1)
        column.addLayout(self._columns)
        self._two_columns: bool | None = None
        self._sections: list[tuple[str, QGroupBox]] = []
        self._measure_boxes: dict[str, QGroupBox] = {}
        for group in LEFT_GROUPS + RIGHT_GROUPS:
            box = self._measure_section(group)
            self._measure_boxes[group] = box
            self._sections.append((MEASURE_GROUPS[group], box))
        for group in WIDE_GROUPS:
            box = self._neuropathy_section(group)
            column.addWidget(box)
            self._sections.append((MEASURE_GROUPS[group], box))
        for title, box in self._features_sections():
            column.addWidget(box)
            self._sections.append((title, box))
        exams = self._exams_section()
        column.addWidget(exams)
        self._sections.append((self.tr("Examinations"), exams))
        note = self._note_section()
        column.addWidget(note)
        self._sections.append((self.tr("Note"), note))
        column.addStretch(1)
        self._reflow(two_columns=False)
        self.scroll.setWidget(body)
        self.scroll.viewport().installEventFilter(self)
        for number, (title, _box) in enumerate(self._sections, start=1):
            prefix = f"{number}  " if number <= 9 else "    "
            self.section_list.addItem(QListWidgetItem(prefix + title))
        width = max(self.section_list.fontMetrics().horizontalAdvance(self.section_list.item(i).text())
                    for i in range(self.section_list.count()))
        self.section_list.setFixedWidth(min(width + 24, 176))
        middle = QHBoxLayout()
        middle.setSpacing(8)
        middle.addWidget(self.section_list)
        middle.addWidget(self.scroll, 1)
        outer.addLayout(middle, 1)

        self._wire_keyboard()
        guard_wheel(self, self.scroll)
        guard_alt_typing(self)

    def _section(self, title: str, note: str | None = None) -> tuple[QGroupBox, QGridLayout]:
        box = QGroupBox(self.tr(title))
        box.setObjectName(f"section_{title}")
        grid = QGridLayout(box)
        grid.setContentsMargins(10, 8, 10, 8)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(5)
        if note:
            label = QLabel(self.tr(note))
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
        box, grid = self._section(MEASURE_GROUPS[group], _GROUP_NOTES.get(group))
        codes = [m.code for m in MEASURES.values() if m.group == group]
        for r, code in enumerate(codes):
            self._add_row(grid, r, code)
        return box

    def _neuropathy_section(self, group: str) -> QGroupBox:
        box, grid = self._section(MEASURE_GROUPS[group], _GROUP_NOTES.get(group))
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
                    heading = QLabel(f"{number}{criterion.name}")
                    heading.setProperty("role", "criterion")
                    heading.setToolTip(criterion.note or criterion.klass.value)
                    grid.addWidget(heading, r, 0, 1, 3)
                    r += 1
                for feature in features:
                    choice = FeatureChoice(feature.code, box)
                    choice.changed.connect(self._on_changed)
                    choice.answered.connect(lambda c=choice: self._enter_next(c))
                    indent = "" if single or not criterion.number else "    "
                    prefix = f"{criterion.number}. " if single and criterion.number else ""
                    label = QLabel(f"{indent}{prefix}{feature.name}")
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
        box, grid = self._section("Examinations done at this visit")
        for r, kind in enumerate(EXAM_KINDS.values()):
            result = QComboBox()
            result.setObjectName(f"exam_{kind.code}")
            result.addItem(self.tr("— not done —"), None)
            for value in EXAM_RESULTS:
                result.addItem(self.tr(value), value)
            result.setAccessibleName(kind.name)
            note = QLineEdit()
            note.setObjectName(f"exam_note_{kind.code}")
            note.setPlaceholderText(self.tr("finding (optional)"))
            note.setAccessibleName(self.tr("{exam} finding").format(exam=kind.name))
            result.currentIndexChanged.connect(self._on_changed)
            note.textChanged.connect(self._on_changed)
            label = QLabel(kind.name)
            label.setBuddy(result)
            grid.addWidget(label, r, 0)
            grid.addWidget(result, r, 1)
            grid.addWidget(note, r, 2)
            self.exams[kind.code] = (result, note)
        grid.setColumnStretch(2, 1)
        return box

    def _note_section(self) -> QGroupBox:
        box, grid = self._section("Note")
        self.note = QPlainTextEdit()
        self.note.setObjectName("visit_note")
        self.note.setTabChangesFocus(True)
        self.note.setFixedHeight(90)
        self.note.setPlaceholderText(self.tr("Anything the physician should read (Tab leaves the note)"))
        self.note.setAccessibleName(self.tr("Visit note"))
        self.note.textChanged.connect(self._on_changed)
        grid.addWidget(self.note, 0, 0)
        return box

    def _two_columns_from(self) -> int:
        widest = max(box.minimumSizeHint().width() for box in self._measure_boxes.values())
        return 2 * (widest + VERDICT_ROOM) + self._columns.spacing()

    def _reflow(self, two_columns: bool) -> None:
        """Measure sections in one column (narrow windows: nothing clipped at 1366x768) or in two."""
        if two_columns == self._two_columns:
            return
        self._two_columns = two_columns
        for box in self._measure_boxes.values():
            for side in (self._left, self._right):
                side.removeWidget(box)
        for group in LEFT_GROUPS + RIGHT_GROUPS:
            side = self._right if two_columns and group in RIGHT_GROUPS else self._left
            side.insertWidget(side.count() - 1, self._measure_boxes[group])  # before the stretch
        self._columns.setStretch(1, 1 if two_columns else 0)

    def _wire_keyboard(self) -> None:
        """Tab visits every control in reading order; Enter jumps to the next value field;
        Ctrl+PgDown / Ctrl+PgUp and Alt+1 … Alt+9 jump between sections."""
        tab: list[QWidget] = [self.date_edit]
        enter: list[QWidget] = [self.date_edit]
        for group in LEFT_GROUPS + RIGHT_GROUPS + WIDE_GROUPS:
            for code in (m.code for m in MEASURES.values() if m.group == group):
                row = self.rows[code]
                if row.editor is None:
                    continue
                tab.append(row.editor)
                enter.append(row.editor)
                if row.unit_combo is not None:
                    tab.append(row.unit_combo)
        for choice in self.features.values():
            tab.append(choice)
            enter.append(choice)
        for result, note in self.exams.values():
            tab += [result, note]
            enter += [result, note]
        tab.append(self.note)
        enter.append(self.note)
        for a, b in zip(tab, tab[1:]):
            QWidget.setTabOrder(a, b)
        self._enter_chain = enter
        for w in set(tab):
            w.installEventFilter(self)
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        QShortcut(QKeySequence("Ctrl+PgDown"), self, lambda: self.jump_section(+1), context=context)
        QShortcut(QKeySequence("Ctrl+PgUp"), self, lambda: self.jump_section(-1), context=context)
        for number in range(1, min(len(self._sections), 9) + 1):
            QShortcut(QKeySequence(f"Alt+{number}"), self, lambda n=number: self.jump_to_section(n - 1), context=context)

    # ------------------------------------------------------------------------------------------
    # sections
    # ------------------------------------------------------------------------------------------
    def section_titles(self) -> list[str]:
        return [title for title, _box in self._sections]

    def current_section(self) -> int:
        """The section holding the focus, else the one at the top of the view."""
        focus = QApplication.focusWidget()
        for index, (_title, box) in enumerate(self._sections):
            if focus is not None and box.isAncestorOf(focus):
                return index
        return self._section_at_top()

    def _section_at_top(self) -> int:
        top = self.scroll.verticalScrollBar().value()
        best = 0
        for index, (_title, box) in enumerate(self._sections):
            if box.isVisible() and box.mapTo(self.body, box.rect().topLeft()).y() <= top + 24:
                best = index
        return best

    def jump_section(self, step: int) -> None:
        self.jump_to_section(max(0, min(len(self._sections) - 1, self.current_section() + step)))

    def jump_to_section(self, index: int) -> None:
        """Scroll section `index` to the top and put the focus on its first field."""
        if not 0 <= index < len(self._sections) or not self.body.isEnabled():
            return
        _title, box = self._sections[index]
        target = next((w for w in self._enter_chain if box.isAncestorOf(w)), None)
        self.scroll.verticalScrollBar().setValue(box.mapTo(self.body, box.rect().topLeft()).y() - 4)
        if target is not None:
            target.setFocus(Qt.FocusReason.ShortcutFocusReason)
            if isinstance(target, QLineEdit):
                target.selectAll()
        self._select_section(index)

    def _select_section(self, index: int) -> None:
        self.section_list.blockSignals(True)
        self.section_list.setCurrentRow(index)
        self.section_list.blockSignals(False)

    def _follow_scroll(self, _value: int) -> None:
        self._select_section(self.current_section())

    # ------------------------------------------------------------------------------------------
    # keyboard
    # ------------------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Resize and watched is self.scroll.viewport():
            self._reflow(two_columns=event.size().width() >= self._two_columns_from())
            return False
        if event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) \
                and not (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier) and watched is not self.note:
            self._enter_next(watched)
            return True
        return super().eventFilter(watched, event)

    def _enter_next(self, current: QObject) -> None:
        chain = self._enter_chain
        if current in chain:
            index = chain.index(current)
        else:  # a unit chooser: continue with the value after its row
            index = next((chain.index(r.editor) for r in self.rows.values() if r.unit_combo is current), -1)
        if 0 <= index < len(chain) - 1:
            target = chain[index + 1]
            target.setFocus(Qt.FocusReason.TabFocusReason)
            self.scroll.ensureWidgetVisible(target, 40, 60)
            if isinstance(target, QLineEdit):
                target.selectAll()

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

    def _focus_field(self, link: str) -> None:
        code = link.split(":", 1)[-1]
        target: QWidget | None = None
        if code == "date":
            target = self.date_edit
        elif code in self.rows:
            target = self.rows[code].editor or None
        elif code in self.features:
            target = self.features[code]
        elif code in self.exams:
            target = self.exams[code][0]
        if target is not None:
            self.scroll.ensureWidgetVisible(target, 40, 60)
            target.setFocus(Qt.FocusReason.OtherFocusReason)

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
            facts = [header.mrn, header.sex]
            if age is not None:
                facts.append(self.tr("{n} years").format(n=age))
            self.subtitle.setText(" · ".join(facts))
            self.date_edit.setMaximumDate(QDate(self._today()))
            if header.birth_date:
                self.date_edit.setMinimumDate(QDate(header.birth_date))
            self.date_edit.setDate(QDate(day))
            by_code = {v.code: v for v in values}
            self._baseline_values = by_code
            self._previous = last_recorded(self._db, header.mrn, day)
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

    def _set_enabled(self, enabled: bool) -> None:
        self.body.setEnabled(enabled)
        self.date_edit.setEnabled(enabled)
        self.save_button.setEnabled(enabled)
        self.revert_button.setEnabled(enabled)

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
        for code, row in self.rows.items():
            m = row.measure
            if not m.derived_from:
                continue
            parts = [self.rows[c].typed() for c in m.derived_from]
            if all(p is not None for p in parts):
                values = [int(p[0]) for p in parts]  # type: ignore[index]
                names = " + ".join(f"{self.rows[c].measure.name.split()[-1]} {v}" for c, v in zip(m.derived_from, values))
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
                out.append(f"{row.measure.name}: {old_text} → {new_text}")
        base = self._baseline
        if base is not None:
            if base[0] != self.date_edit.date().toPython():
                out.append(self.tr("Visit date: {a} → {b}").format(a=base[0], b=self.date_edit.date().toPython()))
            for (code, c), old_state in zip(self.features.items(), base[2]):
                if c.state() != old_state:
                    out.append(f"{FEATURES[code].name}: {old_state} → {c.state()}")
            for (kind, (r, n)), old in zip(self.exams.items(), base[3]):
                if (r.currentData(), n.text().strip()) != old:
                    out.append(f"{EXAM_KINDS[kind].name}: {old[0] or '—'} → {r.currentData() or '—'}")
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

    def _show_banner(self, html: str, role: str) -> None:
        self.banner.setProperty("role", role)
        self.banner.style().unpolish(self.banner)
        self.banner.style().polish(self.banner)
        self.banner_text.setText(html)
        self.banner.setVisible(True)

    def _hide_banner(self) -> None:
        self.banner.setVisible(False)
        self.banner_text.clear()
        set_tier(self.date_edit, None)

    def banner_message(self) -> str:
        """The banner as plain text (what the person reads), empty when hidden."""
        if not self.banner.isVisible() and not self.banner_text.text():
            return ""
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.banner_text.text())
        return doc.toPlainText()

    # ------------------------------------------------------------------------------------------
    # saved meanwhile on another workstation (a clinic server: ui.live_listener)
    # ------------------------------------------------------------------------------------------
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
        items = "".join(f"<li>{_escape(_elsewhere_line(c))}</li>" for c in shown)
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


_ELSEWHERE_LINES = 6  # changes listed in the banner; the rest are in the patient's history


def _elsewhere_line(c: Change) -> str:
    """"ann corrected Platelets, visit 2026-01-05: 300 → 320" (who, what, old and new)."""
    values = f"{c.old} → {c.new}" if c.old else c.new
    return f"{c.user} {c.action} {c.subject}" + (f": {values}" if values else "")


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


_FORM_STYLE = """
QLabel#entry_title { font-size: 16pt; font-weight: 600; }
QGroupBox { font-weight: 600; border: 1px solid palette(mid); border-radius: 6px; margin-top: 12px; padding-top: 6px;
            background: palette(base); }
QGroupBox::title { subcontrol-origin: margin; left: 10px; padding: 0 4px; }
QGroupBox QLabel, QGroupBox QComboBox, QGroupBox QLineEdit, QGroupBox QPlainTextEdit { font-weight: normal; }
QLabel[role="criterion"] { font-weight: 600; }
QPushButton#save_button { font-weight: 600; padding: 5px 16px; }
"""

__all__ = ["VisitEntryForm", "PatientHeader"]
