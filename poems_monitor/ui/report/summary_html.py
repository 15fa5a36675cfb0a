"""The printable patient summary's content: each section as HTML in QTextDocument's subset
(identity, open flags, action items, criteria, treatments, response, events, trends, latest
values, acknowledged flags, about), the print colours and the wording of severities, kinds and
sex, and the grid tables that a layout may continue on a new page so no row is ever cut.

Pure text: `summary_document.SummaryDocument` lays it out, adds the chart images and paints
the pages.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from html import escape

from PySide6.QtCore import Qt

from poems_monitor.domain.catalogue import FLAG_KIND_NAMES, FOLLOWUP_STATUS_NAMES, SEVERITY_NAMES, display_name, sex_label
from poems_monitor.domain.response import DOMAIN_NAMES, DOMAINS
from poems_monitor.domain.followup import Status
from poems_monitor.i18n import counted, tr
from poems_monitor.local_format import day
from poems_monitor.services.patient_summary import PatientSummary, followup_name


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


def _e(text: object) -> str:
    return escape(str(text)) if text is not None else ""


def _d(value: date | None, missing: str = "–") -> str:
    return day(value, missing)


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
    age = counted(d.age, "{n} year old", "{n} years old") if d.age is not None else tr("age unknown")
    born = tr("born {d}").format(d=day(d.birth_date)) if d.birth_date else tr("birth date not recorded")
    identity = " · ".join((f"<b>{tr('MRN')} {_e(d.mrn)}</b>", _e(age), _e(sex_label(d.sex)), _e(born)))
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
        f"<b style='color:{INK}'>{_e(tr('as of {d}').format(d=day(s.as_of)))}</b></td>"
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
        head += (f"<p class='muted small'>{_e(text.format(feature=display_name(nc.feature), d=day(nc.first_present), criterion=display_name(nc.criterion), reason=nc.reason.rstrip('.')))}</p>")
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
            _e(day(f.date)),
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


def chart_legend(series) -> str:  # noqa: ANN001
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
        series=s.name, date=day(b.date), what=b.what, before=b.before, after=b.after)
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
                     _e(day(v.date)), f"<span class='small muted'>{_e(', '.join(note))}</span>"])
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
            since = f" {_e(tr('since {d}').format(d=day(d.since)))}" if d.since else ""
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
    rows = [[_e(day(e.date)),
             (f"<span style='color:{CRITICAL}'>✚ </span>" if e.thrombotic else "") + _e(e.name),
             f"<span class='small'>{_e(e.note)}</span>"] for e in s.events]
    return title + _table([tr("Date"), tr("Event"), tr("Note")], rows, [14, 30, 56])


def _about(s: PatientSummary) -> str:
    defaults = tr("{n} of its thresholds and intervals are DEFAULT values (not from the literature): review them "
                  "locally.").format(n=s.default_settings) if s.default_settings else ""
    return (f"<h2>{_e(tr('About this summary'))}</h2>"
            f"<p class='small'>{_e(s.caution)}</p>"
            f"<p class='small muted'>{_e(tr('Flags and follow-up as of {d}, under the {protocol}.').format(d=day(s.as_of), protocol=s.protocol))} "
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



__all__ = ["INK", "KIND_TEXT", "MUTED", "ROW_ANCHOR", "RULE", "SEVERITY_TEXT", "ChartFigure", "chart_legend",
           "summary_html"]
