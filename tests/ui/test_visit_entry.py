"""The visit entry form, driven as a nurse drives it: keyboard, Enter, Ctrl+S; the three tiers;
corrections with a reason; the unsaved-changes question. Results are read back through the
services from a real SQLite file."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from sqlalchemy import select

from poems_monitor.models import Observation, Visit
from poems_monitor.services.patients import PatientInput, create_patient
from poems_monitor.services.visits import EnteredValue, VisitInput, open_visit, record_visit
from poems_monitor.ui.entry import ReasonDialog, VisitEntryForm
from tests.conftest import TODAY

MRN = "H-000123"


@pytest.fixture
def clinic(db, nurse):
    create_patient(db, nurse, PatientInput(MRN, "Jane Example", "female", date(1971, 4, 2), date(2019, 3, 14)),
                   today=TODAY)
    return db


@pytest.fixture
def form(open_entry_form, clinic, nurse):
    return open_entry_form(clinic, nurse)


def visits_of(db) -> list:
    with db.read() as session:
        return session.execute(select(Visit.__table__)).all()


def type_into(qtbot, widget, text: str) -> None:
    widget.setFocus()
    qtbot.keyClicks(widget, text)


def press_enter(qtbot) -> None:
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)


def ctrl_s(qtbot) -> None:
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)


def value_of(snapshot, code):
    return next(v for v in snapshot.values if v.code == code)


def test_a_nurse_enters_a_visit_with_the_keyboard_and_it_is_stored(qtbot, form, clinic):
    form.load_new(MRN)
    assert QApplication.focusWidget() is form.date_edit
    press_enter(qtbot)  # date accepted: on to the first value
    assert QApplication.focusWidget() is form.rows["weight"].editor
    qtbot.keyClicks(QApplication.focusWidget(), "64.5")
    press_enter(qtbot)
    assert QApplication.focusWidget() is form.rows["platelets"].editor  # Enter skips the unit chooser
    qtbot.keyClicks(QApplication.focusWidget(), "512")
    press_enter(qtbot)
    qtbot.keyClicks(QApplication.focusWidget(), "13,1")  # decimal comma accepted
    press_enter(qtbot)
    assert QApplication.focusWidget() is form.rows["hematocrit"].editor
    press_enter(qtbot)
    assert QApplication.focusWidget() is form.rows["neutrophils"].editor
    press_enter(qtbot)
    qtbot.keyClicks(QApplication.focusWidget(), "1240")  # plasma VEGF
    onls_arm = form.rows["onls_arm"].editor
    onls_arm.setFocus()
    qtbot.keyClicks(onls_arm, "2")  # type-ahead on the grade in words: "2 – functions affected..."
    form.features["pleural_effusion"].setFocus()
    qtbot.keyClicks(form.features["pleural_effusion"], "p")  # type-ahead: "present"
    assert form.has_unsaved_changes()
    assert "out of range" in form.summary.text()  # platelets 512 above 450, VEGF above 96.2

    with qtbot.waitSignal(form.saved, timeout=3000) as saved:
        ctrl_s(qtbot)
    snapshot = open_visit(clinic, saved.args[0])
    assert snapshot.date == TODAY
    assert float(value_of(snapshot, "platelets").value) == 512
    assert float(value_of(snapshot, "hemoglobin").value) == 13.1
    assert float(value_of(snapshot, "vegf_plasma").value) == 1240
    assert value_of(snapshot, "vegf_plasma").specimen == "plasma"
    assert float(value_of(snapshot, "onls_arm").value) == 2
    assert ("pleural_effusion", "present") in snapshot.features
    assert not form.has_unsaved_changes()
    assert "saved" in form.banner_message()
    assert "Platelets 512" in form.banner_message()  # saved, and said to be out of range


def test_tab_visits_the_unit_chooser_after_its_value(qtbot, form):
    form.load_new(MRN)
    weight = form.rows["weight"]
    weight.editor.setFocus()
    qtbot.keyClick(weight.editor, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is weight.unit_combo
    qtbot.keyClick(weight.unit_combo, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is form.rows["platelets"].editor


def test_an_impossible_platelet_count_is_marked_as_typed_and_refused_on_save(qtbot, form, clinic):
    form.load_new(MRN)
    platelets = form.rows["platelets"]
    type_into(qtbot, platelets.editor, "4500")
    assert platelets.editor.property("tier") == "refused"
    assert platelets.status.text().startswith("✖")  # a symbol and words, not only a colour
    assert "not possible" in platelets.status.text()
    ctrl_s(qtbot)
    message = form.banner_message()
    assert "Not saved" in message
    assert "Platelets 4500 ×10⁹/L is above the largest possible value 3000 ×10⁹/L" in message
    assert form.banner.isVisible()
    assert visits_of(clinic) == []
    assert QApplication.focusWidget() is platelets.editor  # back at the field to fix


def test_a_critical_value_is_saved_after_the_nurse_confirms_it(qtbot, form, clinic, monkeypatch):
    asked = []

    def answer_yes(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", staticmethod(answer_yes))
    form.load_new(MRN)
    calcium = form.rows["calcium"]
    type_into(qtbot, calcium.editor, "14")
    assert calcium.editor.property("tier") == "critical"
    assert calcium.status.text().startswith("⚠")
    with qtbot.waitSignal(form.saved, timeout=3000) as saved:
        ctrl_s(qtbot)
    assert len(asked) == 1 and "Calcium 14 mg/dL is above the critical limit 13 mg/dL" in asked[0]
    assert float(value_of(open_visit(clinic, saved.args[0]), "calcium").value) == 14


def test_a_critical_value_not_confirmed_is_not_saved(qtbot, form, clinic, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: QMessageBox.StandardButton.No))
    form.load_new(MRN)
    type_into(qtbot, form.rows["platelets"].editor, "12")
    ctrl_s(qtbot)
    assert visits_of(clinic) == []
    assert "not confirmed" in form.banner_message()
    assert form.has_unsaved_changes()


def test_an_alternative_unit_is_converted_and_the_conversion_shown(qtbot, form, clinic):
    form.load_new(MRN)
    hb = form.rows["hemoglobin"]
    hb.unit_combo.setCurrentIndex(hb.unit_combo.findData("g/L"))
    type_into(qtbot, hb.editor, "95")
    assert "95 g/L = 9.5 g/dL" in hb.status.text()
    assert "low" in hb.status.text()  # below the female lower limit 12: marked
    assert hb.editor.property("tier") == "out_of_range"
    with qtbot.waitSignal(form.saved, timeout=3000) as saved:
        form.save()
    with clinic.read() as session:
        row = session.execute(select(Observation.__table__).where(
            Observation.__table__.c.visit_id == saved.args[0], Observation.__table__.c.code == "hemoglobin")).one()
    assert row.value_num == pytest.approx(9.5)
    assert row.entered_unit == "g/L"
    # reopening shows what was typed, in the unit it was typed in
    assert form.rows["hemoglobin"].editor.text() == "95"
    assert form.rows["hemoglobin"].unit_combo.currentData() == "g/L"


def test_onls_grades_are_words_and_the_total_is_computed(qtbot, form):
    form.load_new(MRN)
    arm, leg = form.rows["onls_arm"].editor, form.rows["onls_leg"].editor
    assert arm.itemText(3).startswith("2 – functions affected but not prevented")
    assert leg.count() == 1 + 8  # not assessed + grades 0..7
    arm.setCurrentIndex(arm.findData(2))
    assert "needs both" in form.rows["onls"].derived_label.text()
    leg.setCurrentIndex(leg.findData(3))
    assert form.rows["onls"].derived_label.text().startswith("5 of 12")


def test_a_censored_value_keeps_its_qualifier(qtbot, form, clinic):
    form.load_new(MRN)
    type_into(qtbot, form.rows["vegf_serum"].editor, "<31")
    with qtbot.waitSignal(form.saved, timeout=3000) as saved:
        form.save()
    value = value_of(open_visit(clinic, saved.args[0]), "vegf_serum")
    assert value.qualifier == "<" and float(value.value) == 31 and value.specimen == "serum"


def _saved_visit(db, nurse) -> int:
    entry = VisitInput(date=date(2026, 9, 1), values=(EnteredValue("platelets", 312, "10*9/L"),
                                                      EnteredValue("hemoglobin", 13.0, "g/dL")),
                       features=(("peripheral_edema", "present"),))
    return record_visit(db, nurse, MRN, entry, today=TODAY).visit_id


def test_correcting_a_saved_visit_asks_for_a_reason_and_supersedes_the_old_value(qtbot, form, clinic, nurse,
                                                                                  monkeypatch):
    visit_id = _saved_visit(clinic, nurse)
    shown = []

    def reason(parent, changes):
        shown.extend(changes)
        return "Typing error"

    monkeypatch.setattr(ReasonDialog, "get_reason", staticmethod(reason))
    form.load_visit(visit_id)
    assert "2026-09-01" in form.title.text()
    platelets = form.rows["platelets"].editor
    assert platelets.text() == "312"
    platelets.selectAll()
    qtbot.keyClicks(platelets, "321")
    with qtbot.waitSignal(form.saved, timeout=3000):
        ctrl_s(qtbot)
    assert shown == ["Platelets: 312 ×10⁹/L → 321 ×10⁹/L"]
    assert float(value_of(open_visit(clinic, visit_id), "platelets").value) == 321
    O = Observation.__table__
    with clinic.read() as session:
        rows = session.execute(select(O).where(O.c.visit_id == visit_id, O.c.code == "platelets").order_by(O.c.id)).all()
    assert [r.value_num for r in rows] == [312, 321]
    assert rows[0].superseded_reason == "Typing error" and rows[0].superseded_by == "nurse-ann"
    assert rows[0].replaced_by_id == rows[1].id
    assert open_visit(clinic, visit_id).version == 2
    assert "Correction saved (version 2)" in form.banner_message()


def test_cancelling_the_reason_saves_nothing(qtbot, form, clinic, nurse, monkeypatch):
    visit_id = _saved_visit(clinic, nurse)
    monkeypatch.setattr(ReasonDialog, "get_reason", staticmethod(lambda parent, changes: None))
    form.load_visit(visit_id)
    form.rows["platelets"].editor.setText("400")
    assert form.save() is False
    assert float(value_of(open_visit(clinic, visit_id), "platelets").value) == 312
    assert form.has_unsaved_changes()


def test_a_visit_changed_elsewhere_is_refused_with_who_changed_it(qtbot, clinic, nurse, physician, monkeypatch):
    visit_id = _saved_visit(clinic, nurse)
    monkeypatch.setattr(ReasonDialog, "get_reason", staticmethod(lambda parent, changes: "Lab amended"))
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda parent, title, text, *a: warnings.append(text)))
    mine, theirs = VisitEntryForm(clinic, nurse, today=TODAY), VisitEntryForm(clinic, physician, today=TODAY)
    qtbot.addWidget(mine)
    qtbot.addWidget(theirs)
    mine.load_visit(visit_id)
    theirs.load_visit(visit_id)
    theirs.rows["platelets"].editor.setText("330")
    assert theirs.save()
    mine.rows["hemoglobin"].editor.setText("12.5")
    assert mine.save() is False
    assert warnings and "changed by dr-berg" in warnings[0]
    assert float(value_of(open_visit(clinic, visit_id), "hemoglobin").value) == 13.0


def test_leaving_with_unsaved_changes_asks_save_discard_or_cancel(qtbot, form, clinic, monkeypatch):
    answers = iter([QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Discard])
    asked = []

    def question(parent, title, text, buttons, default):
        asked.append(text)
        return next(answers)

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    form.load_new(MRN)
    assert form.maybe_leave() is True and asked == []  # nothing typed: nothing to ask
    with qtbot.waitSignal(form.dirtyChanged) as dirty:
        type_into(qtbot, form.rows["weight"].editor, "70")
    assert dirty.args == [True]
    assert form.maybe_leave() is False  # Cancel: stay
    assert form.rows["weight"].editor.text() == "70"
    assert form.maybe_leave() is True  # Discard
    assert form.rows["weight"].editor.text() == ""
    assert not form.has_unsaved_changes()
    assert len(asked) == 2 and MRN in asked[0]
    assert visits_of(clinic) == []


def test_leaving_and_choosing_save_stores_the_visit(qtbot, form, clinic, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: QMessageBox.StandardButton.Save))
    form.load_new(MRN)
    type_into(qtbot, form.rows["weight"].editor, "70")
    assert form.maybe_leave() is True
    assert len(visits_of(clinic)) == 1


def test_the_reason_dialog_insists_on_a_reason(qtbot):
    dialog = ReasonDialog(["Platelets: 312 → 321"])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.accept()
    assert dialog.result() == 0 and dialog.problem.isVisibleTo(dialog)
    qtbot.keyClicks(dialog.choice.lineEdit(), "Typing error")
    qtbot.keyClick(dialog.choice.lineEdit(), Qt.Key.Key_Return)  # Enter confirms
    assert dialog.result() == 1 and dialog.reason() == "Typing error"


# --- the mouse wheel (issue 10, defect 1) -----------------------------------------------------
def _wheel(widget, dy: int = -120) -> None:
    """A real wheel turn over the middle of `widget`, as the mouse sends it."""
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent

    local = QPointF(widget.rect().center())
    event = QWheelEvent(local, QPointF(widget.mapToGlobal(local.toPoint())), QPoint(0, 0), QPoint(0, dy),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def _value(widget):
    from PySide6.QtWidgets import QComboBox, QDateEdit

    if isinstance(widget, QComboBox):
        return widget.currentIndex()
    if isinstance(widget, QDateEdit):
        return widget.date()
    return widget.state()  # a feature: present / absent / not recorded


def test_the_wheel_scrolls_the_form_and_never_changes_a_value(qtbot, form):
    form.resize(900, 640)  # the entry tab's size in a 1366x768 window
    form.load_new(MRN)
    qtbot.wait(10)
    kinds = {
        "visit date": form.date_edit,
        "unit chooser": form.rows["hemoglobin"].unit_combo,
        "categorical": form.rows["ife"].editor,
        "ONLS grade": form.rows["onls_arm"].editor,
        "feature": form.features["pleural_effusion"],
        "exam result": form.exams["echo"][0],
    }
    bar = form.scroll.verticalScrollBar()
    assert bar.maximum() > 0
    for name, widget in kinds.items():
        for dy in (-120, 120):
            bar.setValue(bar.maximum() // 2)
            before, position = _value(widget), bar.value()
            _wheel(widget, dy)
            assert _value(widget) == before, f"the wheel changed the {name}"
            assert bar.value() != position, f"the wheel over the {name} did not scroll the form"
    widget = form.rows["ife"].editor
    widget.setFocus()  # focused but closed: the wheel still scrolls
    bar.setValue(0)
    _wheel(widget)
    assert _value(widget) == 0 and bar.value() > 0
    assert not form.has_unsaved_changes()


# --- thousands separators (issue 10, defect 5) --------------------------------------------------
def test_a_vegf_typed_with_a_thousands_comma_is_refused_showing_both_readings(qtbot, form, clinic):
    form.load_new(MRN)
    vegf = form.rows["vegf_plasma"]
    type_into(qtbot, vegf.editor, "1,240")
    assert vegf.editor.text() == "1,240"
    assert vegf.editor.property("tier") == "refused"
    assert "1240" in vegf.status.text() and "1.24" in vegf.status.text()
    ctrl_s(qtbot)
    assert visits_of(clinic) == []
    message = form.banner_message()
    assert "Not saved" in message and "could be 1240 or 1.24" in message
    vegf.editor.selectAll()
    qtbot.keyClicks(vegf.editor, "1.240,5")  # a European grouped number is refused too, not blocked silently
    assert vegf.editor.text() == "1.240,5" and vegf.editor.property("tier") == "refused"
    vegf.editor.selectAll()
    qtbot.keyClicks(vegf.editor, "1240")
    with qtbot.waitSignal(form.saved, timeout=3000) as saved:
        ctrl_s(qtbot)
    assert float(value_of(open_visit(clinic, saved.args[0]), "vegf_plasma").value) == 1240


# --- the form at the screen sizes clinics use (issue 10, defect 9) ------------------------------
@pytest.mark.parametrize("size", [(1366, 768), (1440, 900)])
def test_every_mark_and_range_is_visible_without_horizontal_scrolling(monkeypatch, qtbot, clinic, nurse, size):
    from poems_monitor.ui.main_window import TAB_ENTRY, MainWindow

    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: QMessageBox.StandardButton.Discard))

    win = MainWindow(clinic, nurse, as_of=TODAY)
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    win.open_patient(MRN)
    win.new_visit()
    assert win.centre.currentIndex() == TAB_ENTRY
    form = win.entry
    # long verdicts too: a conversion, a refusal, a critical value
    form.rows["hemoglobin"].unit_combo.setCurrentIndex(form.rows["hemoglobin"].unit_combo.findData("g/L"))
    form.rows["hemoglobin"].editor.setText("95")
    form.rows["platelets"].editor.setText("4500")
    form.rows["calcium"].editor.setText("14")
    form.rows["pth"].editor.setText("90")
    qtbot.wait(20)
    viewport = form.scroll.viewport()
    assert form.scroll.horizontalScrollBar().maximum() == 0, "the form scrolls sideways"
    for code, row in form.rows.items():
        for widget in (row.status, row.unit_widget, row.editor):
            if widget is None:
                continue
            top_left = widget.mapTo(viewport, widget.rect().topLeft())
            assert top_left.x() >= 0 and top_left.x() + widget.width() <= viewport.width(), (
                f"{code}: {widget.objectName() or type(widget).__name__} ends at "
                f"{top_left.x() + widget.width()} px, the viewport at {viewport.width()} px")
        if row.status.text():
            assert row.status.width() >= row.status.fontMetrics().averageCharWidth() * 12, code
    others = [*form.features.values(), *form.feature_previous.values(), *(r.previous for r in form.rows.values())]
    for widget in others:
        right = widget.mapTo(viewport, widget.rect().topRight()).x()
        assert right <= viewport.width(), f"{widget.objectName()} ends at {right} px, the viewport at {viewport.width()}"
    assert form.body.width() <= viewport.width()
    win.close()


# --- sections, features, previous values, unit slips (issue 10, friction) -----------------------
def _focus_is_in(form, index: int) -> bool:
    _title, box = form._sections[index]
    return box.isAncestorOf(QApplication.focusWidget())


def test_sections_are_listed_and_reached_with_a_key(qtbot, form):
    form.load_new(MRN)
    titles = form.section_titles()
    assert titles[:3] == ["Vital signs and weight", "Haematology", "VEGF"]
    assert titles[-2:] == ["Examinations", "Note"] and "Major criteria" in titles
    assert [form.section_list.item(i).text().strip().lstrip("0123456789 ") for i in range(len(titles))] == titles
    form.rows["weight"].editor.setFocus()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is form.rows["platelets"].editor
    assert form.section_list.currentRow() == 1
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)
    assert QApplication.focusWidget() is form.rows["vegf_plasma"].editor
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    assert _focus_is_in(form, 1)
    features = titles.index("Major criteria")
    item = form.section_list.item(features)
    qtbot.mouseClick(form.section_list.viewport(), Qt.MouseButton.LeftButton,
                     pos=form.section_list.visualItemRect(item).center())
    assert QApplication.focusWidget() is form.features["polyneuropathy"]
    top = form.scroll.viewport().mapFromGlobal(QApplication.focusWidget().mapToGlobal(QApplication.focusWidget().rect().topLeft()))
    assert 0 <= top.y() < form.scroll.viewport().height()  # scrolled into view


def test_features_are_answered_with_one_key_each_in_the_criteria_order(qtbot, form, clinic):
    from poems_monitor.domain.catalogue import CRITERIA, features_of

    form.load_new(MRN)
    in_order = [f.code for c in CRITERIA.values() for f in features_of(c.code)]
    chain = [w for w in form._enter_chain if w in form.features.values()]
    assert [w.code for w in chain] == in_order
    form.jump_to_section(form.section_titles().index("Major criteria"))
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_P)  # polyneuropathy present: on to the next
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_A)  # absent
    assert form.features[in_order[0]].state() == "present"
    assert form.features[in_order[1]].state() == "absent"
    assert QApplication.focusWidget() is form.features[in_order[2]]
    assert form.features[in_order[2]].state() == "unknown"  # never assumed
    with qtbot.waitSignal(form.saved, timeout=3000) as saved:
        ctrl_s(qtbot)
    stored = dict(open_visit(clinic, saved.args[0]).features)
    assert stored == {in_order[0]: "present", in_order[1]: "absent"}


def test_each_field_shows_the_previous_value_and_its_date(qtbot, form, clinic, nurse):
    record_visit(clinic, nurse, MRN, VisitInput(date(2026, 9, 1), (
        EnteredValue("platelets", 312, "10*9/L"), EnteredValue("hemoglobin", 95, "g/L"), EnteredValue("ife", "lambda"),
    ), features=(("pleural_effusion", "present"),)), today=TODAY)
    record_visit(clinic, nurse, MRN, VisitInput(date(2026, 10, 1), (EnteredValue("platelets", 333, "10*9/L"),)),
                 today=TODAY)
    form.load_new(MRN)
    def shown(label):
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(label.text())
        return doc.toPlainText().replace("\n", " ")
    assert shown(form.rows["platelets"].previous) == "333 ×10⁹/L 2026-10-01"  # the newest, in words people read
    assert shown(form.rows["hemoglobin"].previous) == "9.5 g/dL 2026-09-01"
    assert shown(form.rows["ife"].previous) == "lambda 2026-09-01"
    assert shown(form.feature_previous["pleural_effusion"]) == "present 2026-09-01"
    assert form.rows["weight"].previous.text() == ""
    assert "2026-10-01" in form.rows["platelets"].previous.toolTip()


def test_a_unit_slip_gets_a_hint_from_the_catalogue_and_vegf_accepts_ng_per_ml(qtbot, form):
    form.load_new(MRN)
    hb = form.rows["hemoglobin"]
    type_into(qtbot, hb.editor, "135")
    assert hb.editor.property("tier") == "refused"
    assert "above 25 g/dL: did you mean g/L?" in hb.status.text()
    hb.unit_combo.setCurrentIndex(hb.unit_combo.findData("g/L"))
    assert hb.editor.property("tier") != "refused" and "did you mean" not in hb.status.text()
    vegf = form.rows["vegf_plasma"]
    vegf.unit_combo.setCurrentIndex(vegf.unit_combo.findData("ng/mL"))
    type_into(qtbot, vegf.editor, "1.2")
    assert "1.2 ng/mL = 1200 pg/mL" in vegf.status.text()


def test_people_read_units_never_ucum_codes(qtbot, form, clinic, nurse):
    from PySide6.QtWidgets import QComboBox, QLabel

    from poems_monitor.domain.catalogue import unit_display

    assert unit_display("10*9/L") == "×10⁹/L" and unit_display("10*3/uL") == "×10³/µL"
    record_visit(clinic, nurse, MRN, VisitInput(date(2026, 9, 1), (EnteredValue("platelets", 312, "10*3/uL"),)),
                 today=TODAY)
    form.load_new(MRN)
    texts = [w.text() for w in form.findChildren(QLabel)]
    texts += [c.itemText(i) for c in form.findChildren(QComboBox) for i in range(c.count())]
    raw = [t for t in texts if "10*" in t or "[" in t or "{" in t or "u[IU]" in t]
    assert raw == []


def test_new_visit_opens_the_visit_already_saved_that_day(monkeypatch, qtbot, form, clinic, nurse):
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: QMessageBox.StandardButton.Discard))
    earlier = record_visit(clinic, nurse, MRN, VisitInput(date(2026, 9, 1), ()), today=TODAY).visit_id
    # a new visit moved onto the date of a saved one says so at once, with the way to open it
    form.load_new(MRN)
    assert form.visit_id is None
    form.date_edit.setDate(date(2026, 9, 1))
    assert "already has a visit on 2026-09-01" in form.banner_message()
    form.banner_text.linkActivated.emit(f"visit:{earlier}")
    assert form.visit_id == earlier
    # New visit on a day that has one opens it, instead of a duplicate refused only at save
    today_visit = record_visit(clinic, nurse, MRN, VisitInput(TODAY, (EnteredValue("platelets", 300, "10*9/L"),)),
                               today=TODAY).visit_id
    form.load_new(MRN)
    assert form.visit_id == today_visit
    assert form.rows["platelets"].editor.text() == "300"
    assert "already has a visit today" in form.banner_message()


def test_editing_in_the_main_window_gives_no_qt_warning_and_marks_the_title(monkeypatch, qtbot, qtlog, clinic, nurse):
    from poems_monitor.ui.main_window import MainWindow

    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: QMessageBox.StandardButton.Discard))
    win = MainWindow(clinic, nurse, as_of=TODAY)
    qtbot.addWidget(win)
    win.show()
    win.open_patient(MRN)
    win.new_visit()
    type_into(qtbot, win.entry.rows["weight"].editor, "70")
    assert win.isWindowModified()
    warnings = [r.message for r in qtlog.records if "[*]" in r.message or "setWindowModified" in r.message]
    assert warnings == []


def test_focus_is_visible_and_never_looks_like_an_out_of_range_mark(qtbot, form):
    from poems_monitor.ui.entry.marks import set_tier

    form.load_new(MRN)
    qtbot.wait(10)

    def look(widget):
        return widget.grab().toImage()

    for widget in (form.rows["weight"].editor, form.rows["ife"].editor, form.features["ascites"], form.date_edit,
                   form.exams["echo"][1], form.note):
        form.save_button.setFocus()  # a control outside the checked one
        plain = look(widget)
        widget.setFocus()
        qtbot.wait(5)
        assert QApplication.focusWidget() is widget
        focused = look(widget)
        assert focused != plain, f"{widget.objectName()}: focus is not visible"
        form.save_button.setFocus()
        set_tier(widget, "out_of_range")
        marked = look(widget)
        set_tier(widget, None)
        assert focused != marked, f"{widget.objectName()}: focus looks like the out-of-range mark"
    # the colours themselves: the focus ring is in none of the tiers' colours
    from PySide6.QtGui import QColor

    weight = form.rows["weight"].editor
    weight.setFocus()
    qtbot.wait(5)
    image = look(weight)
    ring = QColor(image.pixel(1, image.height() // 2)).name().upper()
    assert ring not in {"#0072B2", "#D55E00", "#B07A00", "#E69F00", "#56B4E9"}


def test_a_feature_answer_is_changed_or_cleared_with_the_keyboard(qtbot, form):
    form.load_new(MRN)
    choice = form.features["ascites"]
    choice.setFocus()
    qtbot.keyClick(choice, Qt.Key.Key_P)
    assert choice.state() == "present" and QApplication.focusWidget() is not choice  # answered: moved on
    choice.setFocus()
    qtbot.keyClick(choice, Qt.Key.Key_Right)  # present -> absent, stays
    assert choice.state() == "absent" and QApplication.focusWidget() is choice
    qtbot.keyClick(choice, Qt.Key.Key_Delete)  # back to not recorded
    assert choice.state() == "unknown"
    qtbot.keyClick(choice, Qt.Key.Key_Return)  # Enter moves on without answering
    assert choice.state() == "unknown" and QApplication.focusWidget() is not choice
    assert not form.has_unsaved_changes()
    qtbot.mouseClick(choice.findChild(type(choice._buttons["absent"]), "feature_ascites_absent"),
                     Qt.MouseButton.LeftButton)
    assert choice.state() == "absent" and form.has_unsaved_changes()  # one click with the mouse


def test_the_previous_value_is_the_corrected_one_never_the_superseded(qtbot, form, clinic, nurse):
    from poems_monitor.services.visits import correct_visit, last_recorded

    visit_id = _saved_visit(clinic, nurse)  # platelets 312 on 2026-09-01
    snapshot = open_visit(clinic, visit_id)
    corrected = VisitInput(snapshot.date, (EnteredValue("platelets", 321, "10*9/L"), EnteredValue("hemoglobin", 13.0, "g/dL")),
                           features=snapshot.features)
    correct_visit(clinic, nurse, visit_id, snapshot.version, corrected, "Typing error", today=TODAY)
    assert last_recorded(clinic, MRN, date(2026, 9, 1)) == {}  # strictly before the visit's date
    form.load_new(MRN)
    assert form.rows["platelets"].previous.text().startswith("321 ×10⁹/L")
