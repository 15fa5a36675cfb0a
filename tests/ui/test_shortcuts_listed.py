"""Help › Keyboard shortcuts and the user guide list every shortcut there is: each one the main
window's commands declare (`ui/shell/actions.action_specs`, so a new command's key cannot be
forgotten), each one the parts built on first use make (the visit entry form), and each key a
widget handles itself (a feature's P/A/N, a flag's Ctrl+C)."""

from __future__ import annotations

import html
import re

import pytest
from PySide6.QtGui import QKeySequence

from poems_monitor.services.timeline_io import import_patients
from poems_monitor.shipped import CHECKOUT_RESOURCES, GUIDE_INDEX
from poems_monitor.ui.shell.actions import action_specs
from poems_monitor.ui.shortcuts_help import collect_shortcuts
from tests.conftest import TODAY

# The dedicated Save key of some keyboards: Qt's second binding of Ctrl+S, not worth a guide line.
SECOND_BINDINGS = {"Save"}


def declared_keys() -> dict[str, str]:
    """Each command's key as the platform writes it -> its words, from the declarations: the
    shortcut, or the key a menu shows after a tab for a command a widget handles ("…\\tCtrl+S")."""
    keys = {}
    for spec in action_specs():
        text, _, shown = spec.text.partition("\t")
        key = spec.shortcut or shown or None
        if key is None:
            continue
        sequence = QKeySequence(key)  # a StandardKey: its first (the platform's main) binding
        keys[sequence.toString(QKeySequence.SequenceFormat.NativeText)] = text.replace("&", "").rstrip("…")
    return keys


def guide_keys() -> set[str]:
    """Every key combination in the guide's table of shortcuts ("Alt+1 … Alt+9" counts as nine)."""
    page = (CHECKOUT_RESOURCES / GUIDE_INDEX).read_text(encoding="utf-8")
    table = page[page.index('<table id="keys-table">'):]
    table = table[:table.index("</table>")]
    found = set()
    for cell in re.findall(r"<tr><td>(.*?)</td>", table):
        text = html.unescape(re.sub(r"<[^>]+>", "", cell))
        for alternative in text.split(" / "):
            if " … " in alternative:
                first, last = alternative.split(" … ")
                prefix = first.rstrip("0123456789")
                found |= {f"{prefix}{n}" for n in range(int(first[len(prefix):]), int(last[len(prefix):]) + 1)}
            else:
                found.add(alternative.strip())
    return found


def _same_key(key: str) -> str:
    return "Enter" if key == "Return" else key  # the guide says Enter for both keys


@pytest.fixture
def window(qtbot, db, admin, physician):
    from poems_monitor.services.demo_clinic import generate_patients
    from poems_monitor.ui.main_window import MainWindow

    import_patients(db, generate_patients(2, 3, TODAY), admin, reason="test")
    main = MainWindow(db, physician, as_of=TODAY)
    qtbot.addWidget(main)
    main.show()
    return main


def test_every_declared_command_key_is_in_the_dialog_with_its_words(window):
    declared = declared_keys()
    assert {"Ctrl+Shift+N", "Ctrl+S", "Shift+F1", "Ctrl+,"} <= set(declared)  # the declarations are read
    rows = collect_shortcuts(window)  # as the dialog does when it opens: the entry form not opened yet
    keys = {r.keys for r in rows}
    assert not [key for key in declared if key not in keys], [key for key in declared if key not in keys]
    # a command with a shortcut of its own is listed under its own words
    own = {QKeySequence(s.shortcut).toString(QKeySequence.SequenceFormat.NativeText): s.text.replace("&", "").rstrip("…")
           for s in action_specs() if s.shortcut is not None}
    wrong = [(key, words) for key, words in own.items() if not any(r.keys == key and r.does == words for r in rows)]
    assert not wrong, wrong
    # the form's own keys are there although the form was never shown; so are keys widgets handle
    assert {"Ctrl+S", "Ctrl+PgDown", "Alt+1", "P", "Ctrl+C"} <= keys
    assert next(r for r in rows if r.keys == "Ctrl+S").where == "Visit entry"


def test_the_guide_lists_every_key_the_dialog_lists(window):
    in_guide = guide_keys()
    missing_declared = [key for key in declared_keys() if _same_key(key) not in in_guide]
    assert not missing_declared, f"the user guide's table lacks {missing_declared}"
    dialog_keys = {_same_key(k.strip()) for r in collect_shortcuts(window) for k in r.keys.split(" / ")}
    missing = sorted(dialog_keys - in_guide - SECOND_BINDINGS)
    assert not missing, f"the user guide's table lacks {missing}"
