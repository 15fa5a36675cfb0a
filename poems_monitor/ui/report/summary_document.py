"""The printable patient summary: one QTextDocument, painted page by page onto a PDF writer or
a printer (the print preview shows exactly what the PDF holds).

Owns the page: A4 or Letter, margins, a running header from page 2 on, and a footer on every
page with the provenance ("generated on, by, from database"), the page number and the clinical
caution. The content comes from `services.patient_summary` (Qt-free); the trend charts are the
dashboard's own chart classes drawn offscreen at 300 dpi (`chart_export`) and added to the
document as image resources, one table per row of two charts. Each row is kept whole (never cut
across pages); the trends start where the sections before them end when their first row fits
there, otherwise the latest values (which flow across pages) come first and fill the page; a
section heading that would end a page is moved to the next.

Works offscreen, without CUPS: `write_patient_summary` needs only a QGuiApplication.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from html import escape
from pathlib import Path

from PySide6.QtCore import QBuffer, QMarginsF, QPointF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QColor, QFont, QPageLayout, QPageSize, QPagedPaintDevice, QPainter, QPdfWriter, QPen, QTextCursor,
    QTextDocument, QTextFormat, QTextOption,
)

from poems_monitor.domain.catalogue import FLAG_KIND_NAMES, FOLLOWUP_STATUS_NAMES, SEVERITY_NAMES
from poems_monitor.domain.response import DOMAIN_NAMES, DOMAINS
from poems_monitor.domain.followup import Status
from poems_monitor.i18n import tr
from poems_monitor.services.patient_summary import PatientSummary, build_patient_summary, followup_name
from poems_monitor.ui.report.chart_export import DEFAULT_DPI, build_print_chart, print_theme, render_plot_image

PAGE_SIZES = {"A4": QPageSize.PageSizeId.A4, "Letter": QPageSize.PageSizeId.Letter}
MARGINS_MM = QMarginsF(16, 12, 16, 11)  # left, top, right, bottom
HEADER_MM = 9.0  # running header band (pages 2 and later; page 1 has the identity block)
FOOTER_MM = 15.0
CHART_GAP_MM = 5.0
CHART_HEIGHT_MM = 54.0
FONT_FAMILIES = ["DejaVu Sans", "Noto Sans", "Liberation Sans", "Arial", "Helvetica"]

# Print colours (light, ink-friendly; the same Okabe–Ito hues as the screen).
INK = "#1C2430"
MUTED = "#5B6676"
RULE = "#C9CED6"
SHADE = "#F1F3F6"
ACCENT = "#0B5E95"
CRITICAL = "#B34700"
WARNING = "#8A5D00"
OK = "#00795A"

SEVERITY_TEXT = SEVERITY_NAMES  # one list, in the catalogue
SEVERITY_COLOUR = {"critical": CRITICAL, "warning": WARNING, "info": ACCENT}
KIND_TEXT = FLAG_KIND_NAMES  # one list, in the catalogue
SEX_TEXT = {"female": tr("female"), "male": tr("male"), "other": tr("other sex"), "unknown": tr("sex unknown")}


def page_layout(page_size: str) -> QPageLayout:
    if page_size not in PAGE_SIZES:
        raise ValueError(tr("Page size must be A4 or Letter, not {size}").format(size=page_size))
    return QPageLayout(QPageSize(PAGE_SIZES[page_size]), QPageLayout.Orientation.Portrait, MARGINS_MM,
                       QPageLayout.Unit.Millimeter)


def print_font(point_size: float = 8.4) -> QFont:
    font = QFont()
    font.setFamilies(FONT_FAMILIES)
    font.setPointSizeF(point_size)
    font.setStyleHint(QFont.StyleHint.SansSerif)
    # No ligatures: "ﬀ"/"ﬁ" glyphs make the PDF's text unsearchable ("effusion" would not be found).
    for tag in ("liga", "clig"):
        font.setFeature(QFont.Tag(tag), 0)
    return font


def _e(text: object) -> str:
    return escape(str(text)) if text is not None else ""


def _d(day: date | None, missing: str = "–") -> str:
    return day.isoformat() if day else missing


# ---------------------------------------------------------------------------------------------
# Content (HTML for QTextDocument's subset)
# ---------------------------------------------------------------------------------------------

_CSS = f"""
body {{ color: {INK}; }}
h1 {{ font-size: 15pt; font-weight: 700; margin: 0; }}
h2 {{ font-size: 10.5pt; font-weight: 700; color: {ACCENT}; margin-top: 16px; margin-bottom: 5px; }}
h3 {{ font-size: 8.8pt; font-weight: 700; margin: 0; }}
p {{ margin-top: 0; margin-bottom: 3pt; }}
table.grid {{ border-collapse: collapse; border-color: {RULE}; }}
table.grid th {{ background-color: {SHADE}; color: {MUTED}; font-weight: 600; text-align: left; font-size: 7.6pt; }}
table.grid td {{ vertical-align: top; }}
.muted {{ color: {MUTED}; }}
.small {{ font-size: 7.4pt; }}
.fact {{ color: {MUTED}; font-size: 6.8pt; }}
"""


@dataclass
class _TableBreaks:
    """The rows that must start a page, as `SummaryDocument.lay_out` found them: (table number,
    row number) pairs. `_table` numbers the tables it writes in document order and marks each
    row's first cell with an anchor `row-<table>-<row>`, so the layout can name a row it cut."""

    rows: frozenset = frozenset()
    count: int = 0


