"""The clinic worklist screen and its table model (see view.py, model.py)."""

from poems_monitor.ui.worklist.model import WorklistFilter, WorklistModel, WorklistRow, load_worklist
from poems_monitor.ui.worklist.view import WorklistView

__all__ = ["WorklistFilter", "WorklistModel", "WorklistRow", "WorklistView", "load_worklist"]
