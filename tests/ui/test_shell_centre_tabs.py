"""The centre's tabs on their own, with a real visit entry form on a real database: the form is
built only when first needed, its tab marks unsaved changes, and leaving it with unsaved changes
asks first (Cancel stays on the form, Discard leaves)."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtWidgets import QLabel, QMessageBox

from poems_monitor.services.access import Actor, Role
from poems_monitor.services.patients import PatientInput, create_patient
from poems_monitor.ui.entry import VisitEntryForm
from poems_monitor.ui.shell.centre_tabs import TAB_DASHBOARD, TAB_ENTRY, CentreTabs
from tests.conftest import TODAY

ANN = Actor("ann", Role.NURSE)


@pytest.fixture
def centre(qtbot, db):
    create_patient(db, ANN, PatientInput("T-1", "Tab Person", "male", date(1966, 2, 3)), today=TODAY)
    built: list[VisitEntryForm] = []

    def make_form() -> VisitEntryForm:
        built.append(VisitEntryForm(db, ANN, today=TODAY))
        return built[-1]

    tabs = CentreTabs(QLabel("dashboard of T-1"), make_form)
    tabs.built = built
    qtbot.addWidget(tabs)
    tabs.resize(1100, 750)
    tabs.show()
    return tabs


def test_the_form_is_built_on_first_use_and_choosing_its_tab_is_announced(qtbot, centre):
    assert centre.built == [] and not isinstance(centre.widget(TAB_ENTRY), VisitEntryForm)
    with qtbot.waitSignal(centre.entryShown):
        centre.setCurrentIndex(TAB_ENTRY)
    form = centre.form
    assert centre.built == [form] and centre.widget(TAB_ENTRY) is form and centre.currentIndex() == TAB_ENTRY
    assert centre.form is form  # built once


def test_unsaved_changes_are_marked_and_leaving_asks_first(qtbot, centre, monkeypatch):
    centre.setCurrentIndex(TAB_ENTRY)
    centre.form.load_new("T-1")
    dirty: list[bool] = []
    centre.dirtyChanged.connect(dirty.append)
    qtbot.keyClicks(centre.form.rows["weight"].editor, "71.5")
    assert dirty == [True] and centre.tabText(TAB_ENTRY) == "Visit entry •"
    assert centre.unsaved_entry() == "a visit being entered for T-1"

    answers = iter([QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Discard])
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: next(answers)))
    centre.setCurrentIndex(TAB_DASHBOARD)  # Cancel: stays on the form, nothing lost
    assert centre.currentIndex() == TAB_ENTRY and centre.has_unsaved_entry()
    assert centre.may_leave_entry() is True  # Discard
    assert not centre.has_unsaved_entry() and centre.unsaved_entry() is None
    assert centre.tabText(TAB_ENTRY) == "Visit entry" and dirty[-1] is False


def test_nothing_unsaved_leaves_without_a_question(qtbot, centre, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: pytest.fail("asked")))
    centre.setCurrentIndex(TAB_ENTRY)
    centre.form.load_new("T-1")
    centre.setCurrentIndex(TAB_DASHBOARD)
    assert centre.currentIndex() == TAB_DASHBOARD
    centre.show_quietly(TAB_ENTRY)
    assert centre.currentIndex() == TAB_ENTRY