_BREAKS: ContextVar[_TableBreaks | None] = ContextVar("summary_table_breaks", default=None)
ROW_ANCHOR = "row-"


def _table(headers: list[str], rows: list[list[str]], widths: list[int] | None = None) -> str:
    """A grid table; where the layout asked for it, continued on a new page as a second table
    with the same header, so that no row is ever cut between two pages."""
    breaks = _BREAKS.get() or _TableBreaks()
    number = breaks.count
    breaks.count += 1
    head = "".join(
        f"<th{f' width={widths[i]}%' if widths else ''}>{_e(h)}</th>" for i, h in enumerate(headers))

    def opening(new_page: bool) -> str:
        style = "margin-bottom: 4pt" + ("; page-break-before: always" if new_page else "")
        return (f"<table class='grid' width='100%' border='0.5' cellspacing='0' cellpadding='3' style='{style}'>"
                f"<thead><tr>{head}</tr></thead>")

    out = [opening(False)]
    for i, row in enumerate(rows):
        if i and (number, i) in breaks.rows:
            out.append("</table>" + opening(True))
        cells = [f"<a name='{ROW_ANCHOR}{number}-{i}'></a>{row[0]}", *row[1:]] if row else row
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _identity(s: PatientSummary) -> str:
    d = s.dashboard
    age = tr("{n} years").format(n=d.age) if d.age is not None else tr("age unknown")
    born = tr("born {d}").format(d=d.birth_date.isoformat()) if d.birth_date else tr("birth date not recorded")
    identity = " · ".join((f"<b>{tr('MRN')} {_e(d.mrn)}</b>", _e(age), _e(SEX_TEXT.get(d.sex, d.sex)), _e(born)))
    fulfilled = d.criteria.fulfilled_on is not None
    criteria_colour = OK if fulfilled else WARNING
    new = len(d.unacknowledged)
    flags = tr("{n} to review · {total} in all").format(n=new, total=len(d.flags)) if d.flags else tr("none")
    overdue = len(s.overdue)
    facts = [
        (tr("Diagnosis"), _e(_d(d.diagnosis_date, tr("not recorded")))),
        (tr("Diagnostic criteria"), f"<span style='color:{criteria_colour}'>{_e(d.criteria_status)}</span>"),
        (tr("Current therapy"), _e(d.current_therapy)),
        (tr("Thromboprophylaxis"), _e(d.thromboprophylaxis)),
        (tr("Last visit"), _e(f"{_d(d.last_visit, tr('none'))} ({d.since_last_visit})")),
        (tr("Visits · values"), _e(f"{len(d.visit_dates)} · {d.value_count}")),
        (tr("Flags"), f"<span style='color:{CRITICAL if new else INK}'>{_e(flags)}</span>"),
        (tr("Follow-up overdue"), f"<span style='color:{CRITICAL if overdue else INK}'>"
                                  f"{_e(overdue if overdue else tr('none'))}</span>"),
    ]
    cells = []
    for i in range(0, len(facts), 4):
        row = "".join(
            f"<td width='25%'><span class='fact'>{_e(name.upper())}</span><br>{value}</td>" for name, value in facts[i:i + 4])
        cells.append(f"<tr>{row}</tr>")
    return (
        "<table width='100%' cellspacing='0' cellpadding='0'><tr>"
        f"<td><h1>{_e(d.name)}</h1><p>{identity}</p></td>"
        f"<td align='right' class='muted'>{_e(tr('POEMS syndrome · patient summary'))}<br>"
        f"<b style='color:{INK}'>{_e(tr('as of {d}').format(d=s.as_of.isoformat()))}</b></td>"
        "</tr></table>"
        f"<table width='100%' cellspacing='0' cellpadding='4' style='background-color:{SHADE}; margin-top:6pt; margin-bottom: 4pt'>"
        f"{''.join(cells)}</table>"
    )


def _criteria(s: PatientSummary) -> str:
    rows = []
    for c in s.criteria:
        if c.klass == tr("other"):
            continue
        used = "✓" if c.used else ""
        when = _d(c.first_documented, "")
        status = (f"<b>{when}</b>" if when else f"<span class='muted'>{_e(tr('not documented'))}</span>")
        features = _e(", ".join(c.features))
        if c.note and c.first_documented is None:
            features = f"<span class='muted small'>{_e(c.note)}</span>"
        rows.append([f"{c.number or ''}", _e(c.name), _e(c.klass), status, features,
                     f"<span style='color:{OK}'>{used}</span>"])
    d = s.dashboard
    head = f"<p>{_e(d.criteria_status)}."
    if d.criteria.used:
        head += " " + _e(tr("Criteria used: {used}.").format(used=", ".join(c.name for c in d.criteria.used)))
    head += "</p>"
    for nc in d.criteria.not_counted:
        text = (tr('{feature} (from {d}) is not counted towards {criterion}: {reason}.') if nc.reason
                else tr('{feature} (from {d}) does not count towards {criterion} on its own.'))
        head += (f"<p class='muted small'>{_e(text.format(feature=nc.feature.replace('_', ' ').capitalize(), d=nc.first_present.isoformat(), criterion=nc.criterion.replace('_', ' '), reason=nc.reason.rstrip('.')))}</p>")
    return (f"<h2>{_e(tr('Diagnostic criteria'))}</h2>{head}"
            + _table([tr("#"), tr("Criterion"), tr("Class"), tr("First documented"), tr("Features then"), tr("Used")],
                     rows, [4, 30, 11, 15, 34, 6]))


