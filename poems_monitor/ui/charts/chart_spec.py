"""Which trend charts the dashboard draws and how their values are written: the chart
specifications (series, axes, log scale, floor), the date-to-x conversion, the short labels of
therapies and events, and a value's text and tooltip (shared by the chart and its table).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from poems_monitor.domain.catalogue import CHART_GROUP_BY_KEY, value_label
from poems_monitor.domain.numbers import format_measure_value
from poems_monitor.i18n import tr
from poems_monitor.local_format import day, decimal_text
from poems_monitor.services.dashboard import Series, SeriesPoint


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DAY = 86400.0

# Short labels for therapy bands (full names are in the tooltips and the table).
SHORT_REGIMEN = {
    "radiotherapy": "RT", "melphalan_dexamethasone": "MDex", "lenalidomide_dexamethasone": "Len-Dex",
    "thalidomide_dexamethasone": "Thal-Dex", "pomalidomide_dexamethasone": "Pom-Dex",
    "bortezomib_dexamethasone": "Bor-Dex", "bortezomib_cyclophosphamide_dexamethasone": "VCd",
    "daratumumab_based": "Dara", "cyclophosphamide_based": "Cyclo", "asct": "ASCT", "bevacizumab": "Bev",
    "corticosteroids": tr("Steroids"), "ivig": "IVIG", "plasma_exchange": "PLEX",
}
SHORT_EVENT = {
    "dvt": tr("DVT"), "pe": tr("PE"), "arterial_thrombosis": tr("Art. thromb."), "stroke": tr("Stroke"), "tia": tr("TIA"),
    "myocardial_infarction": tr("MI"), "relapse": tr("Relapse"), "progression": tr("Progression"),
    "engraftment_syndrome": tr("ES"), "hospitalisation": tr("Hosp."), "death": tr("Death"), "other": tr("Event"),
    "transferred": tr("Transfer"),
}


def to_x(day: date) -> float:
    """A date as seconds since the epoch (UTC), the unit of pyqtgraph's DateAxisItem."""
    return (day.toordinal() - _EPOCH_ORDINAL) * DAY


@dataclass(frozen=True)
class ChartSpec:
    key: str
    title: str
    codes: tuple[str, ...]
    y_label: str
    right_codes: tuple[str, ...] = ()  # drawn against a second y axis on the right
    right_label: str = ""
    log_y: bool = False
    y_floor: float | None = None  # lowest y shown (scores start at 0)
    empty_y: tuple[float, float] = (0.0, 100.0)  # y range shown when the chart has no values


def _spec(key: str, y_label: str, **drawing: Any) -> ChartSpec:
    """The chart of the catalogue's chart group `key` (title and measures), drawn so."""
    group = CHART_GROUP_BY_KEY[key]
    return ChartSpec(group.key, group.title, group.codes, y_label, **drawing)


CHART_SPECS: tuple[ChartSpec, ...] = (
    _spec("vegf", "pg/mL", log_y=True, empty_y=(50.0, 2000.0)),
    _spec("blood", "×10⁹/L", right_codes=("hemoglobin",), right_label="g/dL", y_floor=0, empty_y=(0.0, 500.0)),
    _spec("pft", tr("% predicted"), y_floor=0, empty_y=(0.0, 120.0)),
    _spec("neuropathy", tr("score"), y_floor=0, empty_y=(0.0, 10.0)),
    _spec("echo", "mmHg / %", y_floor=0, empty_y=(0.0, 80.0)),
)
SPEC_BY_KEY = {s.key: s for s in CHART_SPECS}


def format_value(code: str, p: SeriesPoint) -> str:
    """The value as the table and the tooltip write it, in the clinic's unit (the service wrote
    `shown` when that is not the catalogue's unit)."""
    # never "1,240" (it reads back as 1.24); "16,8" in French reads back as 16.8
    return decimal_text(f"{p.qualifier or ''}{p.shown or format_measure_value(code, p.value)}")


def series_summary(series: tuple[Series, ...]) -> str:
    """A chart in words, for a screen reader: each series' latest value and its date, and the
    value before it, so the trend is heard without the picture."""
    parts = []
    for s in series:
        points = sorted(s.points, key=lambda p: p.date)
        if not points:
            continue
        last = points[-1]
        if len(points) == 1:
            parts.append(tr("{series}: {value} {unit} on {date}, the only value.").format(
                series=s.name, value=format_value(s.code, last), unit=s.unit, date=day(last.date)))
        else:
            before = points[-2]
            parts.append(tr("{series}: {value} {unit} on {date}; before that {before} on {before_date}.").format(
                series=s.name, value=format_value(s.code, last), unit=s.unit, date=day(last.date),
                before=format_value(s.code, before), before_date=day(before.date)))
    return " ".join(parts) if parts else tr("No values recorded")


def point_tooltip(series: Series, p: SeriesPoint) -> str:
    lines = [f"<b>{day(p.date)}</b>", f"{series.name}: <b>{format_value(series.code, p)}</b> {series.unit}"]
    details = []
    if p.specimen:
        details.append(tr("specimen: {s}").format(s=value_label(p.specimen)))
    if p.lab:
        details.append(tr("lab: {lab}").format(lab=p.lab))
    if p.method:
        details.append(tr("method: {m}").format(m=p.method))
    if details:
        lines.append(" · ".join(details))
    if p.entered:
        lines.append(tr("entered as {e}").format(e=p.entered))
    for message in p.flags:
        lines.append(f"⚑ {message}")
    return "<br>".join(lines)


__all__ = ["CHART_SPECS", "SPEC_BY_KEY", "ChartSpec", "DAY", "SHORT_EVENT", "SHORT_REGIMEN", "format_value", "point_tooltip", "to_x"]
