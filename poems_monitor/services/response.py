"""The response assessment of one patient (INTERFACES.md section 5): the use case behind
`poems-monitor response`.

Owns loading one patient's full timeline and the clinic's protocol in one read snapshot (the same
repository and protocol store the dashboard and the flags use) and applying the domain's rules:
`response.assess_response` per line of therapy and `patient_status.patient_status`. Returns
plain frozen dataclasses. No Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from poems_monitor.domain.patient_status import PatientStatusAssessment, patient_status
from poems_monitor.domain.response import LineResponse, assess_response, response_to_json
from poems_monitor.persistence.db import Database
from poems_monitor.persistence.repositories.timelines import load_timelines
from poems_monitor.services.errors import PatientNotFound
from poems_monitor.services.protocol_store import status_in


@dataclass(frozen=True)
class PatientResponse:
    mrn: str
    name: str
    as_of: date
    lines: tuple[LineResponse, ...]  # oldest first
    status: PatientStatusAssessment

    def to_json(self) -> dict:
        """The document of INTERFACES.md section 5, with the patient's status added."""
        return response_to_json(self.mrn, self.as_of, self.lines, self.status.to_json())


def patient_response(db: Database, mrn: str, as_of: date) -> PatientResponse:
    """The response per line of therapy and the status of `mrn` as of `as_of` (PatientNotFound naming
    the MRN when unknown)."""
    with db.read() as session:
        protocol = status_in(session).protocol
        records = load_timelines(session, mrns=[mrn])
    if not records:
        raise PatientNotFound(mrn)
    record = records[0]
    lines = assess_response(record, protocol, as_of)
    return PatientResponse(record.mrn, record.name, as_of, lines,
                           patient_status(record, protocol, as_of, response=lines))
