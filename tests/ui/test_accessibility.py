"""Issue 15 (accessible): every screen and dialog of the app, walked widget by widget as a screen
reader sees it (Qt's accessibility interface, not the Python attributes): every control that
takes the keyboard focus has a name, every field with a rule (limits, units, a format) has a
description, item views give their rows and headers text, the entry form's Tab order follows
the page, and the chart widgets say their series' latest value and date."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt
from PySide6.QtGui import QAccessible, QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QDialog, QLineEdit, QTabWidget,
    QWidget,
)

from poems_monitor.services.access import Role
from poems_monitor.services.demo_clinic import generate_patients
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY


@pytest.fixture
def clinic(db, admin):
    patients = generate_patients(6, 3, TODAY)
    import_patients(db, patients, admin, reason="test")
    return db, patients


@pytest.fixture
def window(qtbot, clinic, admin):
    from poems_monitor.ui.main_window import MainWindow

    db, patients = clinic
    win = MainWindow(db, admin, as_of=TODAY, background=False, remember_layout=False, signed_in=True)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    win.open_patient(patients[0].mrn)
    return win


# --- what a screen reader is told ---------------------------------------------------------------

def spoken(widget: QWidget, what: QAccessible.Text) -> str:
    interface = QAccessible.queryAccessibleInterface(widget)
    return (interface.text(what) or "").strip() if interface is not None else ""


def is_part_of_another_control(widget: QWidget) -> bool:
    """A spin box's or combo box's own line edit, a scroll area's viewport: announced as the
    control they belong to."""
    parent = widget.parentWidget()
    return (isinstance(parent, (QAbstractSpinBox, QComboBox))
            or (isinstance(parent, QAbstractScrollArea) and widget is parent.viewport()))


def focusable(root: QWidget) -> Iterator[QWidget]:
    for widget in root.findChildren(QWidget):
        if (widget.focusPolicy() != Qt.FocusPolicy.NoFocus and widget.isVisibleTo(root)
                and not is_part_of_another_control(widget)):
            yield widget


def has_a_rule(widget: QWidget) -> bool:
    """A field that refuses some input: limits (spin boxes, dates), a typed format or units."""
    return isinstance(widget, QAbstractSpinBox) or (isinstance(widget, QLineEdit) and widget.validator() is not None)


def who(widget: QWidget) -> str:
    return f"{type(widget).__name__}#{widget.objectName()} in {type(widget.parentWidget()).__name__}"


def every_page(root: QWidget) -> Iterator[str]:
    """`root` as shown, then each page of each of its tab widgets in turn."""
    yield "as shown"
    for tabs in root.findChildren(QTabWidget):
        if not tabs.isVisibleTo(root):
            continue
        for i in range(tabs.count()):
            tabs.setCurrentIndex(i)
            QApplication.processEvents()
            yield tabs.tabText(i).replace("&", "")


def problems_of(root: QWidget) -> list[str]:
    problems: list[str] = []
    for page in every_page(root):
        for widget in focusable(root):
            if not spoken(widget, QAccessible.Text.Name):
                problems.append(f"{page}: {who(widget)} has no accessible name")
            if has_a_rule(widget) and not spoken(widget, QAccessible.Text.Description):
                problems.append(f"{page}: {who(widget)} ({spoken(widget, QAccessible.Text.Name)}) has a rule but "
                                "no accessible description")
            if isinstance(widget, QAbstractItemView):
                problems += [f"{page}: {p}" for p in view_problems(widget)]
    return sorted(set(problems))


def columns(model) -> int:  # noqa: ANN001
    return 1 if isinstance(model, QAbstractListModel) else model.columnCount(QModelIndex())


def view_problems(view: QAbstractItemView) -> list[str]:
    """Rows read as text (DisplayRole or a tooltip) and, for tables, every shown column named."""
    model = view.model()
    if model is None:
        return [f"{who(view)} has no model"]
    problems = []
    header = getattr(view, "horizontalHeader", lambda: None)()
    if header is not None and not header.isHidden():
        for column in range(columns(model)):
            if not header.isSectionHidden(column) and not str(model.headerData(
                    column, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole) or "").strip() and not str(
                    model.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) or "").strip():
                problems.append(f"{who(view)} column {column} has no header text")
    for row in range(min(model.rowCount(QModelIndex()), 5)):
        texts = [str(model.index(row, c).data(Qt.ItemDataRole.DisplayRole) or "")
                 + str(model.index(row, c).data(Qt.ItemDataRole.ToolTipRole) or "")
                 for c in range(columns(model))]
        if not any(t.strip() for t in texts):
            problems.append(f"{who(view)} row {row} has no text")
    return problems


# --- every screen and dialog ------------------------------------------------------------------

def _main(view: str) -> Callable:
    def show(win, _db, _patients):  # noqa: ANN001, ANN202
        from poems_monitor.ui.main_window import VIEW_REVIEW, VIEW_WORKLIST
        from poems_monitor.ui.shell.centre_tabs import TAB_DASHBOARD, TAB_ENTRY

        if view == "worklist":
            win.show_view(VIEW_WORKLIST)
            return win.views.currentWidget()
        if view == "review":
            win.show_view(VIEW_REVIEW)
            return win.review
        if view == "entry":
            win.show_tab(TAB_ENTRY)
            return win.entry
        if view == "lock":
            win.lock()
            return win.lock_panel
        win.show_tab(TAB_DASHBOARD)
        return win.patients if view == "patients" else win.dashboard
    return show


def _dialog(make: Callable) -> Callable:
    def show(win, db, patients):  # noqa: ANN001, ANN202
        widget = make(win, db, patients)
        widget.show()
        return widget
    return show


def _lab_import(win, db, patients):  # noqa: ANN001, ANN202
    from poems_monitor.services.access import Actor
    from poems_monitor.ui.lab_import_dialog import LabImportDialog

    dialog = LabImportDialog(db, Actor("test-admin", Role.ADMIN), win, today=TODAY)
    p = patients[0]
    day = max(v.date for v in p.visits) + timedelta(days=1)
    dialog.set_date_format("iso")
    dialog.set_text(f"mrn;date;code;value;unit;specimen\n{p.mrn};{day};hemoglobin;13.5;g/dL;\n")
    return dialog


def _history(win, db, patients):  # noqa: ANN001, ANN202
    from poems_monitor.services.patients import patient_id_for
    from poems_monitor.ui.shell.commands import HistoryWindow

    return HistoryWindow(db, patient_id_for(db, patients[0].mrn), "History", win)


def _account_form(win, _db, _patients):  # noqa: ANN001, ANN202
    from poems_monitor.ui.accounts_dialog import AccountChangeForm

    return AccountChangeForm("New account", "intro", lambda _form: None, name=True, role=Role.NURSE, password=True,
                             parent=win)


def _admin(win):  # noqa: ANN001, ANN202
    return win.actor


SCREENS: dict[str, Callable] = {
    "patient list": _main("patients"),
    "dashboard": _main("dashboard"),
    "visit entry": _main("entry"),
    "worklist": _main("worklist"),
    "to review": _main("review"),
    "lock": _main("lock"),
    "new patient": _dialog(lambda w, db, p: __import__("poems_monitor.ui.dialogs", fromlist=["x"]).PatientDialog(
        db, _admin(w), parent=w, today=TODAY)),
    "edit patient": _dialog(lambda w, db, p: __import__("poems_monitor.ui.dialogs", fromlist=["x"]).PatientDialog(
        db, _admin(w), mrn=p[0].mrn, parent=w, today=TODAY)),
    "treatment": _dialog(lambda w, db, p: __import__("poems_monitor.ui.dialogs", fromlist=["x"]).TreatmentDialog(
        db, _admin(w), mrn=p[0].mrn, parent=w, today=TODAY)),
    "event": _dialog(lambda w, db, p: __import__("poems_monitor.ui.dialogs", fromlist=["x"]).EventDialog(
        db, _admin(w), mrn=p[0].mrn, parent=w, today=TODAY)),
    "history": _dialog(_history),
    "accounts": _dialog(lambda w, db, p: __import__("poems_monitor.ui.accounts_dialog", fromlist=["x"]).AccountsDialog(
        db, _admin(w), w)),
    "account change": _dialog(_account_form),
    "settings": _dialog(lambda w, db, p: __import__("poems_monitor.ui.settings_dialog", fromlist=["x"]).SettingsDialog(w)),
    "connection": _dialog(lambda w, db, p: __import__("poems_monitor.ui.connection_dialog",
                                                      fromlist=["x"]).ConnectionDialog(w)),
    "login": _dialog(lambda w, db, p: __import__("poems_monitor.ui.login_dialog", fromlist=["x"]).LoginDialog(db, w)),
    "lab import": _dialog(_lab_import),
    "chart export": _dialog(lambda w, db, p: __import__("poems_monitor.ui.report.actions",
                                                        fromlist=["x"]).ChartExportDialog(w.dashboard.dashboard, None, w)),
    "about": _dialog(lambda w, db, p: __import__("poems_monitor.ui.about_dialog", fromlist=["x"]).AboutDialog(w)),
    "shortcuts": _dialog(lambda w, db, p: __import__("poems_monitor.ui.shortcuts_help", fromlist=["x"]).ShortcutsDialog(w)),
    "user guide": _dialog(lambda w, db, p: __import__("poems_monitor.ui.user_guide", fromlist=["x"]).UserGuideDialog(w)),
    "damaged database": _dialog(lambda w, db, p: __import__("poems_monitor.ui.damaged_database", fromlist=["x"])
                                .DamagedDatabaseDialog(db.path, ["integrity_check: page 7 is never used"], None, True, w)),
}


@pytest.mark.parametrize("screen", list(SCREENS))
def test_every_control_of_every_screen_has_a_name_and_every_ruled_field_a_description(qtbot, window, clinic, screen):
    db, patients = clinic
    root = SCREENS[screen](window, db, patients)
    if isinstance(root, QDialog):
        qtbot.addWidget(root)
    qtbot.waitUntil(lambda: root.isVisible(), timeout=5000)
    QApplication.processEvents()
    assert list(focusable(root)), f"{screen}: nothing to walk"
    problems = problems_of(root)
    assert problems == [], "\n".join(problems)


def test_the_walk_finds_a_control_without_a_name(qtbot):
    """The walk itself can fail: a bare line edit beside no label is reported."""
    box = QWidget()
    qtbot.addWidget(box)
    edit = QLineEdit(box)
    edit.setValidator(__import__("PySide6.QtGui", fromlist=["x"]).QIntValidator(1, 9, edit))
    box.show()
    assert problems_of(box) == [
        "as shown: QLineEdit# in QWidget () has a rule but no accessible description",
        "as shown: QLineEdit# in QWidget has no accessible name"]


# --- Tab order of the entry form ---------------------------------------------------------------

def test_tab_walks_the_entry_form_in_reading_order_without_leaving_it(qtbot, window):
    from poems_monitor.ui.shell.centre_tabs import TAB_ENTRY

    window.show_tab(TAB_ENTRY)
    form = window.entry
    QApplication.processEvents()
    form.date_edit.setFocus()
    qtbot.waitUntil(form.date_edit.hasFocus)
    visited: list[QWidget] = [form.date_edit]
    for _ in range(400):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        now = QApplication.focusWidget()
        while is_part_of_another_control(now):
            now = now.parentWidget()
        if now is visited[-1]:
            continue  # Tab steps through a date's year, month and day first (QDateEdit)
        if now in visited:
            break
        visited.append(now)
    assert now is form.date_edit, who(now)  # after the note, Tab comes back to the visit's date
    assert len(visited) > 40
    assert form.note in visited
    assert [who(w) for w in visited if not form.isAncestorOf(w)] == []
    positions = [w.mapTo(form.body, w.rect().topLeft()) for w in visited[1:]]  # (the date sits in the header)
    backwards = [(who(a), who(b)) for (a, pa), (b, pb) in zip(zip(visited[1:], positions), zip(visited[2:], positions[1:]))
                 if pb.y() < pa.y() - 4 or (abs(pb.y() - pa.y()) <= 4 and pb.x() < pa.x())]
    assert backwards == []


# --- charts tell their trend ---------------------------------------------------------------------

def test_each_chart_is_named_and_describes_its_series_latest_value_and_date(window):
    from poems_monitor.ui.charts.chart_spec import format_value
    from poems_monitor.ui.charts.trend_chart import TrendChart

    charts = [c for c in window.dashboard.findChildren(TrendChart) if c.isVisibleTo(window)]
    assert charts and any(c.series for c in charts)
    for chart in charts:
        plot = chart.plot_widget
        assert spoken(plot, QAccessible.Text.Name) == f"{chart.spec.title} chart"
        description = spoken(plot, QAccessible.Text.Description)
        for s in chart.series:
            if s.points:
                last = max(s.points, key=lambda p: p.date)
                assert f"{s.name}: {format_value(s.code, last)} {s.unit} on {last.date.isoformat()}" in description
        if not any(s.points for s in chart.series):
            assert description == "No values recorded"


# --- visible focus and the high-contrast theme ------------------------------------------------------

def contrast(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio of two colours."""
    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.fixture
