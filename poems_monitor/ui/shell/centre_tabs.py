"""The centre of the patients view: the selected patient's dashboard and the visit entry form,
as two tabs.

Owns the entry form's life in the window: it is built when first needed (building it with the
window froze a just-opened window for about a second on a 2-core machine), its tab's title marks
unsaved changes, and leaving the entry tab with unsaved changes asks the form first (save,
discard or stay). Which patient the form loads is the window's business (`entryShown`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from poems_monitor.i18n import tr

if TYPE_CHECKING:
    from poems_monitor.ui.entry import VisitEntryForm  # (built by the window, on first use)

TAB_DASHBOARD, TAB_ENTRY = 0, 1


class CentreTabs(QTabWidget):
    """`dashboard` and the form `make_form()` builds on first use. Emits `entryShown` when the
    entry tab is chosen and `dirtyChanged(bool)` when the form's unsaved state changes."""

    entryShown = Signal()
    dirtyChanged = Signal(bool)

    def __init__(self, dashboard: QWidget, make_form: Callable[[], VisitEntryForm], parent: QWidget | None = None):
        super().__init__(parent)
        self.setDocumentMode(True)
        self._make_form = make_form
        self._form: VisitEntryForm | None = None
        self._placeholder = QWidget()
        self.addTab(dashboard, tr("Dashboard"))
        self.addTab(self._placeholder, tr("Visit entry"))
        self._last = TAB_DASHBOARD
        self.currentChanged.connect(self._on_tab)

    @property
    def form(self) -> VisitEntryForm:
        """The visit entry form (built on first use, so start-up stays quick)."""
        if self._form is None:
            self._form = self._make_form()
            self._form.dirtyChanged.connect(self._on_dirty)
            self.blockSignals(True)
            current = self.currentIndex()
            self.removeTab(TAB_ENTRY)
            self.insertTab(TAB_ENTRY, self._form, tr("Visit entry"))
            self.setCurrentIndex(current)
            self.blockSignals(False)
            self._placeholder.deleteLater()
        return self._form

    def has_unsaved_entry(self) -> bool:
        return self._form is not None and self._form.has_unsaved_changes()

    def unsaved_entry(self) -> str | None:
        """The visit being entered, in words, when it has unsaved changes (None: nothing unsaved)."""
        if self._form is None or not self.has_unsaved_entry():
            return None
        return tr("a visit being entered for {mrn}").format(mrn=self._form.mrn or "?")

    def show_quietly(self, index: int) -> None:
        """Show tab `index` without the checks and loading that choosing it brings."""
        if self.currentIndex() != index:
            self.blockSignals(True)
            self.setCurrentIndex(index)
            self.blockSignals(False)
        self._last = index

    def may_leave_entry(self) -> bool:
        """True when nothing would be lost; else shows the form and lets it ask."""
        if not self.has_unsaved_entry():
            return True
        self.show_quietly(TAB_ENTRY)
        return bool(self.form.maybe_leave())

    def _on_tab(self, index: int) -> None:
        if self._last == TAB_ENTRY and index != TAB_ENTRY and not self.may_leave_entry():
            self.blockSignals(True)
            self.setCurrentIndex(TAB_ENTRY)
            self.blockSignals(False)
            return
        self._last = index
        if index == TAB_ENTRY:
            self.entryShown.emit()

    def _on_dirty(self, dirty: bool) -> None:
        self.setTabText(self.indexOf(self.form), tr("Visit entry •") if dirty else tr("Visit entry"))
        self.dirtyChanged.emit(dirty)
