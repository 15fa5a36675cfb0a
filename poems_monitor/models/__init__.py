"""SQLModel tables. Importing this package registers every table on `SQLModel.metadata`."""

from poems_monitor.models.audit import AuditEntry, RecordSeal
from poems_monitor.models.patient import Patient
from poems_monitor.models.review import FlagReview, FollowupWaiver
from poems_monitor.models.rules_cache import RulesCache
from poems_monitor.models.setting import ClinicSetting
from poems_monitor.models.treatment import Event, Treatment
from poems_monitor.models.user import User
from poems_monitor.models.visit import Exam, FeatureStatus, Observation, Visit

__all__ = [
    "AuditEntry", "ClinicSetting", "Event", "Exam", "FeatureStatus", "FlagReview", "FollowupWaiver", "Observation",
    "Patient", "RecordSeal", "RulesCache", "Treatment", "User", "Visit",
]