def _flag_rows(entries, with_review: bool) -> list[list[str]]:  # noqa: ANN001
    rows = []
    for entry in entries:
        f = entry.flag
        severity = f.severity.value
        colour = MUTED if entry.acknowledged else SEVERITY_COLOUR.get(severity, ACCENT)
        kind = KIND_TEXT.get(f.kind.value, f.kind.value.replace("_", " ").capitalize())
        explanation = f"{_e(f.message)}<br><span class='muted small'>{_e(tr('rule: {rule}').format(rule=f.rule))}</span>"
        if with_review and entry.review is not None:
            r = entry.review
            when = r.reviewed_at.strftime("%Y-%m-%d") if r.reviewed_at else ""
            review = tr("Acknowledged by {who} on {when}").format(who=r.reviewed_by, when=when)
            if r.comment:
                review += f": “{r.comment}”"
            explanation += f"<br><span style='color:{OK}' class='small'>✓ {_e(review)}</span>"
        rows.append([
            _e(f.date.isoformat()),
            f"<span style='color:{colour}; font-weight:600'>{_e(SEVERITY_TEXT.get(severity, severity))}</span><br>"
            f"{_e(kind)}",
            explanation,
        ])
    return rows


def _open_flags(s: PatientSummary) -> str:
    title = f"<h2>{_e(tr('Flags to review'))} ({len(s.open_flags)})</h2>"
    if not s.open_flags:
        return title + f"<p class='muted'>{_e(tr('No flag awaits review: every flag has been acknowledged by a physician.') if s.dashboard.flags else tr('No flags.'))}</p>"
    return title + _table([tr("Since"), tr("Flag"), tr("Explanation")], _flag_rows(s.open_flags, False), [11, 16, 73])


def _acknowledged_flags(s: PatientSummary) -> str:
    entries = s.acknowledged_flags
    if not entries:
        return ""
    return (f"<h2>{_e(tr('Acknowledged flags'))} ({len(entries)})</h2>"
            + _table([tr("Since"), tr("Flag"), tr("Explanation and acknowledgement")], _flag_rows(entries, True),
                     [11, 16, 73]))


def _action_items(s: PatientSummary) -> str:
    title = f"<h2>{_e(tr('Follow-up due'))}</h2>"
    if not s.action_items:
        return title + f"<p style='color:{OK}'>✓ {_e(tr('Nothing overdue or due: every follow-up item is up to date.'))}</p>"
    rows = []
    for i in s.action_items:
        urgent = i.status in (Status.OVERDUE, Status.NEVER_DONE)
        colour = CRITICAL if urgent else (WARNING if i.status is Status.DUE else ACCENT)
        status = FOLLOWUP_STATUS_NAMES.get(i.status, "")
        rows.append([
            f"<span style='color:{colour}; font-weight:600'>{_e(status)}</span>", _e(followup_name(i.item)),
            _e(_d(i.due)), _e(_d(i.last_done, tr("never"))), f"<span class='small'>{_e(i.reason)}</span>",
        ])
    return title + _table([tr("Status"), tr("Item"), tr("Due"), tr("Last done"), tr("Why")], rows, [12, 20, 11, 11, 46])


def _legend(series) -> str:  # noqa: ANN001
    from poems_monitor.ui.theme import series_colour, series_style

    glyphs = {"o": "●", "s": "■", "t": "▼", "d": "◆", "star": "★", "+": "+", "x": "×"}
    dashes = {Qt.PenStyle.SolidLine: "—", Qt.PenStyle.DashLine: "– –", Qt.PenStyle.DotLine: "···"}
    parts = []
    for s in series:
        style = series_style(s.code)
        mark = f"{dashes.get(style.dash, '-·-')} {glyphs.get(style.symbol, '●')}"
        parts.append(f"<span style='color:{series_colour(s.code)}'>{mark}</span>&nbsp;{_e(s.name)} ({_e(s.unit)})")
    legend = "&nbsp;&nbsp; ".join(parts)
    # a line breaks only where the source really changed; say where and what, never in general
    breaks = [tr("{series}: the line breaks on {date} ({what} {before} → {after})").format(
        series=s.name, date=b.date.isoformat(), what=b.what, before=b.before, after=b.after)
        for s in series for b in s.breaks]
    if breaks:
        legend += "<br><span class='muted'>" + _e("; ".join(breaks)) + "</span>"
    return legend


@dataclass
class ChartFigure:
    key: str
    title: str
    legend: str  # HTML
    url: str
    width_px: float  # CSS pixels (96 per inch) in the document
    height_px: float


