"""Lookups that find nothing, as typed errors whose str() is the sentence for the user.

They live here, below the services, because the repositories raise them; `services.errors`
re-exports them for the UI (which may not import persistence). They stay `KeyError`s so that
callers written against the old untyped refusals keep working, but unlike `KeyError` their
str() is the plain sentence, not its repr in quotes: nobody needs to unpick the message.
"""

from __future__ import annotations

from poems_monitor.i18n import tr


class RecordNotFound(KeyError):
    """The record a caller named does not exist; `args[0]` and str() are the user's sentence."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else super().__str__()


class PatientNotFound(RecordNotFound):
    """No patient has the MRN `mrn` (compared as `domain.input_rules.mrn_key` does)."""

    def __init__(self, mrn: str):
        self.mrn = mrn
        super().__init__(tr("No patient with MRN {mrn}").format(mrn=mrn))


class VisitNotFound(RecordNotFound):
    """No visit has the id `visit_id`."""

    def __init__(self, visit_id: int):
        self.visit_id = visit_id
        super().__init__(tr("Visit {id} does not exist").format(id=visit_id))


class TreatmentNotFound(RecordNotFound):
    """No current (not removed) treatment has the id `treatment_id`."""

    def __init__(self, treatment_id: int):
        self.treatment_id = treatment_id
        super().__init__(tr("Treatment {id} does not exist").format(id=treatment_id))
