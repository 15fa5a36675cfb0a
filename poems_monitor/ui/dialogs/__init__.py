"""Dialogs that save through the services: new or corrected patient, treatment, event."""

from poems_monitor.ui.dialogs.event import EventDialog
from poems_monitor.ui.dialogs.patient import PatientDialog
from poems_monitor.ui.dialogs.treatment import TreatmentDialog

__all__ = ["EventDialog", "PatientDialog", "TreatmentDialog"]
