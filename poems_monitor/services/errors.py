"""The refusals every write service can raise, in words for the person at the desk.

Owns the shapes: a field problem (field + sentence), an input refused whole, and a save refused
because someone else changed the record since it was opened; re-exports the typed "not found"
errors of `persistence.errors` and `DatabaseBusy` (another workstation's long write held the
database: nothing was saved, try again).
"""

from __future__ import annotations

from dataclasses import dataclass

# Raised by the repositories; named here so that the UI, which may not import persistence, can
# catch them by type and show str(exc) as it is.
from poems_monitor.persistence.db import DatabaseBusy
from poems_monitor.persistence.errors import PatientNotFound, RecordNotFound, TreatmentNotFound, VisitNotFound

__all__ = ["ConcurrentEdit", "DatabaseBusy", "FieldProblem", "InputRefused", "PatientNotFound", "RecordNotFound",
           "TreatmentNotFound", "VisitNotFound"]


@dataclass(frozen=True)
class FieldProblem:
    field: str  # measure / feature / exam code, or "date", "reason", "mrn", ...
    message: str
    needs_confirmation: bool = False  # a critical value: confirm and save again


class InputRefused(Exception):
    """Nothing was saved; `problems` names every field and rule at fault."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))

    @property
    def only_needs_confirmation(self) -> bool:
        return all(p.needs_confirmation for p in self.problems)


class ConcurrentEdit(Exception):
    """Someone else saved this record since it was opened; the message says who and when."""
