"""The printable patient summary's content, as plain frozen dataclasses.

Owns what the summary says: the patient's dashboard (identity, criteria, flags with their
acknowledgements, follow-up, chart series, therapies, events) plus what only the summary lists:
each criterion with the date it was first documented, the response per line of therapy and the
patient's status, the latest value of every measure with its
unit and reference range (and whether that range is a DEFAULT), the treatments in full, the
follow-up items that need action, and the provenance of the page (generated when, by whom, from
which database, under which protocol). The Qt renderer in `ui/report/` lays this out; nothing
here formats for a page. No Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from poems_monitor.domain.catalogue import (
    CRITERIA, FEATURES, FOLLOWUP_ITEM_NAMES, FOLLOWUP_STATUS_NAMES, MEASURE_GROUPS, MEASURES, REGIMENS, thromboprophylaxis_label,
    CriterionClass, MeasureKind, display_name, unit_display, value_label,
)
from poems_monitor.domain.display_units import CANONICAL, DisplayUnits
from poems_monitor.domain.course import regimen_label
from poems_monitor.domain.numbers import format_measure_value, format_number as format_plain
from poems_monitor.domain.followup import Status, WorklistItem
from poems_monitor.domain.safety_flags import MDS_CAUTION
from poems_monitor.domain.patient_status import PatientStatusAssessment
from poems_monitor.domain.response import LineResponse
from poems_monitor.domain.timeline import PatientRecord
from poems_monitor.i18n import tr
from poems_monitor.local_format import day
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.dashboard import EventMark, FlagEntry, PatientDashboard, build_dashboard
from poems_monitor.workstation import login_name

CAUTION = tr(
    "This summary supports clinicians; it does not diagnose. Flags and follow-up intervals use the thresholds "
    "of the clinic protocol; values marked DEFAULT are not from the literature and need local review."
)

STATUS_NAMES = FOLLOWUP_STATUS_NAMES  # one list, in the catalogue
CLASS_NAMES = {CriterionClass.MANDATORY: tr("mandatory"), CriterionClass.MAJOR: tr("major"),
               CriterionClass.MINOR: tr("minor"), CriterionClass.OTHER: tr("other")}


@dataclass(frozen=True)
class CriterionLine:
    number: int | None
    name: str
    klass: str  # mandatory | major | minor (words)
    first_documented: date | None
    features: tuple[str, ...]  # names of the features present at the first documentation
    used: bool  # one of the criteria that fulfilled the diagnosis
    note: str = ""


@dataclass(frozen=True)
class LatestValue:
    code: str
    name: str
    group: str  # group name, as a person reads it
    date: date
    value: str  # formatted, with "<"/">" for a censored value
    unit: str
    reference: str  # "150–450", "≤ 96.2", "" (none), or why none applies
    reference_default: bool  # the range is a DEFAULT (typical adult range), not the laboratory's
    mark: str  # "H", "L" or ""
    specimen: str = ""
    entered: str = ""  # "96 g/L" when typed in another unit


@dataclass(frozen=True)
class TreatmentLine:
    name: str
    start: date
    stop: date | None  # None: ongoing (or a one-off)
    one_off: bool
    line_of_therapy: bool
    thromboprophylaxis: str
    detail: str  # engraftment, cumulative melphalan, note

    @property
    def period(self) -> str:
        if self.one_off:
            return day(self.start)
        return f"{day(self.start)} – {day(self.stop, tr('ongoing'))}"


@dataclass(frozen=True)
class PatientSummary:
    dashboard: PatientDashboard
    criteria: tuple[CriterionLine, ...]
    latest: tuple[LatestValue, ...]
    treatments: tuple[TreatmentLine, ...]
    events: tuple[EventMark, ...]  # oldest first
    action_items: tuple[WorklistItem, ...]  # overdue, never done, due, due soon; most urgent first
    generated_at: datetime
    generated_by: str
    database: str
    protocol: str  # which protocol the flags and intervals used
    default_settings: int  # how many of its thresholds and intervals are DEFAULT values
    caution: str = CAUTION

    @property
    def mrn(self) -> str:
        return self.dashboard.mrn

    @property
    def name(self) -> str:
        return self.dashboard.name

    @property
    def as_of(self) -> date:
        return self.dashboard.as_of

    @property
    def open_flags(self) -> tuple[FlagEntry, ...]:
        return self.dashboard.unacknowledged

    @property
    def acknowledged_flags(self) -> tuple[FlagEntry, ...]:
        return tuple(f for f in self.dashboard.flags if f.acknowledged)

    @property
    def overdue(self) -> tuple[WorklistItem, ...]:
        return tuple(i for i in self.action_items if i.status in (Status.OVERDUE, Status.NEVER_DONE))

    @property
    def melphalan_line(self) -> str:
        """'Cumulative melphalan: 1260 mg (...)' or '' when no melphalan is on record."""
        exposure = self.dashboard.melphalan
        if exposure is None or not exposure.any:
            return ""
        return tr("Cumulative melphalan as of {d}: {text}.").format(d=self.as_of.isoformat(), text=exposure.text())

    @property
    def melphalan_caution(self) -> str:
        """The MDS caution beside the cumulative dose (AL amyloidosis data, not POEMS: it says so)."""
        return MDS_CAUTION if self.melphalan_line else ""

    def provenance(self) -> str:
        return tr("Generated {when} by {who} from {database}").format(
            when=self.generated_at.strftime("%Y-%m-%d %H:%M"), who=self.generated_by, database=self.database)

    # The response section: the dashboard's response per line and patient status (same rules).
    @property
    def response(self) -> tuple[LineResponse, ...]:
        return self.dashboard.response

    @property
    def patient_status(self) -> PatientStatusAssessment | None:
        return self.dashboard.patient_status


def followup_name(item: str) -> str:
    return FOLLOWUP_ITEM_NAMES.get(item, display_name(item))


def build_patient_summary(db: Database, mrn: str, as_of: date | None = None, generated_by: str | None = None,
                          now: datetime | None = None) -> PatientSummary:
    """The summary of `mrn` as of `as_of` (default today). PatientNotFound if unknown."""
    from poems_monitor.services.protocol_store import protocol_status

    as_of = as_of or date.today()
    status = protocol_status(db)
    dashboard = build_dashboard(db, mrn, as_of, protocol=status.protocol)
    with db.read() as session:
        record = load_timelines(session, mrns=[mrn])[0]
    defaults = sum(1 for s in status.protocol.describe() if s.is_default)
    if status.problem:
        protocol = tr("shipped default protocol (the stored clinic protocol cannot be read)")
    elif status.stored:
        when = f"{status.updated_at:%Y-%m-%d}" if status.updated_at else "?"
        protocol = tr("clinic protocol saved by {who} on {when}").format(who=status.updated_by, when=when)
    else:
        protocol = tr("shipped default protocol (no clinic protocol saved)")
    return PatientSummary(
        dashboard=dashboard,
        criteria=_criteria(dashboard),
        latest=latest_values(record, as_of, status.protocol.units),
        treatments=_treatments(record, as_of),
        events=tuple(sorted(dashboard.events, key=lambda e: e.date)),
        action_items=tuple(i for i in dashboard.followup if i.status is not None),
        generated_at=now or datetime.now().astimezone(),
        generated_by=generated_by or login_name(),
        database=db.describe(),
        protocol=protocol,
        default_settings=defaults,
    )


def _criteria(d: PatientDashboard) -> tuple[CriterionLine, ...]:
    used = {c.code for c in d.criteria.used}
    lines = []
    for c in d.criteria.criteria:
        criterion = CRITERIA.get(c.code)
        lines.append(CriterionLine(
            number=c.number, name=c.name, klass=CLASS_NAMES.get(c.klass, c.klass.value),
            first_documented=c.first_documented,
            features=tuple(FEATURES[f].label if f in FEATURES else display_name(f) for f in c.features),
            used=c.code in used, note=tr(criterion.note) if criterion and criterion.note else "",
        ))
    return tuple(lines)


def format_number(code: str, value: float) -> str:
    return format_measure_value(code, value)  # no thousands separator: "1,240" would read back as 1.24


def latest_values(record: PatientRecord, as_of: date, units: DisplayUnits = CANONICAL) -> tuple[LatestValue, ...]:
    """The newest value of every measure recorded on or before `as_of`, in catalogue order,
    each in the clinic's unit (`units`, the protocol's [units]); H/L are decided on the
    canonical value."""
    newest: dict[str, tuple[date, object]] = {}
    for visit in record.visits:
        if visit.date > as_of:
            break
        for o in visit.observations:
            newest[o.code] = (visit.date, o)
    out = []
    for code, m in MEASURES.items():
        if code not in newest:
            continue
        day, o = newest[code]
        mark = ""
        reference = ""
        default = False
        if m.kind is MeasureKind.CATEGORICAL or isinstance(o.value, str):
            value = value_label(str(o.value))
        else:
            number = float(o.value)
            typed = o.entered_value if isinstance(o.entered_value, (int, float)) else None
            shown = (format_number(code, number) if units.is_canonical(code)
                     else units.number(code, number, typed, o.entered_unit))
            value = f"{o.qualifier or ''}{shown}"
            ref = m.reference_for(record.sex)
            if ref is not None:
                reference = ref.text() if units.is_canonical(code) else units.range_text(code, ref.low, ref.high)
                default = ref.source.strip().upper().startswith("DEFAULT")
                if ref.above(number) and o.qualifier != "<":
                    mark = "H"
                elif ref.below(number) and o.qualifier != ">":
                    mark = "L"
            elif m.sex_specific:
                reference = tr("depends on sex (not applied)")
        entered = ""
        if o.entered_unit and o.entered_value is not None and o.entered_unit.lower() != units.unit(code).lower():
            typed_text = format_plain(o.entered_value) if isinstance(o.entered_value, (int, float)) else o.entered_value
            entered = f"{typed_text} {unit_display(o.entered_unit)}"  # "79 mg/dL", as a person writes it
        out.append(LatestValue(
            code=code, name=m.label, group=MEASURE_GROUPS.get(m.group, m.group), date=day, value=value,
            unit=units.label(code) if m.kind is MeasureKind.QUANTITY else m.unit_label, reference=reference, reference_default=default, mark=mark,
            specimen=value_label(o.specimen), entered=entered,
        ))
    return tuple(out)


def _treatments(record: PatientRecord, as_of: date) -> tuple[TreatmentLine, ...]:
    from poems_monitor.domain.course import is_line

    out = []
    for t in record.treatments:
        if t.start > as_of:
            continue
        details = []
        if t.engraftment_date:
            details.append(tr("engraftment {d}").format(d=t.engraftment_date.isoformat()))
        if t.melphalan_mg:
            details.append(tr("melphalan {mg:g} mg").format(mg=t.melphalan_mg))
        if t.note:
            details.append(t.note)
        regimen = REGIMENS.get(t.regimen)
        imid = bool(regimen and "imid" in regimen.drug_classes)
        prophylaxis = thromboprophylaxis_label(t.thromboprophylaxis)
        stop = t.stop if t.stop is None or t.stop <= as_of else None
        out.append(TreatmentLine(
            name=regimen_label(t, mid_sentence=False), start=t.start, stop=stop,
            one_off=t.regimen in ("asct", "radiotherapy"), line_of_therapy=is_line(t),
            thromboprophylaxis=prophylaxis if (imid or t.thromboprophylaxis) else "",
            detail="; ".join(details),
        ))
    return tuple(out)