def _charts(s: PatientSummary, figures: list[ChartFigure], empty: list[str]) -> str:
    out = [f"<h2>{_e(tr('Trends'))}</h2>",
           f"<p class='muted small'>{_e(tr('Shaded bands: lines of therapy; solid vertical lines: ASCT and radiotherapy; dotted lines: events (✚ thrombosis); green band: reference range; dashed lines: protocol thresholds; ringed points: values that raised a flag. A line breaks only where the specimen, laboratory or method changed; the chart then says where.'))}</p>"]
    cells = []
    for f in figures:
        cells.append(
            f"<td width='50%' valign='top'><h3>{_e(f.title)}</h3><p class='small'>{f.legend}</p>"
            f"<img src='{f.url}' width='{f.width_px:.0f}' height='{f.height_px:.0f}'></td>")
    if empty:
        cells.append(f"<td width='50%' valign='top'><h3>{_e(tr('Not charted'))}</h3><p class='muted small'>"
                     f"{_e(tr('No values recorded for: {charts}.').format(charts=', '.join(empty)))}</p></td>")
    # one table per row of charts: the layout keeps each row whole on a page (see `_keep_together`)
    for i in range(0, len(cells), 2):
        out.append(f"<table width='100%' cellspacing='0' cellpadding='0' style='margin-bottom: 4px'>"
                   f"<tr>{''.join(cells[i:i + 2])}</tr></table>")
    if not figures:
        out.append(f"<p class='muted'>{_e(tr('No chart values recorded yet.'))}</p>")
    return "".join(out)


def _latest(s: PatientSummary) -> str:
    title = f"<h2>{_e(tr('Latest values'))}</h2>"
    if not s.latest:
        return title + f"<p class='muted'>{_e(tr('No values recorded.'))}</p>"
    rows = []
    group = None
    any_default = False
    for v in s.latest:
        if v.group != group:
            group = v.group
            rows.append([f"<b class='muted'>{_e(group)}</b>", "", "", "", "", ""])
        colour = CRITICAL if v.mark else INK
        mark = f" <b style='color:{CRITICAL}'>{v.mark}</b>" if v.mark else ""
        ref = _e(v.reference)
        if v.reference_default and v.reference:
            ref += " †"
            any_default = True
        note = []
        if v.specimen:
            note.append(v.specimen)
        if v.entered:
            note.append(tr("entered as {e}").format(e=v.entered))
        rows.append([_e(v.name), f"<span style='color:{colour}'><b>{_e(v.value)}</b></span>{mark}", _e(v.unit), ref,
                     _e(v.date.isoformat()), f"<span class='small muted'>{_e(', '.join(note))}</span>"])
    table = _table([tr("Measure"), tr("Value"), tr("Unit"), tr("Reference"), tr("Date"), tr("Note")], rows,
                   [30, 13, 14, 15, 12, 16])
    foot = f"<p class='muted small'>{_e(tr('H / L: above / below the reference range.'))}"
    if any_default:
        foot += " " + _e(tr("† DEFAULT range (a typical adult range or a clinic setting, not your laboratory's): review locally."))
    foot += "</p>"
    return title + table + foot


def _treatments(s: PatientSummary) -> str:
    title = f"<h2>{_e(tr('Treatments'))}</h2>"
    if not s.treatments:
        return title + f"<p class='muted'>{_e(tr('No treatment recorded.'))}</p>"
    rows = []
    for t in s.treatments:
        kind = tr("one-off") if t.one_off else (tr("line of therapy") if t.line_of_therapy else tr("supportive"))
        rows.append([f"<b>{_e(t.name)}</b>", _e(t.period).replace(" ", "&nbsp;"), _e(kind), _e(t.thromboprophylaxis),
                     f"<span class='small'>{_e(t.detail)}</span>"])
    melphalan = ""
    if s.melphalan_line:  # alkylator exposure and its caution, under the table it sums up
        melphalan = (f"<p class='small'><b>{_e(s.melphalan_line)}</b> "
                     f"<span style='color:{WARNING}'>{_e(s.melphalan_caution)}</span></p>")
    return title + _table([tr("Treatment"), tr("Period"), tr("Kind"), tr("Thromboprophylaxis"), tr("Details")], rows,
                          [29, 25, 15, 19, 12]) + melphalan


def _response(s: PatientSummary) -> str:
    """The response per line of therapy (the dashboard's table, with on paper what the screen
    shows in tooltips: since when, the values and dates, the rule) and the patient's status."""
    title = f"<h2>{_e(tr('Response by line of therapy'))}</h2>"
    status = s.patient_status
    head = ""
    if status is not None:
        colour = WARNING if status.status in ("suspected", "relapse", "lost_to_follow_up") else (
            OK if status.status in ("responding", "remission") else INK)
        head = (f"<p><b>{_e(tr('Patient status'))}:</b> <span style='color:{colour}; font-weight:600'>"
                f"{_e(status.headline)}</span>. {_e(status.explanation)} "
                f"<span class='muted small'>{_e(tr('Rule: {rule}').format(rule=status.rule))}</span></p>")
    if not s.response:
        return title + head + f"<p class='muted'>{_e(tr('No line of therapy recorded.'))}</p>"
    rows = []
    for line in s.response:
        cells = [f"<b>{_e(line.label)}</b><br><span class='small'>{_e(line.period)}</span>"]
        for d in line.domains:
            colour = CRITICAL if d.category in ("progression", "worse") else (
                OK if d.responding else (MUTED if d.category == "not_evaluable" else INK))
            since = f" {_e(tr('since {d}').format(d=d.since.isoformat()))}" if d.since else ""
            detail = "; ".join(x for x in (d.reason, d.evidence) if x)
            rule = "" if d.category == "not_evaluable" else (  # the reason says it more precisely
                f"<br><span class='muted small'>{_e(tr('Rule: {rule}').format(rule=d.rule))}</span>")
            cells.append(f"<span style='color:{colour}; font-weight:600'>{_e(d.category_name)}</span>"
                         f"<span class='small'>{since}</span><br><span class='small'>{_e(detail)}</span>{rule}")
        rows.append(cells)
    foot = (f"<p class='muted small'>{_e(tr('Oldest line first. A line is judged on the values after its start up to the next line; its baseline is the last value before it started. Cut-offs marked DEFAULT are clinic settings of the protocol: the published response criteria were not retrieved.'))}</p>")
    return title + head + _table([tr("Line"), *(DOMAIN_NAMES[d] for d in DOMAINS)],
                                 rows, [16, 21, 21, 21, 21]) + foot


