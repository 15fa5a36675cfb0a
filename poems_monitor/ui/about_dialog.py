"""Help › About poems-monitor: the version, the licence (GPL-3.0-or-later), the clinical caution,
and the licences of the third-party software the program runs on.

The third-party text is the bundle's THIRD-PARTY-LICENSES.txt (written by the build from what it
froze); from a source checkout it is read from the installed distributions (importlib.metadata).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QTabWidget, QVBoxLayout, QWidget

from poems_monitor import shipped
from poems_monitor.i18n import tr


def third_party_licences() -> str:
    """The licences of the bundled software: the shipped file, else the installed metadata."""
    path = shipped.find(shipped.LICENCES_NAME)
    if path is not None:
        return path.read_text(encoding="utf-8", errors="replace")
    from poems_monitor.third_party import licences_text

    return licences_text()


class AboutDialog(QDialog):
    """Two tabs: what poems-monitor is and under which licence; the third-party licences."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(tr("About poems-monitor"))
        self.resize(720, 520)
        build = shipped.build_stamp() or {}
        built = (tr("Built {when} from {commit}.").format(when=build["built_at"], commit=build.get("commit", "?"))
                 if build.get("built_at") else tr("Running from the source code."))
        self.summary = QLabel(tr(
            "<h2>poems-monitor {version}</h2>"
            "<p>Follow-up of patients with POEMS syndrome.</p>"
            "<p>Free software under the GNU General Public License, version 3 or later ({licence}): you may "
            "use, study, share and change it; it comes with no warranty.</p>"
            "<p><b>Rules are research notes, not clinical guidance:</b> every flag and interval needs "
            "clinician review.</p>").format(version=shipped.version(), licence=shipped.LICENCE) + f"<p>{built}</p>")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setAccessibleName(tr("About poems-monitor"))

        self.licences = QPlainTextEdit(third_party_licences())
        self.licences.setReadOnly(True)
        self.licences.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.licences.setAccessibleName(tr("Third-party licences"))

        about_page = QWidget()
        about_layout = QVBoxLayout(about_page)
        about_layout.addWidget(self.summary)
        about_layout.addStretch(1)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName(tr("About poems-monitor"))
        self.tabs.addTab(about_page, tr("&About"))
        self.tabs.addTab(self.licences, tr("&Third-party licences"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(buttons)
