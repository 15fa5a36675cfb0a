"""Visit entry: the nurse's form for a new visit or a correction (see form.py)."""

from poems_monitor.ui.entry.form import VisitEntryForm
from poems_monitor.ui.entry.reason import ReasonDialog

__all__ = ["VisitEntryForm", "ReasonDialog"]
