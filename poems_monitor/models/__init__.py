"""SQLModel tables. Importing this package registers every table on `SQLModel.metadata`."""

from poems_monitor.models.audit import AuditEntry
from poems_monitor.models.patient import Patient
from poems_monitor.models.treatment import Event, Treatment
from poems_monitor.models.user import User
from poems_monitor.models.visit import Exam, FeatureStatus, Observation, Visit

__all__ = ["AuditEntry", "Event", "Exam", "FeatureStatus", "Observation", "Patient", "Treatment", "User", "Visit"]
