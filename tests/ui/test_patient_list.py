"""The patient list's own sort and filter (the model sorts, the proxy only filters): order,
selection kept across a sort, search and status filters together, and the model tester."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Qt

from poems_monitor.services.dashboard import PatientStatus
from poems_monitor.services.patients import PatientListRow
from poems_monitor.ui.patients.model import COL_FLAGS, COL_MRN, COL_NAME, MRN_ROLE
from poems_monitor.ui.patients.panel import PatientListPanel

NAMES = ("Rossi Anna", "Weber David", "García Chloé", "Rossi Marco", "Novak Jan")


def _panel(qtbot, n: int = 40) -> PatientListPanel:
    panel = PatientListPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 800)
    panel.show()
    rows = [PatientListRow(i, f"H-{i:06d}", NAMES[i % len(NAMES)], "female", date(1960, 1, 1), None, None, 0)
            for i in range(n)]
    panel.set_patients(rows)
    panel.set_status({r.mrn: PatientStatus(r.mrn, i % 4, 4, "warning" if i % 4 else None, i % 3 == 0, 0)
                      for i, r in enumerate(rows)})
    return panel


def shown(panel: PatientListPanel, col: int = COL_MRN) -> list:
    return [panel.proxy.index(r, col).data() for r in range(panel.proxy.rowCount())]


def test_sorting_keeps_the_selection_and_ties_in_mrn_order(qtbot, qtmodeltester):
    panel = _panel(qtbot)
    panel.select("H-000007", emit=False)
    panel.table.sortByColumn(COL_FLAGS, Qt.SortOrder.DescendingOrder)
    flags = [panel.proxy.index(r, COL_FLAGS).data(panel.proxy.sortRole()) for r in range(panel.proxy.rowCount())]
    assert flags == sorted(flags, reverse=True)
    threes = [m for m, f in zip(shown(panel), flags) if f == 3]
    assert threes == sorted(threes)  # equal keys stay in MRN order
    assert panel.current_mrn() == "H-000007"  # the selection followed its row
    panel.table.sortByColumn(COL_NAME, Qt.SortOrder.AscendingOrder)
    names = shown(panel, COL_NAME)
    assert names[0] == "García Chloé" and names[-1] == "Weber David"
    qtmodeltester.check(panel.model)
    qtmodeltester.check(panel.proxy)


def test_search_and_status_filters_combine(qtbot):
    panel = _panel(qtbot)
    qtbot.keyClicks(panel.search, "rossi")
    assert set(shown(panel, COL_NAME)) == {"Rossi Anna", "Rossi Marco"} and panel.proxy.rowCount() == 16
    panel.only_flags.setChecked(True)
    model = panel.model
    assert all(model.status(panel.proxy.index(r, 0).data(MRN_ROLE)).new_flags for r in range(panel.proxy.rowCount()))
    assert panel.proxy.rowCount() == 12
    panel.only_overdue.setChecked(True)
    assert {model.status(m).overdue for m in shown(panel)} == {True}
    panel.search.clear()
    panel.only_flags.setChecked(False)
    panel.only_overdue.setChecked(False)
    assert panel.proxy.rowCount() == 40 and "40 patients" in panel.count.text()
    panel.table.sortByColumn(COL_NAME, Qt.SortOrder.DescendingOrder)
    qtbot.keyClicks(panel.search, "anna")  # filtering a sorted list keeps its order
    assert shown(panel) == sorted(shown(panel))


def test_in_the_search_box_down_and_up_move_through_the_matches_and_enter_opens_one(qtbot):
    panel = _panel(qtbot)
    opened = []
    panel.patientActivated.connect(opened.append)
    panel.search.setFocus()
    qtbot.keyClicks(panel.search, "rossi")
    matches = shown(panel)
    assert len(matches) == 16
    qtbot.keyClick(panel.search, Qt.Key.Key_Down)
    qtbot.keyClick(panel.search, Qt.Key.Key_Down)
    qtbot.keyClick(panel.search, Qt.Key.Key_Up)
    assert panel.search.text() == "rossi"  # the keys moved the selection, they did not edit the search
    chosen = panel.current_mrn()
    assert chosen == matches[1]
    assert opened == []  # moving through the matches opens nobody
    qtbot.keyClick(panel.search, Qt.Key.Key_Return)
    assert opened == [chosen]


def test_ten_thousand_patients_the_filter_finds_exactly_the_matching_ones_and_keeps_the_current(qtbot):
    panel = PatientListPanel()
    qtbot.addWidget(panel)
    panel.resize(500, 700)
    panel.show()
    surnames = ("Müller", "Muller", "Rossi", "García", "Novak")
    rows = [PatientListRow(i, f"H-{100000 + i:06d}", f"{surnames[i % 5]} {('Anna', 'Chloé', 'Jan')[i % 3]}", "female",
                           date(1960, 1, 1), None, None, 0) for i in range(10_000)]
    panel.set_patients(rows)
    panel.select("H-100030", emit=False)  # Müller Anna (i = 30)
    qtbot.keyClicks(panel.search, "muller")
    # accents and case folded: "Müller" and "Muller" both, nobody else
    assert panel.proxy.rowCount() == 4000
    assert panel.current_mrn() == "H-100030"  # still shown: still the current patient
    qtbot.keyClicks(panel.search, " chloe 9")
    expected = [r.mrn for r in rows if r.name.split()[0] in ("Müller", "Muller") and r.name.endswith("Chloé")
                and "9" in r.mrn]
    assert shown(panel) == expected and len(expected) > 100
    assert panel.count.text() == f"{len(expected):,} of 10,000 patients"  # grouped: a large clinic reads at a glance
    assert panel.current_mrn() in expected  # the one shown was no longer a match: the first match is current
    panel.search.clear()
    assert panel.proxy.rowCount() == 10_000 and panel.count.text() == "10,000 patients"
    assert panel.select("H-109999", emit=False) and panel.current_mrn() == "H-109999"
