"""The response per line of therapy under the charts: one compact row per line, one column per
domain (VEGF, haematologic, neurologic, radiologic), each cell the category with a tooltip giving
the rule, the values and their dates (or why it is not evaluable).

Renders only `PatientDashboard.response` (domain/response.py); holds no session.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QSizePolicy, QTableView, QWidget

from poems_monitor.domain.response import DOMAIN_NAMES, LineResponse
from poems_monitor.i18n import tr
from poems_monitor.services.dashboard import PatientDashboard
from poems_monitor.ui.row_table_model import RowTableModel
from poems_monitor.ui.theme import theme

COL_LINE, COL_VEGF, COL_HEM, COL_NEURO, COL_RADIO = range(5)
_DOMAIN_OF = {COL_VEGF: "vegf", COL_HEM: "hematologic", COL_NEURO: "neurologic", COL_RADIO: "radiologic"}
VISIBLE_ROWS = 3  # rows shown before the table scrolls (the charts keep their room)
COMPACT_BELOW_PX = 620  # a trends page lower than this (1366x768 screens) shows one row: the latest line


def _colour(category: str) -> str:
    t = theme()
    if category in ("progression", "worse"):
        return t.critical
    if category in ("complete", "partial", "improved"):
        return t.ok
    if category == "not_evaluable":
        return t.text_muted
    return t.text


def _months(line: LineResponse) -> str:
    """The line's period to the month ('2023-06 – 2024-07', 'since 2023-06'); the tooltip has the days."""
    start = f"{line.start:%Y-%m}"
    if line.ongoing:
        return tr("since {start}").format(start=start)
    end = f"{(line.stop or line.start):%Y-%m}"
    return start if end == start else f"{start} – {end}"


class ResponseTableModel(RowTableModel[LineResponse]):
    headers = {COL_LINE: tr("Response by line"), **{col: DOMAIN_NAMES[d] for col, d in _DOMAIN_OF.items()}}

    def cell(self, row: LineResponse, column: int, role: int):  # noqa: ANN201
        if column == COL_LINE:
            if role == Qt.ItemDataRole.DisplayRole:  # months first: a narrow column elides the regimen's name
                return f"{_months(row)} · {row.label}"
            if role == Qt.ItemDataRole.ToolTipRole:
                return tr("{regimen}, {period}").format(regimen=row.label, period=row.period)
            return None
        domain = getattr(row, _DOMAIN_OF[column])
        if role == Qt.ItemDataRole.DisplayRole:  # the date it holds since is in the tooltip
            return domain.category_name
        if role == Qt.ItemDataRole.ToolTipRole:
            return domain.explanation()
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor(_colour(domain.category))
        if role == Qt.ItemDataRole.FontRole and domain.category in ("progression", "worse"):
            font = QFont()
            font.setBold(True)
            return font
        return None


class ResponseTable(QTableView):
    """Shown below the charts; hidden when the patient has no line of therapy."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("responseTable")
        self.setAccessibleName(tr("Response by line"))
        self.model_ = ResponseTableModel(self)
        self.setModel(self.model_)
        self.verticalHeader().setVisible(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(COL_LINE, QHeaderView.ResizeMode.Stretch)
        for c in _DOMAIN_OF:
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setHighlightSections(False)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip(tr("Hover a cell for the rule, the values and their dates. DEFAULT cut-offs are clinic "
                           "settings, not published ones."))

        self._max_rows = VISIBLE_ROWS

    def set_dashboard(self, d: PatientDashboard) -> None:
        self.model_.set_rows(d.response)
        self.setVisible(bool(d.response))
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 4)
        self.resizeColumnsToContents()
        self.horizontalHeader().setSectionResizeMode(COL_LINE, QHeaderView.ResizeMode.Stretch)
        self.doItemsLayout()  # now, not after the window's next paint (the table painted twice)
        self._fit()

    def fit_to_page(self, page_height: int) -> None:
        """Fewer rows on a low screen, so the charts above keep a readable height."""
        rows = 1 if page_height < COMPACT_BELOW_PX else VISIBLE_ROWS
        if rows != self._max_rows:
            self._max_rows = rows
            self._fit()

    def _fit(self) -> None:
        n = self.model_.rowCount()
        rows = min(max(n, 1), self._max_rows)
        height = self.horizontalHeader().sizeHint().height() + rows * self.verticalHeader().defaultSectionSize()
        self.setFixedHeight(height + 2 * self.frameWidth())
        if n:  # the latest line is the one that matters most: keep it in view
            self.scrollTo(self.model_.index(n - 1, 0), QAbstractItemView.ScrollHint.PositionAtBottom)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt API)
        super().resizeEvent(event)
        if self.model_.rowCount():  # made lower (a low page): the latest line stays the one in view
            self.scrollToBottom()

    def texts(self) -> list[list[str]]:
        """What each row shows, column by column (for tests and screen readers)."""
        m = self.model_
        return [[m.data(m.index(r, c)) for c in range(m.columnCount())] for r in range(m.rowCount(QModelIndex()))]

    def tooltip(self, row: int, column: int) -> str:
        return self.model_.data(self.model_.index(row, column), Qt.ItemDataRole.ToolTipRole)