def themed(qapp):
    """Applies a theme for the test and puts the application's look back afterwards."""
    from poems_monitor.ui import theme as th

    style, sheet, palette, font, current = (qapp.style().name(), qapp.styleSheet(), qapp.palette(), qapp.font(),
                                            th.theme())
    yield lambda **kw: th.apply_theme(qapp, **kw)
    qapp.setStyle(style)
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)
    qapp.setFont(font)  # (chart labels are measured in it by later tests)
    th.set_theme(current)


@pytest.mark.parametrize("look", [dict(dark=False, high_contrast=False), dict(dark=True, high_contrast=False),
                                  dict(dark=True, high_contrast=True)], ids=["light", "dark", "high-contrast"])
def test_the_focused_control_is_framed_in_a_colour_that_stands_out(qtbot, themed, look):
    from poems_monitor.ui.settings_dialog import SettingsDialog

    t = themed(**look)
    dialog = SettingsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    background = QColor(t.window)
    for control in (dialog.idle_edit, dialog.theme_combo, dialog.folder_button):
        dialog.keep_daily_edit.setFocus()  # the focus elsewhere first
        QApplication.processEvents()
        before = control.grab().toImage()
        control.setFocus(Qt.FocusReason.TabFocusReason)
        qtbot.waitUntil(control.hasFocus)
        QApplication.processEvents()
        after = control.grab().toImage()
        # the frame: the outermost two pixels, all round, changed to a colour of at least 3:1
        w, h = after.width(), after.height()
        edge = [(x, y) for x in range(w) for y in (1, h - 2)] + [(x, y) for y in range(h) for x in (1, w - 2)]
        framed = [(x, y) for x, y in edge
                  if after.pixelColor(x, y) != before.pixelColor(x, y) and contrast(after.pixelColor(x, y), background) >= 3]
        assert len(framed) > 0.6 * len(edge), (control.objectName(), len(framed), len(edge))


