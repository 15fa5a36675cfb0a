"""A visit and what was recorded at it: observations, feature statuses and exams.

Rows of observations, feature statuses and exams are never updated in place: a correction marks
the old row superseded (who, when, why) and adds the new one, so the old value stays readable.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import DateTime, Index, UniqueConstraint, false
from sqlmodel import Field

from poems_monitor.models.base import TableModel


class Visit(TableModel, table=True):
    __tablename__ = "visit"
    __table_args__ = (UniqueConstraint("patient_id", "date", name="uq_visit_patient_date"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    date: date
    note: str = ""
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    created_by: str = Field(max_length=64)
    updated_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    updated_by: str | None = Field(default=None, max_length=64)
    version: int = 1  # optimistic concurrency: bumped on every change to the visit or its rows
    reviewed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    reviewed_by: str | None = Field(default=None, max_length=64)


class Observation(TableModel, table=True):
    __tablename__ = "observation"
    # (visit_id, code): a visit's value of a measure, and the export's order. (visit_id, id):
    # the order in which timelines read the values (a patient's, a batch's, the clinic's), so
    # that SQLite reads them in that order instead of sorting every row (issue 13).
    __table_args__ = (Index("ix_observation_visit_code", "visit_id", "code"),
                      Index("ix_observation_visit_id", "visit_id", "id"))

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id")
    code: str = Field(max_length=40)
    value_num: float | None = None  # canonical value in `unit`
    value_text: str | None = Field(default=None, max_length=40)  # categorical result
    unit: str = Field(default="", max_length=32)  # canonical UCUM unit
    entered_num: float | None = None  # the number as typed or imported
    entered_unit: str | None = Field(default=None, max_length=32)  # the unit as typed (None: omitted)
    specimen: str | None = Field(default=None, max_length=20)
    lab: str | None = Field(default=None, max_length=80)
    method: str | None = Field(default=None, max_length=80)
    qualifier: str | None = Field(default=None, max_length=1)  # "<" or ">" for censored results
    derived: bool = False  # computed by the tool (ONLS total), not entered
    # Entered in the visit form, where a person confirms every critical value; False for values
    # that came by timeline import or lab file (the `critical_value` flag reads this).
    confirmed_at_entry: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    entered_at: datetime = Field(sa_type=DateTime(timezone=True))
    entered_by: str = Field(max_length=64)
    superseded_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    superseded_by: str | None = Field(default=None, max_length=64)
    superseded_reason: str | None = None
    replaced_by_id: int | None = Field(default=None, foreign_key="observation.id")


class FeatureStatus(TableModel, table=True):
    __tablename__ = "feature_status"
    __table_args__ = (Index("ix_feature_status_visit_code", "visit_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id")
    code: str = Field(max_length=40)
    status: str = Field(max_length=8)  # present | absent | unknown
    entered_at: datetime = Field(sa_type=DateTime(timezone=True))
    entered_by: str = Field(max_length=64)
    superseded_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    superseded_by: str | None = Field(default=None, max_length=64)
    superseded_reason: str | None = None


class Exam(TableModel, table=True):
    __tablename__ = "exam"
    __table_args__ = (Index("ix_exam_visit_kind", "visit_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id")
    kind: str = Field(max_length=24)
    result: str = Field(max_length=10)  # normal | abnormal | pending
    note: str = ""
    entered_at: datetime = Field(sa_type=DateTime(timezone=True))
    entered_by: str = Field(max_length=64)
    superseded_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    superseded_by: str | None = Field(default=None, max_length=64)
    superseded_reason: str | None = None
