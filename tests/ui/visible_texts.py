"""Every text the dashboard, the visit entry form and the worklist show, as JSON on stdout.

Run in its own process (`LANGUAGE=ja python tests/ui/visible_texts.py DB_DIR`) because the
catalogue translates its words when it is imported: the language must be chosen before. Also lists
the messages tr() was asked for that the catalogue lacks. Collects what a person reads or hears: widget texts, titles, tooltips, accessible names, window titles,
every cell and header of every item view (DisplayRole, ToolTipRole), and the texts drawn inside
the charts (axis labels, event and threshold labels)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path


def _widget_texts(root) -> set[str]:  # noqa: ANN001
    from PySide6.QtCore import QModelIndex, Qt
    from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QComboBox, QGraphicsTextItem, QGraphicsView,
                                   QGroupBox, QLabel, QLineEdit, QTabWidget, QWidget)

    texts: set[str] = set()
    for w in [root, *root.findChildren(QWidget)]:
        if not w.isVisibleTo(root) and w is not root:
            continue
        texts.update({w.toolTip(), w.accessibleName(), w.accessibleDescription(), w.windowTitle()})
        if isinstance(w, (QLabel, QAbstractButton)):
            texts.add(w.text())
        if isinstance(w, QGroupBox):
            texts.add(w.title())
        if isinstance(w, QLineEdit):
            texts.add(w.placeholderText())
        if isinstance(w, QComboBox):
            texts.update(w.itemText(i) for i in range(w.count()))
        if isinstance(w, QTabWidget):
            texts.update(w.tabText(i) for i in range(w.count()))
        if isinstance(w, QAbstractItemView) and w.model() is not None:
            model = w.model()
            root_index = QModelIndex()
            try:
                columns = model.columnCount(root_index)
            except TypeError:  # a list model keeps columnCount private: one column
                columns = 1
            for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                for c in range(columns):
                    texts.add(str(model.headerData(c, Qt.Orientation.Horizontal, role) or ""))
                for r in range(min(model.rowCount(root_index), 400)):
                    index = model.index(r, 0)
                    texts.add(str(model.data(index, role) or ""))
                    for c in range(columns):
                        texts.add(str(model.data(model.index(r, c), role) or ""))
                    for child in range(model.rowCount(index)):
                        texts.add(str(model.data(model.index(child, 0, index), role) or ""))
        if isinstance(w, QGraphicsView) and w.scene() is not None:
            for item in w.scene().items():
                if isinstance(item, QGraphicsTextItem):
                    texts.add(item.toPlainText())
    return {t.strip() for t in texts if t and t.strip()}


def _record_unknown_messages() -> set[str]:
    """Every message `tr()`/`ntr()` is asked for that the catalogue does not hold (a string passed
    to tr() that extraction never saw), whichever catalogue object the app loads: recorded on the
    class, from the first import on."""
    import gettext

    package = str(Path(__file__).resolve().parents[2] / "poems_monitor")
    passing = ("i18n.py", "qt_translation.py")  # tr() itself and the bridge from Qt's self.tr()

    def from_the_app() -> bool:  # pyqtgraph's and Qt's own self.tr() are not the project's text
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.endswith(passing):
            frame = frame.f_back
        return frame is not None and frame.f_code.co_filename.startswith(package)

    asked: set[str] = set()
    plain, plural = gettext.GNUTranslations.gettext, gettext.GNUTranslations.ngettext

    def recording_gettext(self, message: str) -> str:  # noqa: ANN001
        if message and message not in self._catalog and from_the_app():
            asked.add(message)
        return plain(self, message)

    def recording_ngettext(self, singular: str, plural_text: str, n: int) -> str:  # noqa: ANN001
        if (singular, 0) not in self._catalog and from_the_app():
            asked.add(singular)
        return plural(self, singular, plural_text, n)

    gettext.GNUTranslations.gettext, gettext.GNUTranslations.ngettext = recording_gettext, recording_ngettext
    return asked


def main(folder: str) -> None:
    unknown = _record_unknown_messages()  # before any other module of the app is imported
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from poems_monitor.services.access import Actor, Role
    from poems_monitor.services.clinic_database import open_clinic_database
    from poems_monitor.services.dashboard import richest_patient
    from poems_monitor.services.demo_clinic import create_demo_clinic
    from poems_monitor.ui.main_window import TAB_DASHBOARD, TAB_ENTRY, VIEW_WORKLIST, MainWindow
    from poems_monitor.ui.qt_translation import install_translators

    app = QApplication.instance() or QApplication([])
    install_translators(app)
    db = open_clinic_database(Path(folder) / "clinic.sqlite")
    actor = Actor("demo-physician", Role.PHYSICIAN)
    create_demo_clinic(db, 12, seed=1, actor=actor, today=date(2026, 12, 2))
    window = MainWindow(db, actor, background=False, remember_layout=False)
    window.resize(1366, 768)
    window.show()
    app.processEvents()
    mrn = richest_patient(db)
    window.open_patient(mrn)
    screens: dict[str, list[str]] = {}
    window.show_tab(TAB_DASHBOARD)
    for _ in range(3):
        app.processEvents()
    screens["dashboard"] = sorted(_widget_texts(window))
    window.show_tab(TAB_ENTRY)
    window.entry.load_new(mrn)
    app.processEvents()
    screens["entry"] = sorted(_widget_texts(window.entry))
    loop = QEventLoop()
    window.worklist.loaded.connect(lambda *_: loop.quit())
    QTimer.singleShot(60000, loop.quit)
    window.show_view(VIEW_WORKLIST)
    loop.exec()
    app.processEvents()
    screens["worklist"] = sorted(_widget_texts(window.worklist))
    screens["asked, not in the catalogue"] = sorted(unknown)
    json.dump(screens, sys.stdout, ensure_ascii=False)
    window.close()


if __name__ == "__main__":
    main(sys.argv[1])