def test_high_contrast_is_a_theme_of_the_settings_and_its_text_reads_at_7_to_1(qtbot, themed):
    from poems_monitor.services import preferences
    from poems_monitor.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.theme_combo.setFocus()
    qtbot.keyClick(dialog.theme_combo, Qt.Key.Key_End)
    assert dialog.theme_combo.currentText() == "High contrast"
    qtbot.keyClick(dialog.theme_combo, Qt.Key.Key_Return)
    assert dialog.result() == dialog.DialogCode.Accepted, dialog.message.text()
    assert preferences.load_preferences().theme == "high-contrast"
    assert (preferences.high_contrast_theme(), preferences.dark_theme()) == (True, True)
    t = themed(dark=preferences.dark_theme(), high_contrast=preferences.high_contrast_theme())
    palette = QApplication.instance().palette()
    role = palette.ColorRole
    for fg, bg in ((role.WindowText, role.Window), (role.Text, role.Base), (role.ButtonText, role.Button),
                   (role.HighlightedText, role.Highlight), (role.PlaceholderText, role.Base)):
        assert contrast(palette.color(fg), palette.color(bg)) >= 7, (fg, bg)
    for colour in (t.border, t.accent, t.critical, t.warning, t.info, t.text_muted):
        assert contrast(QColor(colour), QColor(t.window)) >= 4.5, colour


