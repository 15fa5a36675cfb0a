"""The visit entry form's layout: the widget tree and how the keyboard moves through it.

Owns what the nurse sees and how focus travels: the header (who, which visit, the date, Revert
and Save), the message banner, the sections in the order the clinic works (catalogue
`MEASURE_GROUPS`, then features by criterion, exams, note) with a list of them beside the form,
one column unless two fit whole; Tab through every control, Enter to the next value,
Ctrl+PgDown / Ctrl+PgUp and Alt+digit to a section.

What happens when something is typed, saved or left is the controller's (`form.VisitEntryForm`,
which subclasses this view): the view connects its widgets to the protected callbacks below,
which raise `NotImplementedError` here (TagStudio's view/controller split). The sections'
group boxes are built by `form_sections.FormSections`.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence, QShortcut, QTextDocument
from PySide6.QtWidgets import (
    QAbstractSpinBox, QApplication, QComboBox, QDateEdit, QFrame, QGroupBox, QHBoxLayout, QLabel,
    QLineEdit, QListWidget, QListWidgetItem, QPushButton, QScrollArea, QSizePolicy, QVBoxLayout,
    QWidget,
)

from poems_monitor.domain.catalogue import MEASURE_GROUPS, MEASURES
from poems_monitor.ui.accessibility import label_controls
from poems_monitor.ui.entry.feature_choice import FeatureChoice
from poems_monitor.ui.entry.form_sections import FormSections
from poems_monitor.ui.entry.fields import MeasureRow
from poems_monitor.ui.entry.input_guard import guard_alt_typing, guard_wheel
from poems_monitor.ui.entry.marks import mark_style, set_tier
from poems_monitor.ui.shortcuts_help import declare_keys, key_text


# Where each measure group sits: two columns of measure sections, then full-width sections.
# The measure sections go side by side only where both columns fit whole (name, value, unit,
# previous value) with room for a verdict of some words; below that, one column: nothing is
# ever clipped (at 1366x768 and 1920x1080 with the patient list open: one column).
VERDICT_ROOM = 120
LEFT_GROUPS = ("vitals", "hematology", "vegf", "monoclonal", "chemistry")
RIGHT_GROUPS = ("endocrine", "pft", "echo")
WIDE_GROUPS = ("neuropathy",)


class VisitEntryFormView(FormSections, QWidget):
    """The entry form's widgets, sections and keyboard paths; no data, no saving."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: dict[str, MeasureRow] = {}
        self.features: dict[str, FeatureChoice] = {}
        self.feature_previous: dict[str, QLabel] = {}
        self.exams: dict[str, tuple[QComboBox, QLineEdit]] = {}
        self._enter_chain: list[QWidget] = []
        self._tab_chain: list[QWidget] = []
        self.setObjectName("visit_entry_form")
        self.setAccessibleName(self.tr("Visit entry"))  # also where its shortcuts work (Help › Keyboard shortcuts)
        self.setStyleSheet(mark_style() + _FORM_STYLE)
        self._build()
        self._set_enabled(False)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut).setWhatsThis(self.tr("Save the visit being entered"))

    # ------------------------------------------------------------------------------------------
    # callbacks: the controller's behaviour
    # ------------------------------------------------------------------------------------------
    def save(self) -> bool:
        """Ctrl+S and the Save button."""
        raise NotImplementedError

    def _revert(self) -> None:
        """The Revert button."""
        raise NotImplementedError

    def _on_changed(self, *_args) -> None:  # noqa: ANN002
        """Any field, the date or the note was edited."""
        raise NotImplementedError

    def _check_existing_visit(self, *_args) -> None:  # noqa: ANN002
        """The visit date moved."""
        raise NotImplementedError

    def _on_banner_link(self, link: str) -> None:
        """A link in the banner was followed ("field:CODE" or "visit:ID")."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------
    # building
    # ------------------------------------------------------------------------------------------

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
        self.scroll.setAccessibleName(self.tr("Fields of the visit"))
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        # never sideways while one column fits (1366x768 and up); on a smaller screen (150 % on
        # 1366x768: 911x512 logical pixels) a scroll bar, rather than values cut off at the edge
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
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
        label_controls(self)

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
        self._tab_chain = tab
        for w in set(tab):
            w.installEventFilter(self)
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        QShortcut(QKeySequence("Ctrl+PgDown"), self, lambda: self.jump_section(+1),
                  context=context).setWhatsThis(self.tr("Next section of the form"))
        QShortcut(QKeySequence("Ctrl+PgUp"), self, lambda: self.jump_section(-1),
                  context=context).setWhatsThis(self.tr("Previous section of the form"))
        for number in range(1, min(len(self._sections), 9) + 1):
            QShortcut(QKeySequence(f"Alt+{number}"), self, lambda n=number: self.jump_to_section(n - 1),
                      context=context).setWhatsThis(self.tr("Section {n} of the form").format(n=number))
        declare_keys(self, [(key_text(Qt.Key.Key_Return), self.tr("Next value field (in the notes: a new line)"),
                             self.tr("Visit entry"))])

    def focusNextPrevChild(self, forward: bool) -> bool:  # noqa: N802 (Qt API)
        """Tab stays in the form: from the note back to the visit date, Shift+Tab the other way
        (the window's shortcuts leave it: Ctrl+D the dashboard, Ctrl+F the patient list)."""
        focus = QApplication.focusWidget()
        if isinstance(focus.parentWidget() if focus else None, (QAbstractSpinBox, QComboBox)):
            focus = focus.parentWidget()  # a date's or a combo box's own line edit
        chain = self._tab_chain
        if chain and focus is (chain[-1] if forward else chain[0]):
            target = chain[0] if forward else chain[-1]
            target.setFocus(Qt.FocusReason.TabFocusReason if forward else Qt.FocusReason.BacktabFocusReason)
            return True
        return super().focusNextPrevChild(forward)

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
    # the banner and the enabled state
    # ------------------------------------------------------------------------------------------
    def _set_enabled(self, enabled: bool) -> None:
        self.body.setEnabled(enabled)
        self.date_edit.setEnabled(enabled)
        self.save_button.setEnabled(enabled)
        self.revert_button.setEnabled(enabled)


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


        doc = QTextDocument()
        doc.setHtml(self.banner_text.text())
        return doc.toPlainText()


_FORM_STYLE = """
QLabel#entry_title { font-size: 16pt; font-weight: 600; }
QGroupBox { font-weight: 600; border: 1px solid palette(mid); border-radius: 6px; margin-top: 12px; padding-top: 6px;
            background: palette(base); }
QGroupBox::title { subcontrol-origin: margin; left: 10px; padding: 0 4px; }
QGroupBox QLabel, QGroupBox QComboBox, QGroupBox QLineEdit, QGroupBox QPlainTextEdit { font-weight: normal; }
QLabel[role="criterion"] { font-weight: 600; }
QPushButton#save_button { font-weight: 600; padding: 5px 16px; }
"""


__all__ = ["VisitEntryFormView"]