def _events(s: PatientSummary) -> str:
    title = f"<h2>{_e(tr('Events'))}</h2>"
    if not s.events:
        return title + f"<p class='muted'>{_e(tr('No events recorded.'))}</p>"
    rows = [[_e(e.date.isoformat()),
             (f"<span style='color:{CRITICAL}'>✚ </span>" if e.thrombotic else "") + _e(e.name),
             f"<span class='small'>{_e(e.note)}</span>"] for e in s.events]
    return title + _table([tr("Date"), tr("Event"), tr("Note")], rows, [14, 30, 56])


def _about(s: PatientSummary) -> str:
    defaults = tr("{n} of its thresholds and intervals are DEFAULT values (not from the literature): review them "
                  "locally.").format(n=s.default_settings) if s.default_settings else ""
    return (f"<h2>{_e(tr('About this summary'))}</h2>"
            f"<p class='small'>{_e(s.caution)}</p>"
            f"<p class='small muted'>{_e(tr('Flags and follow-up as of {d}, under the {protocol}.').format(d=s.as_of.isoformat(), protocol=s.protocol))} "
            f"{_e(defaults)}</p>"
            f"<p class='small muted'>{_e(s.provenance())}.</p>")


def summary_html(s: PatientSummary, figures: list[ChartFigure], empty_charts: list[str],
                 latest_first: bool = False, table_breaks: frozenset = frozenset()) -> str:
    """The whole summary. `latest_first` puts the latest values (a table that flows across pages)
    before the trends, to fill a page where no row of charts fits; `table_breaks` are the
    (table, row) pairs that start a new page (see `_TableBreaks`)."""
    token = _BREAKS.set(_TableBreaks(table_breaks))
    try:
        sections = [_identity(s), _open_flags(s), _action_items(s), _criteria(s), _treatments(s), _response(s), _events(s)]
        charts = _charts(s, figures, empty_charts)
        later = [_latest(s), charts] if latest_first else [charts, _latest(s)]
        parts = [*sections, *later, _acknowledged_flags(s), _about(s)]
    finally:
        _BREAKS.reset(token)
    return f"<html><head><style>{_CSS}</style></head><body>{''.join(parts)}</body></html>"


# ---------------------------------------------------------------------------------------------
# The document and its pages
# ---------------------------------------------------------------------------------------------


