"""A patient's history of changes: every value entered, corrected or removed, with the old value,
the new one, who, when and why.

Owns the reading of the audit trail for one patient (and of the clinic-wide entries such as
protocol changes) into plain rows a history table shows. Corrections keep the replaced rows in
the record (superseded with who, when and why); those rows are read too, so a correction is
shown even if its audit entry were missing. Reads only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from poems_monitor.domain.catalogue import display_name
from poems_monitor.i18n import N_, tr
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories import audit as audit_trail
from poems_monitor.persistence.repositories import patients as patients_repo
from poems_monitor.persistence.repositories import visits as visits_repo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_ACTION_WORDS = {
    "create": N_("entered"), "correct": N_("corrected"), "delete": N_("removed"), "import": N_("imported"), "review": N_("signed off"),
    "restore": N_("restored"), "backup": N_("backed up"), "acknowledge": N_("acknowledged"), "waive": N_("waived"),
}


@dataclass(frozen=True)
class Change:
    at: datetime  # UTC
    user: str
    action: str  # entered | corrected | removed | imported | signed off | ...
    subject: str  # "Platelets, visit 2021-05-02", "Patient", "Treatment Lenalidomide ..."
    field: str | None  # measure/feature/exam code or column name; None for a whole record
    old: str  # "" when there was none
    new: str  # "" when removed
    reason: str
    visit_date: date | None = None
    source: str = "audit"  # "audit" or "record" (a superseded row without its audit entry)


def _name(code: Any) -> str:
    return display_name(str(code)) if code else "?"


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _quantity(d: dict | None) -> str:
    if not d:
        return ""
    value = _text(d.get("value"))
    unit = d.get("unit") or ""
    shown = f"{value} {unit}".strip()
    entered, entered_unit = d.get("entered"), d.get("entered_unit")
    if entered is not None and entered_unit and entered_unit != unit:
        shown += f" ({_text(entered)} {entered_unit} as entered)"
    return shown


def _load(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _visit_day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _changes_of_entry(row) -> list[Change]:  # noqa: ANN001, C901 (one branch per kind of entry)
    at, user, reason = _aware(row.at), row.user, row.reason or ""
    action = tr(_ACTION_WORDS.get(row.action, row.action))
    old, new = _load(row.old), _load(row.new)
    entity = row.entity

    def change(subject: str, field: str | None, o: str, n: str, visit: date | None = None) -> Change:
        return Change(at, user, action, subject, field, o, n, reason, visit)

    if entity == "observation":
        d = new or old or {}
        visit = _visit_day((new or {}).get("visit") or (old or {}).get("visit"))
        code = d.get("code")
        return [change(tr("{name}, visit {d}").format(name=_name(code), d=visit), code, _quantity(old),
                       _quantity(new), visit)]
    if entity == "feature_status":
        d = new or old or {}
        visit = _visit_day(d.get("visit"))
        return [change(tr("{name}, visit {d}").format(name=_name(d.get("code")), d=visit), d.get("code"),
                       _text((old or {}).get("status")), _text((new or {}).get("status")), visit)]
    if entity == "exam":
        d = new or old or {}
        visit = _visit_day(d.get("visit"))

        def shown(x: dict | None) -> str:
            return "" if not x else (x.get("result", "") + (f" ({x['note']})" if x.get("note") else ""))
        return [change(tr("{name}, visit {d}").format(name=_name(d.get("kind")), d=visit), d.get("kind"),
                       shown(old), shown(new), visit)]
    if entity == "visit" and row.action == "create" and isinstance(new, dict):
        visit = _visit_day(new.get("date"))
        subject = tr("Visit {d}").format(d=visit)
        out = [change(subject, None, "", tr("visit recorded"), visit)]
        for code, value in sorted((new.get("values") or {}).items()):
            out.append(change(tr("{name}, visit {d}").format(name=_name(code), d=visit), code, "", _text(value), visit))
        for code, status in sorted((new.get("features") or {}).items()):
            out.append(change(tr("{name}, visit {d}").format(name=_name(code), d=visit), code, "", status, visit))
        for kind, result in new.get("exams") or []:
            out.append(change(tr("{name}, visit {d}").format(name=_name(kind), d=visit), kind, "", result, visit))
        if new.get("note"):
            out.append(change(subject, "note", "", new["note"], visit))
        return out
    if entity == "visit" and row.action == "review":
        visit = _visit_day((new or {}).get("visit"))
        return [change(tr("Visit {d}").format(d=visit), None, "", tr("signed off (version {v})").format(
            v=(new or {}).get("version")), visit)]
    if isinstance(old, dict) and isinstance(new, dict) and "added" not in new:
        # a corrected record (patient, treatment, visit date or note, protocol...): one row per changed field
        subject = _subject(entity, new)
        visit = _visit_day(old.get("date")) if entity == "visit" else None
        return [change(subject, key, _text(old.get(key)), _text(new.get(key)), visit)
                for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    subject = _subject(entity, new if isinstance(new, dict) else old if isinstance(old, dict) else {})
    if row.action == "import" and isinstance(new, dict):
        detail = new.get("added") or {k: new.get(k) for k in ("visits", "values", "treatments", "events") if k in new}
        return [change(subject, None, "", ", ".join(f"{v} {k}" for k, v in detail.items()))]
    return [change(subject, None, _summary(old), _summary(new))]


def _subject(entity: str, values: dict) -> str:
    if entity == "treatment":
        return tr("Treatment {name} from {start}").format(
            name=_name(values.get("regimen")) if values.get("regimen") != "other" else values.get("name"),
            start=values.get("start"))
    if entity == "event":
        return tr("Event {name} on {d}").format(name=_name(values.get("type")), d=values.get("date"))
    if entity == "patient":
        return tr("Patient")
    return tr(entity.replace("_", " ").capitalize())


def _summary(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items()
                         if v not in (None, "") and k not in ("id", "patient_id", "version", "created_by", "deleted_at",
                                                             "deleted_by"))
    return _text(value)


def patient_history(db: Database, patient_id: int, code: str | None = None) -> list[Change]:
    """Every change recorded for the patient, newest first; only those of `code` when given."""
    with db.read() as session:
        entries = audit_trail.entries_of_patient(session, patient_id)
        visit_dates = visits_repo.visit_dates_of_patient(session, patient_id)
        superseded_obs = visits_repo.superseded_observations_of_patient(session, patient_id)
        replacements = visits_repo.observations_by_id(
            session, [s.replaced_by_id for s in superseded_obs if s.replaced_by_id])
        superseded_feat = visits_repo.superseded_features_of_patient(session, patient_id)
    changes: list[Change] = []
    for row in entries:
        changes.extend(_changes_of_entry(row))
    # superseded rows whose correction has no audit entry (an older file, or a damaged trail)
    corrected = tr("corrected")
    audited: dict[tuple, list[datetime]] = {}
    for c in changes:
        if c.action == corrected:
            audited.setdefault((c.field, c.user), []).append(c.at)

    def has_entry(field: str, user: str | None, at: datetime) -> bool:
        return any(abs((t - at).total_seconds()) < 5 for t in audited.get((field, user), ()))
    for o in superseded_obs:
        if o.derived or has_entry(o.code, o.superseded_by, _aware(o.superseded_at)):
            continue
        new = replacements.get(o.replaced_by_id)
        visit = visit_dates.get(o.visit_id)
        changes.append(Change(
            _aware(o.superseded_at), o.superseded_by or "", tr("corrected"),
            tr("{name}, visit {d}").format(name=_name(o.code), d=visit), o.code,
            _quantity({"value": o.value_text if o.value_text is not None else o.value_num, "unit": o.unit}),
            "" if new is None else _quantity({"value": new.value_text if new.value_text is not None else new.value_num,
                                              "unit": new.unit}),
            o.superseded_reason or "", visit, source="record"))
    for f in superseded_feat:
        if has_entry(f.code, f.superseded_by, _aware(f.superseded_at)):
            continue
        visit = visit_dates.get(f.visit_id)
        changes.append(Change(
            _aware(f.superseded_at), f.superseded_by or "", tr("corrected"),
            tr("{name}, visit {d}").format(name=_name(f.code), d=visit), f.code, f.status, "",
            f.superseded_reason or "", visit, source="record"))
    if code is not None:
        changes = [c for c in changes if c.field == code]
    changes.sort(key=lambda c: c.at, reverse=True)
    return changes


def clinic_history(db: Database, entity: str | None = None, limit: int = 1000) -> list[Change]:
    """Clinic-wide entries (protocol changes, accounts, backups, restores), newest first."""
    with db.read() as session:
        rows = audit_trail.clinic_wide_entries(session, entity, limit)
    out: list[Change] = []
    for row in rows:
        out.extend(_changes_of_entry(row))
    return out


def _patient_id(session: Session, mrn: str) -> int | None:
    row = patients_repo.find_patient(session, mrn)
    return None if row is None else row.id


def newest_entry_of_patient(db: Database, mrn: str) -> int:
    """The id of the patient's newest audit entry (0: none, or no such patient): a mark to ask
    later what changed since (`visit_changes_since`)."""
    with db.read() as session:
        patient_id = _patient_id(session, mrn)
        if patient_id is None:
            return 0
        return audit_trail.newest_entry_of_each_patient(session, [patient_id]).get(patient_id, 0)


def visit_changes_since(db: Database, mrn: str, after_entry: int, visit_date: date) -> tuple[int, list[Change]]:
    """What was written about the patient's visit of `visit_date` after the audit entry
    `after_entry` (another workstation's save while a form had it open), newest first, and the
    new mark (the patient's newest entry id)."""
    with db.read() as session:
        patient_id = _patient_id(session, mrn)
        if patient_id is None:
            return after_entry, []
        rows = audit_trail.entries_of_patient(session, patient_id, after=after_entry)
    changes = [c for row in rows for c in _changes_of_entry(row) if c.visit_date == visit_date]
    changes.sort(key=lambda c: c.at, reverse=True)
    return (rows[-1].id if rows else after_entry), changes
