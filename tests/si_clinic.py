"""A clinic whose protocol shows creatinine, haemoglobin and fasting glucose in SI units, with one
patient: shared by the display-units tests of the services and of the screens."""

from __future__ import annotations

from datetime import date

from poems_monitor.domain.protocol import default_protocol_text
from poems_monitor.services.patients import PatientInput, create_patient
from poems_monitor.services.protocol_store import save_protocol
from tests.conftest import TODAY

MRN = "H-000123"
SI_TABLE = '\n[units]\ncreatinine = "umol/L"\nhemoglobin = "g/L"\nglucose_fasting = "mmol/L"\n'
SI = default_protocol_text() + SI_TABLE


def make_si_clinic(db, nurse, physician):  # noqa: ANN001, ANN201
    """One patient, then the SI protocol saved by a physician (an audited protocol change)."""
    create_patient(db, nurse, PatientInput(MRN, "Jane Example", "female", date(1971, 4, 2), date(2019, 3, 14)),
                   today=TODAY)
    save_protocol(db, physician, SI, "the laboratory reports SI units")
    return db