class SummaryDocument:
    """A patient summary ready to paint on any paged device (QPdfWriter, QPrinter)."""

    def __init__(self, summary: PatientSummary, page_size: str = "A4", chart_dpi: float = DEFAULT_DPI):
        self.summary = summary
        self.page_size = page_size
        self.layout = page_layout(page_size)
        content_mm = self.layout.paintRect(QPageLayout.Unit.Millimeter).width()
        self.chart_width_mm = (content_mm - CHART_GAP_MM) / 2
        self.document = QTextDocument()
        self.document.setDocumentMargin(0)
        self.document.setDefaultFont(print_font())
        self.document.setUseDesignMetrics(True)
        self.chart_ms = 0.0
        figures, empty = self._render_charts(chart_dpi)
        self.figures, self.empty_charts = figures, empty
        self.latest_first = False  # the latest values before the trends (see `summary_html`); chosen by `lay_out`
        self.table_breaks: frozenset = frozenset()  # rows that start a page (see `_TableBreaks`); chosen by `lay_out`
        self.document.setHtml(summary_html(summary, figures, empty))
        self.page_count = 0
        # The pages are laid out once, on a PDF device at the file's resolution, and painted
        # scaled on any other device: the preview and the printer show exactly the file's pages.
        self._reference_buffer = QBuffer()
        self._reference = QPdfWriter(self._reference_buffer)
        self._reference.setResolution(DEFAULT_DPI)
        self._reference.setPageLayout(self.layout)

    def _render_charts(self, dpi: float) -> tuple[list[ChartFigure], list[str]]:
        from poems_monitor.ui.charts.trend_chart import CHART_SPECS

        t0 = time.perf_counter()
        d = self.summary.dashboard
        figures, empty = [], []
        width_mm, height_mm = self.chart_width_mm, CHART_HEIGHT_MM
        with print_theme():
            for spec in CHART_SPECS:
                if not any(c in d.series for c in spec.codes):
                    empty.append(spec.title)
                    continue
                chart = build_print_chart(d, spec.key, width_mm, height_mm)
                try:
                    image = render_plot_image(chart.plot_item, round(width_mm / 25.4 * dpi))
                    legend = _legend(chart.chart.series)
                finally:
                    chart.close()
                url = f"chart://{spec.key}"
                self.document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(url), image)
                figures.append(ChartFigure(spec.key, spec.title, legend, url,
                                           width_mm / 25.4 * 96, height_mm / 25.4 * 96))
        self.chart_ms = (time.perf_counter() - t0) * 1000
        return figures, empty

    # --- layout on a device -------------------------------------------------------------------
    def _geometry(self, device: QPagedPaintDevice) -> tuple[QRectF, float, float, float]:
        resolution = device.resolution() if hasattr(device, "resolution") else device.logicalDpiY()
        rect = QRectF(device.pageLayout().paintRectPixels(resolution))
        px_per_mm = resolution / 25.4
        header = HEADER_MM * px_per_mm
        footer = FOOTER_MM * px_per_mm
        return rect, header, footer, px_per_mm

    def lay_out(self, device: QPagedPaintDevice | None = None) -> int:
        """Lay the pages out (once, at the PDF's resolution, whatever `device` will show them) and
        set `device` to the summary's page; returns the page count."""
        if device is not None:
            device.setPageLayout(self.layout)
        if self.page_count:
            return self.page_count
        rect, header, footer, px_per_mm = self._geometry(self._reference)
        doc = self.document
        doc.documentLayout().setPaintDevice(self._reference)
        # whole pixels: the layout keeps page heights in 1/64 px, and a page end it rounds below
        # ours would let the first line of a page be painted (clipped) at the foot of the last one
        body = float(math.floor(rect.height() - header - footer))
        doc.setPageSize(QSizeF(rect.width(), body))
        # The trends come before the latest values if their first row of charts fits on the page
        # where they start; if it does not and page 1 would end half empty, the latest values (which
        # flow across pages) come first and fill it. Fewest pages first.
        best = None
        for latest_first in (False, True) if self.figures and self.summary.latest else (False,):
            broken = self._paginate(latest_first, body, px_per_mm)
            score = (max(1, doc.pageCount()), self._first_page_blank(body) > 35 * px_per_mm, latest_first,
                     self.table_breaks)
            if best is None or score[:3] < best[:3]:
                best = score
            if not broken:
                break
        if (best[2], best[3]) != (self.latest_first, self.table_breaks):
            self._set_content(best[2], best[3])
            self._keep_headings_with_content(body, px_per_mm)
        self.page_count = max(1, doc.pageCount())
        self._body = body
        self._rect = rect
        self._header = header
        self._px_per_mm = px_per_mm
        return self.page_count

    def _paginate(self, latest_first: bool, body: float, px_per_mm: float) -> bool:
        """Keep headings with what follows them and rows of charts whole, then start a new page at
        every table row that would be cut (or that would leave a group heading row, such as
        "Haematology", alone at the end of a page), until no row is cut. Returns whether the
        trends heading had to start a new page."""
        breaks: frozenset = frozenset()
        for _ in range(60):
            self._set_content(latest_first, breaks)
            trends_moved = self._keep_headings_with_content(body, px_per_mm)
            row = self._first_cut_row(body)
            if row is None:
                return trends_moved
            breaks = breaks | {row}
        return trends_moved

    def _table_rows(self) -> list[tuple[tuple[int, int], float, float, bool]]:
        """Every row of the `_table`s in document order: ((table, row), top, bottom, is a group
        heading row such as "Haematology", whose other cells are empty)."""
        layout = self.document.documentLayout()
        rows: list[list] = []  # [(table, row), top, bottom, group heading?, the QTextTable's position]
        block = self.document.begin()
        while block.isValid():
            table = QTextCursor(block).currentTable()
            if table is not None:
                rect = layout.blockBoundingRect(block)
                name = self._row_anchor(block)
                if name is not None:
                    rows.append([name, rect.top(), rect.bottom(), True, table.firstPosition()])
                elif rows and rows[-1][4] == table.firstPosition():  # another cell of the same row
                    row = rows[-1]
                    row[1], row[2] = min(row[1], rect.top()), max(row[2], rect.bottom())
                    row[3] = row[3] and not block.text().strip()
            block = block.next()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    @staticmethod
    def _first_row_bottom(rows, top: float, section_bottom: float) -> float:  # noqa: ANN001
        """The bottom of the first row of the first table between `top` and `section_bottom`
        (with the row after it when the first is a group heading); `top` when there is none."""
        for i, ((table, row), row_top, row_bottom, heading) in enumerate(rows):
            if row == 0 and top <= row_top < section_bottom:
                if heading and i + 1 < len(rows) and rows[i + 1][0][0] == table:
                    return rows[i + 1][2]
                return row_bottom
        return top

    def _first_cut_row(self, body: float) -> tuple[int, int] | None:
        """The first (table, row) of a `_table` that a page end cuts, or a group heading row that
        ends a page; None when every row is whole on its page. A table's first row is kept with
        its section heading by `_keep_headings_with_content` instead."""
        rows = self._table_rows()

        def page(y: float) -> int:
            return math.floor((y + 0.5) / body)

        for i, ((table, row), top, bottom, heading) in enumerate(rows):
            if row == 0:
                continue
            if page(top) != page(bottom - 1):
                (t_before, r_before), _top, _bottom, heading_before = rows[i - 1]
                if t_before == table and r_before > 0 and heading_before:
                    return t_before, r_before  # a group heading row goes with the row it heads
                return table, row
            following = rows[i + 1] if i + 1 < len(rows) else None
            if heading and following is not None and following[0][0] == table and page(following[1]) != page(top):
                return table, row
        return None

    @staticmethod
    def _row_anchor(block) -> tuple[int, int] | None:  # noqa: ANN001
        it = block.begin()
        while not it.atEnd():
            for name in it.fragment().charFormat().anchorNames():
                if name.startswith(ROW_ANCHOR):
                    table, row = name[len(ROW_ANCHOR):].split("-")
                    return int(table), int(row)
            it += 1
        return None

    def _first_page_blank(self, body: float) -> float:
        """Height left blank at the end of page 1 (device pixels) in the present layout."""
        layout = self.document.documentLayout()
        end = 0.0
        for frame in self.document.rootFrame().childFrames():
            rect = layout.frameBoundingRect(frame)
            if rect.top() < body:
                end = max(end, min(rect.bottom(), body))
        block = self.document.begin()
        while block.isValid():
            if QTextCursor(block).currentTable() is None:
                rect = layout.blockBoundingRect(block)
                if rect.top() < body and block.text().strip():
                    end = max(end, min(rect.bottom(), body))
            block = block.next()
        return body - end

    def _set_content(self, latest_first: bool, table_breaks: frozenset = frozenset()) -> None:
        if (latest_first, table_breaks) != (self.latest_first, self.table_breaks):
            self.document.setHtml(summary_html(self.summary, self.figures, self.empty_charts, latest_first,
                                               table_breaks))
            self.latest_first, self.table_breaks = latest_first, table_breaks
        else:  # undo the page breaks of an earlier layout
            block = self.document.begin()
            while block.isValid():
                fmt = block.blockFormat()
                if fmt.pageBreakPolicy() != QTextFormat.PageBreakFlag.PageBreak_Auto:
                    fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_Auto)
                    QTextCursor(block).setBlockFormat(fmt)
                block = block.next()
            for table in self._chart_rows():
                fmt = table.format()
                fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_Auto)
                table.setFormat(fmt)

    def _keep_headings_with_content(self, body: float, px_per_mm: float) -> bool:
        """No section heading ends a page: if less than ~28 mm of its section follow it on its
        page, it starts the next one; the trends heading stays with its first row of charts.
        Each row of charts is kept whole (it starts the next page if it would be cut), so the
        charts begin on the page where the sections before them end when one row fits there.
        Repeated until the layout is stable. True if the trends heading had to start a new page."""
        doc = self.document
        trends_moved = False
        keep = 28 * px_per_mm
        trends = tr("Trends")
        chart_rows = self._chart_rows()
        for _ in range(32):
            doc.markContentsDirty(0, doc.characterCount())  # the layout is lazy: lay out everything again
            layout = doc.documentLayout()
            moved = False
            table_rows = self._table_rows()
            for block, bottom in self._headings(layout):
                fmt = block.blockFormat()
                if fmt.pageBreakPolicy() & QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore:
                    continue
                top = layout.blockBoundingRect(block).top()
                if top < 1:
                    continue
                page_end = (math.floor((top + 0.5) / body) + 1) * body
                if block.text() == trends and chart_rows:
                    needed = layout.frameBoundingRect(chart_rows[0]).bottom() - top  # heading, note, first row
                else:  # some of the section, and at least its table's header and first row
                    needed = max(min(bottom - top, keep), self._first_row_bottom(table_rows, top, bottom) - top)
                if needed <= body and top + needed > page_end + 0.5:
                    fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
                    QTextCursor(block).setBlockFormat(fmt)
                    trends_moved = trends_moved or block.text() == trends
                    moved = True
                    break  # what follows has moved: measure again
            if not moved:
                for table in chart_rows:
                    fmt = table.format()
                    if fmt.pageBreakPolicy() & QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore:
                        continue
                    rect = layout.frameBoundingRect(table)
                    page_end = (math.floor((rect.top() + 0.5) / body) + 1) * body
                    if rect.height() <= body and rect.bottom() > page_end + 0.5:
                        fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
                        table.setFormat(fmt)
                        moved = True
                        break
            if not moved:
                break
        doc.markContentsDirty(0, doc.characterCount())
        doc.size()
        return trends_moved

    def _chart_rows(self) -> list:
        """The tables that hold one row of charts each (they hold the chart images), in order."""
        rows = []
        seen = set()
        block = self.document.begin()
        while block.isValid():
            table = QTextCursor(block).currentTable()
            if table is not None and table.firstPosition() not in seen:
                it = block.begin()
                while not it.atEnd():
                    fragment = it.fragment()
                    if fragment.charFormat().isImageFormat() and \
                            fragment.charFormat().toImageFormat().name().startswith("chart://"):
                        seen.add(table.firstPosition())
                        rows.append(table)
                        break
                    it += 1
            block = block.next()
        return rows

    def _headings(self, layout):  # noqa: ANN001, ANN202
        """(heading block, bottom of its section) for every h2, in document order."""
        doc = self.document
        out = []
        current = None
        bottom = 0.0
        block = doc.begin()
        while block.isValid():
            table = QTextCursor(block).currentTable()
            if table is None and block.blockFormat().headingLevel() == 2:
                if current is not None:
                    out.append((current, bottom))
                current = block
                bottom = layout.blockBoundingRect(block).bottom()
            elif current is not None:
                rect = layout.frameBoundingRect(table) if table is not None else layout.blockBoundingRect(block)
                bottom = max(bottom, rect.bottom())
            block = block.next()
        if current is not None:
            out.append((current, bottom))
        return out

    # --- painting -----------------------------------------------------------------------------
    def paint(self, device: QPagedPaintDevice, painter: QPainter | None = None) -> int:
        """Paint every page on `device` (a QPdfWriter or QPrinter); returns the page count."""
        pages = self.lay_out(device)
        own = painter is None
        if own:
            painter = QPainter()
            if not painter.begin(device):
                raise OSError(tr("The output could not be opened for painting"))
        geometry = self._geometry(device)
        try:
            for index in range(pages):
                if index:
                    device.newPage()
                self._paint_page(painter, index, pages, geometry)
        finally:
            if own:
                painter.end()
        return pages

    def _paint_page(self, painter: QPainter, index: int, pages: int, geometry: tuple) -> None:
        """One page: the laid-out body (scaled from the layout's resolution to the device's), and
        the running header and footer drawn at the device's own resolution."""
        rect, header, _footer, mm = geometry
        width = rect.width()
        laid_width, laid_body = self._rect.width(), self._body
        scale = width / laid_width  # the device's resolution over the layout's
        body = laid_body * scale
        painter.save()
        painter.translate(0, header)
        painter.scale(scale, scale)
        painter.translate(0, -index * laid_body)
        # a hair short of the page end: a line that starts the next page must not be drawn (clipped,
        # but in the PDF's text) at the foot of this one
        self.document.drawContents(painter, QRectF(0, index * laid_body, laid_width, laid_body - 0.01))
        painter.restore()
        s = self.summary
        small = print_font(6.9)
        painter.setFont(small)
        if index > 0:  # running header
            painter.setPen(QColor(INK))
            left = f"{s.name} · {tr('MRN')} {s.mrn}"
            painter.drawText(QRectF(0, 0, width, header - 2.5 * mm),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), left)
            painter.setPen(QColor(MUTED))
            painter.drawText(QRectF(0, 0, width, header - 2.5 * mm),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                             tr("Patient summary as of {d}").format(d=s.as_of.isoformat()))
            painter.setPen(QPen(QColor(RULE), 0.25 * mm))
            painter.drawLine(QPointF(0, header - 1.8 * mm), QPointF(width, header - 1.8 * mm))
        top = header + body + 2.5 * mm
        painter.setPen(QPen(QColor(RULE), 0.25 * mm))
        painter.drawLine(QPointF(0, top), QPointF(width, top))
        painter.setPen(QColor(MUTED))
        line = painter.fontMetrics().height()
        page_text = tr("Page {n} of {total}").format(n=index + 1, total=pages)
        page_w = painter.fontMetrics().horizontalAdvance(page_text) + 4 * mm
        provenance = painter.fontMetrics().elidedText(
            f"{s.provenance()} · {tr('MRN')} {s.mrn}", Qt.TextElideMode.ElideMiddle, int(width - page_w - 2 * mm))
        painter.drawText(QRectF(0, top + 1.2 * mm, width - page_w, line),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), provenance)
        painter.setPen(QColor(INK))
        painter.drawText(QRectF(width - page_w, top + 1.2 * mm, page_w, line),
                         int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop), page_text)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WordWrap)
        painter.setPen(QColor(MUTED))
        italic = print_font(6.9)
        italic.setItalic(True)
        painter.setFont(italic)
        painter.drawText(QRectF(0, top + 1.2 * mm + line * 1.15, width, line * 2.4), s.caution, option)


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryResult:
    path: Path
    pages: int
    page_size: str
    seconds: float
    chart_seconds: float


