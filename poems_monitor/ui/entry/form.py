"""The nurse's visit entry form: a new visit, or a correction of a saved one.

Owns the screen: sections in the order the clinic works (catalogue `MEASURE_GROUPS`, then
features by criterion, exams, note), keyboard handling (Tab through every control, Enter to the
next value, Ctrl+S to save), the three tiers shown as the person types, the confirmation of
critical values, the reason for a correction, and the unsaved-changes question.

It must not decide a limit (domain.validation) nor write a row (services.visits): it collects
an `EnteredValue` per filled field and lets the service accept or refuse the whole visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from PySide6.QtCore import QDate, QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractSpinBox, QComboBox, QDateEdit, QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QMessageBox, QPlainTextEdit, QPushButton, QScrollArea, QVBoxLayout, QWidget,
)
from sqlalchemy import select

from poems_monitor.domain.catalogue import (
    CRITERIA, EXAM_KINDS, EXAM_RESULTS, FEATURES, MEASURE_GROUPS, MEASURES, FeatureState, features_of,
)
from poems_monitor.domain.timeline import ExamRecord
from poems_monitor.models import Patient, Visit
from poems_monitor.persistence.db import Database, DatabaseBusy
from poems_monitor.services.access import Actor, PermissionDenied
from poems_monitor.services.errors import ConcurrentEdit, FieldProblem, InputRefused
from poems_monitor.services.visits import EnteredValue, VisitInput, correct_visit, open_visit, record_visit
from poems_monitor.ui.entry.fields import MeasureRow, fmt_number
from poems_monitor.ui.entry.marks import mark_style, set_tier
from poems_monitor.ui.entry.reason import ReasonDialog

# Where each measure group sits: two columns of measure sections, then full-width sections.
LEFT_GROUPS = ("vitals", "hematology", "vegf", "monoclonal", "chemistry")
RIGHT_GROUPS = ("endocrine", "pft", "echo")
WIDE_GROUPS = ("neuropathy",)
_GROUP_NOTES = {
    "vegf": "Plasma and serum VEGF are different series: enter the value in the row of the specimen "
            "named on the laboratory report.",
    "monoclonal": "Often small or unmeasurable in POEMS: record the immunofixation result too.",
    "neuropathy": "ONLS total is computed from the arm and leg grades.",
}
_FEATURE_CHOICES = (
    (FeatureState.UNKNOWN.value, "not recorded"),
    (FeatureState.PRESENT.value, "present"),
    (FeatureState.ABSENT.value, "absent"),
)


@dataclass(frozen=True)
class PatientHeader:
    mrn: str
    name: str
    sex: str
    birth_date: date | None


def _patient_header(db: Database, mrn: str | None = None, visit_id: int | None = None) -> PatientHeader:
    """The few patient facts the form shows and validates against (one short read)."""
    P, V = Patient.__table__, Visit.__table__
    query = select(P.c.mrn, P.c.name, P.c.sex, P.c.birth_date)
    if visit_id is not None:
        query = query.join(V, V.c.patient_id == P.c.id).where(V.c.id == visit_id)
    else:
        query = query.where(P.c.mrn == mrn)
    with db.read() as session:
        row = session.execute(query).first()
    if row is None:
        raise KeyError(mrn if visit_id is None else visit_id)
    return PatientHeader(row.mrn, row.name, row.sex, row.birth_date)


def _age(birth: date | None, on: date) -> int | None:
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


class _FeatureChoice(QComboBox):
    def __init__(self, code: str, parent: QWidget):
        super().__init__(parent)
        self.code = code
        self.setObjectName(f"feature_{code}")
        for value, text in _FEATURE_CHOICES:
            self.addItem(self.tr(text), value)
        self.setAccessibleName(FEATURES[code].name)
        self.currentIndexChanged.connect(self._mark)

    def state(self) -> str:
        return self.currentData()

    def set_state(self, state: str) -> None:
        index = self.findData(state)
        self.setCurrentIndex(index if index >= 0 else 0)

    def _mark(self) -> None:
        font = self.font()
        font.setBold(self.state() == FeatureState.PRESENT.value)
        self.setFont(font)


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
        self.rows: dict[str, MeasureRow] = {}
        self.features: dict[str, _FeatureChoice] = {}
        self.exams: dict[str, tuple[QComboBox, QLineEdit]] = {}
        self._enter_chain: list[QWidget] = []
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
        date_label = QLabel(self.tr("Visit &date"))
        date_label.setBuddy(self.date_edit)
        head.addWidget(date_label)
        head.addWidget(self.date_edit)
        self.summary = QLabel("")
        self.summary.setObjectName("entry_summary")
        head.addWidget(self.summary)
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

        # banner: what stops the save, or what was saved
        self.banner = QFrame()
        self.banner.setObjectName("entry_banner")
        self.banner.setProperty("role", "banner")
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(10, 6, 10, 6)
        self.banner_text = QLabel("")
        self.banner_text.setObjectName("banner_text")
        self.banner_text.setWordWrap(True)
        self.banner_text.setTextFormat(Qt.TextFormat.RichText)
        self.banner_text.linkActivated.connect(self._focus_field)
        self.banner_text.setAccessibleName(self.tr("Messages"))
        banner_layout.addWidget(self.banner_text)
        self.banner.setVisible(False)
        outer.addWidget(self.banner)

        # the sections, scrolled
        self.scroll = QScrollArea()
        self.scroll.setObjectName("entry_scroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        body.setObjectName("entry_body")
        self.body = body
        grid = QGridLayout(body)
        grid.setContentsMargins(0, 0, 4, 0)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(10)
        left, right = QVBoxLayout(), QVBoxLayout()
        for column, groups in ((left, LEFT_GROUPS), (right, RIGHT_GROUPS)):
            column.setSpacing(10)
            for group in groups:
                column.addWidget(self._measure_section(group))
            column.addStretch(1)
        grid.addLayout(left, 0, 0)
        grid.addLayout(right, 0, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        row = 1
        for group in WIDE_GROUPS:
            grid.addWidget(self._neuropathy_section(group), row, 0, 1, 2)
            row += 1
        grid.addWidget(self._features_section(), row, 0, 1, 2)
        row += 1
        grid.addWidget(self._exams_section(), row, 0)
        grid.addWidget(self._note_section(), row, 1)
        grid.setRowStretch(row + 1, 1)
        self.scroll.setWidget(body)
        outer.addWidget(self.scroll, 1)

        self._wire_keyboard()

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
            grid.addWidget(label, 99, 0, 1, 4)
        return box, grid

    def _add_row(self, grid: QGridLayout, r: int, code: str, wide: bool = False) -> MeasureRow:
        row = MeasureRow(code, self)
        self.rows[code] = row
        row.changed.connect(self._on_changed)
        grid.addWidget(row.name_label, r, 0)
        if row.editor is None:
            grid.addWidget(row.derived_label, r, 1, 1, 2)
        elif wide and row.unit_widget is not None:
            pair = QHBoxLayout()
            pair.setSpacing(8)
            pair.addWidget(row.editor)
            pair.addWidget(row.unit_widget)
            pair.addStretch(1)
            grid.addLayout(pair, r, 1, 1, 2)
        elif row.unit_widget is None:
            grid.addWidget(row.editor, r, 1, 1, 2)
        else:
            grid.addWidget(row.editor, r, 1)
            grid.addWidget(row.unit_widget, r, 2)
        grid.addWidget(row.status, r, 3)
        grid.setColumnStretch(3, 1)
        grid.setColumnMinimumWidth(0, 150)
        grid.setColumnMinimumWidth(2, 104)
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
            row = self._add_row(grid, r, code, wide=True)
            if isinstance(row.editor, QComboBox):
                row.editor.setMinimumWidth(440)
        grid.setColumnStretch(3, 1)
        return box

    def _features_section(self) -> QGroupBox:
        box = QGroupBox(self.tr("Features (present / absent / not recorded), by diagnostic criterion"))
        box.setObjectName("section_features")
        grid = QGridLayout(box)
        grid.setContentsMargins(10, 8, 10, 8)
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(8)
        columns = 4
        criteria = [c for c in CRITERIA.values() if features_of(c.code)]
        # Column-major, balanced: criteria stay in their numbered order down each column.
        total = sum(len(features_of(c.code)) + 1 for c in criteria)
        target = -(-total // columns)
        column_boxes = [QVBoxLayout() for _ in range(columns)]
        column, height = 0, 0
        for criterion in criteria:
            size = len(features_of(criterion.code)) + 1
            if height and height + size > target + 1 and column < columns - 1:
                column, height = column + 1, 0
            height += size
            cell = QWidget()
            cell_grid = QGridLayout(cell)
            cell_grid.setContentsMargins(0, 0, 0, 6)
            cell_grid.setVerticalSpacing(3)
            number = f"{criterion.number}. " if criterion.number else ""
            title = QLabel(f"{number}{criterion.name}")
            title.setProperty("role", "criterion")
            title.setToolTip(criterion.note or criterion.klass.value)
            cell_grid.addWidget(title, 0, 0, 1, 2)
            for r, feature in enumerate(features_of(criterion.code), start=1):
                choice = _FeatureChoice(feature.code, cell)
                choice.currentIndexChanged.connect(self._on_changed)
                label = QLabel(feature.name)
                label.setBuddy(choice)
                if feature.derived:
                    label.setToolTip(self.tr("Also computed from the measurements; enter it when seen clinically"))
                cell_grid.addWidget(label, r, 0)
                cell_grid.addWidget(choice, r, 1)
                self.features[feature.code] = choice
            cell_grid.setColumnStretch(0, 1)
            column_boxes[column].addWidget(cell)
        for c, box_layout in enumerate(column_boxes):
            box_layout.addStretch(1)
            grid.addLayout(box_layout, 0, c)
            grid.setColumnStretch(c, 1)
        return box

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
        self.note.setPlaceholderText(self.tr("Anything the physician should read (Tab leaves the note)"))
        self.note.setAccessibleName(self.tr("Visit note"))
        self.note.textChanged.connect(self._on_changed)
        grid.addWidget(self.note, 0, 0)
        return box

    def _wire_keyboard(self) -> None:
        """Tab visits every control in reading order; Enter jumps to the next value field."""
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

    # ------------------------------------------------------------------------------------------
    # keyboard
    # ------------------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
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
        """An empty visit dated today for the patient `mrn`."""
        header = _patient_header(self._db, mrn=mrn)
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
        self.load_visit(result.visit_id)
        if was_new:
            text = self.tr("Visit of {date} saved for {mrn}.").format(date=entry.date.isoformat(), mrn=self._mrn)
        else:
            text = self.tr("Correction saved (version {v}); the old values stay in the record.").format(v=result.version)
        if result.out_of_range:
            text += " " + self.tr("Outside the reference range: {list}.").format(
                list="; ".join(_escape(p.message) for p in result.out_of_range))
        self._show_banner(text, "ok-banner")
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


_FORM_STYLE = """
QLabel#entry_title { font-size: 16pt; font-weight: 600; }
QLabel#entry_summary { padding: 0 8px; }
QGroupBox { font-weight: 600; border: 1px solid palette(mid); border-radius: 6px; margin-top: 12px; padding-top: 6px;
            background: palette(base); }
QGroupBox::title { subcontrol-origin: margin; left: 10px; padding: 0 4px; }
QGroupBox QLabel, QGroupBox QComboBox, QGroupBox QLineEdit, QGroupBox QPlainTextEdit { font-weight: normal; }
QLabel[role="criterion"] { font-weight: 600; }
QPushButton#save_button { font-weight: 600; padding: 5px 16px; }
"""

__all__ = ["VisitEntryForm", "PatientHeader"]
