"""The patient's follow-up items (overdue, never done, due, due soon) as a compact card."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from poems_monitor.domain.catalogue import FOLLOWUP_ITEM_NAMES, FOLLOWUP_STATUS_NAMES, display_name, followup_status_label
from poems_monitor.i18n import tr
from poems_monitor.local_format import day
from poems_monitor.services.dashboard import PatientDashboard
from poems_monitor.ui.theme import SPACING, theme

STATUS_TEXT = {**{s: followup_status_label(s) for s in FOLLOWUP_STATUS_NAMES}, "": tr("Next")}
ITEM_NAMES = FOLLOWUP_ITEM_NAMES


class _TableLabel(QLabel):
    """A word-wrapped rich-text label that remembers its height for each width until its text,
    font or style changes: Qt lays the whole HTML table out again for every heightForWidth, and
    the layouts around the card (its scroll area, the trends page, the window) ask the same
    width many times while a patient opens (tens of ms each time)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._heights: dict[int, int] = {}

    def setText(self, text: str) -> None:  # noqa: N802 (Qt API)
        if text != self.text():
            self._heights.clear()
            super().setText(text)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt API)
        height = self._heights.get(width)
        if height is None:
            height = self._heights[width] = super().heightForWidth(width)
        return height

    def changeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._heights.clear()
        super().changeEvent(event)


class FollowupCard(QFrame):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        title = QLabel(tr("Follow-up"), self)
        title.setObjectName("section")
        self.body = _TableLabel(self)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.body.setWordWrap(True)
        self.body.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING + 4, SPACING, SPACING + 4, SPACING)
        layout.setSpacing(SPACING)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(self.body)
        self.scroll.setAccessibleName(title.text())
        self.scroll.viewport().setAutoFillBackground(False)
        self.body.setAutoFillBackground(False)
        self.body.setStyleSheet("background: transparent;")
        layout.addWidget(title)
        layout.addWidget(self.scroll, 1)
        self._dashboard: PatientDashboard | None = None
        self._highlight: str | None = None
        self._pending: PatientDashboard | None = None  # given while out of view, not yet drawn

    def highlight(self, item: str) -> None:
        """Bring `item` to attention (opened from the worklist): its row is marked ▶."""
        self.fill_pending()
        self._highlight = item
        if self._dashboard is not None:
            self.set_dashboard(self._dashboard)
        self.scroll.ensureVisible(0, 0)

    def set_dashboard_later(self, d: PatientDashboard) -> None:
        """Take `d` now and draw it at `fill_pending` (the screen calls it once the charts in view
        have painted, and before the card can come into view): laying the card's HTML table out
        is about a tenth of a patient switch, for a card below the fold on a 1366x768 screen."""
        self._pending = d

    def fill_pending(self) -> None:
        """Draw the dashboard given to `set_dashboard_later`, if any (else nothing)."""
        if self._pending is not None:
            d, self._pending = self._pending, None
            self.set_dashboard(d)

    def pending(self) -> bool:
        return self._pending is not None

    def drop_pending(self) -> None:
        """Forget a dashboard given to `set_dashboard_later` (the screen was cleared)."""
        self._pending = None

    def set_dashboard(self, d: PatientDashboard) -> None:
        self._pending = None
        if self._dashboard is None or self._dashboard.mrn != d.mrn:
            self._highlight = None  # a new patient: nothing singled out
        self._dashboard = d
        t = theme()
        if not d.followup:
            self.body.setText(f"<span style='color:{t.text_muted}'>{tr('No follow-up scheduled.')}</span>")
            return
        rows = []
        if not any(i.status for i in d.followup):
            rows.append(f"<tr><td colspan='3' style='color:{t.ok}; padding-bottom:4px'>✓ "
                        f"{tr('Nothing due: every item is up to date.')}</td></tr>")
        for item in d.followup[:12]:
            status = item.status.value if item.status else ""
            colour = t.critical if status in ("overdue", "never_done") else (
                t.warning if status == "due" else (t.info if status else t.text_muted))
            due = tr("due {d}").format(d=day(item.due)) if item.due else ""
            last = tr("last {d}").format(d=day(item.last_done)) if item.last_done else tr("never done")
            name = ITEM_NAMES.get(item.item, display_name(item.item))
            if item.item == self._highlight:
                name = f"▶ <u>{name}</u>"
            rows.append(
                f"<tr><td style='color:{colour}; font-weight:600; padding-right:10px'>{STATUS_TEXT.get(status, status)}</td>"
                f"<td style='font-weight:600; padding-right:10px'>{name}</td>"
                f"<td style='color:{t.text_muted}'>{due} · {last} · <small>{item.reason}</small></td></tr>"
            )
        more = len(d.followup) - 12
        tail = f"<p style='color:{t.text_muted}'>{tr('and {n} more in the worklist').format(n=more)}</p>" if more > 0 else ""
        self.body.setText(f"<table cellspacing='0' cellpadding='2'>{''.join(rows)}</table>{tail}")