def test_the_system_theme_follows_the_systems_contrast_setting(themed, monkeypatch):
    from poems_monitor.ui import theme as th

    for _ in range(3):  # asking the system more than once (Qt's hints object outlives each question)
        assert themed() in (th.LIGHT, th.DARK)  # offscreen: no contrast preference
    monkeypatch.setattr(th, "system_prefers_high_contrast", lambda: True)
    assert themed() is th.HIGH_CONTRAST
    assert themed(high_contrast=False, dark=False) is th.LIGHT  # an explicit choice wins


# --- 150 % on a 1366x768 screen: 911x512 logical pixels ----------------------------------------------

def test_at_150_percent_on_a_1366x768_screen_the_window_fits_and_nothing_is_cut_off(qtbot, window):
    from poems_monitor.ui.main_window import VIEW_PATIENTS, VIEW_WORKLIST
    from poems_monitor.ui.shell.centre_tabs import TAB_ENTRY

    window.resize(911, 512)  # QT_SCALE_FACTOR=1.5 on 1366x768: the same layout, in logical pixels
    QApplication.processEvents()
    assert (window.width(), window.height()) == (911, 512)
    hint = window.minimumSizeHint()
    assert hint.width() <= 911 and hint.height() <= 512, hint
    window.show_view(VIEW_WORKLIST)
    QApplication.processEvents()
    worklist = window.views.currentWidget()
    assert worklist.minimumSizeHint().width() <= worklist.width()  # its filters side by side, none overlapping
    window.show_view(VIEW_PATIENTS)
    window.show_tab(TAB_ENTRY)
    QApplication.processEvents()
    form = window.entry
    viewport, reach = form.scroll.viewport(), form.scroll.viewport().width() + form.scroll.horizontalScrollBar().maximum()
    cut = [code for code, row in form.rows.items() for w in (row.editor, row.unit_widget, row.previous)
           if w is not None and w.mapTo(form.body, w.rect().topRight()).x() > reach]
    assert cut == [], f"cut off at {viewport.width()} px with no way to scroll to them"
    window.show_tab(0)
    QApplication.processEvents()
    for check in (window.patients.only_flags, window.patients.only_overdue):  # the list's filters, not cut off
        assert check.width() >= check.sizeHint().width(), check.text()