def pdf_writer(path: Path | str, summary: PatientSummary, page_size: str) -> QPdfWriter:
    writer = QPdfWriter(str(path))
    writer.setResolution(DEFAULT_DPI)
    writer.setPageLayout(page_layout(page_size))
    writer.setCreator("poems-monitor")
    writer.setTitle(tr("Patient summary: {name} ({mrn}), as of {d}").format(
        name=summary.name, mrn=summary.mrn, d=summary.as_of.isoformat()))
    return writer


def write_summary_pdf(document: SummaryDocument, path: Path | str) -> int:
    """Paint `document` into a PDF at `path` (written to a temporary file, then renamed)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    writer = pdf_writer(partial, document.summary, document.page_size)
    try:
        pages = document.paint(writer)
    finally:
        del writer  # closes the file
    if not partial.exists() or partial.stat().st_size == 0:
        raise OSError(tr("{file} could not be written").format(file=path))
    partial.replace(path)
    return pages


def write_patient_summary(db, mrn: str, path: Path | str, page_size: str = "A4", as_of: date | None = None,  # noqa: ANN001
                          generated_by: str | None = None) -> SummaryResult:
    """Write the printable summary of `mrn` to the PDF `path`. Needs a QGuiApplication (offscreen is
    fine). PatientNotFound (a KeyError whose str() is the sentence) for an unknown MRN;
    ValueError for a page size other than A4 or Letter; OSError when the file cannot be written."""
    t0 = time.perf_counter()
    page_layout(page_size)  # refuse a wrong size before any work
    summary = build_patient_summary(db, mrn, as_of, generated_by)
    document = SummaryDocument(summary, page_size)
    pages = write_summary_pdf(document, path)
    return SummaryResult(Path(path), pages, page_size, time.perf_counter() - t0, document.chart_ms / 1000)
