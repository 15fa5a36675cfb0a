"""The printed summary's response section, read back from the PDF with pdftotext: the status, one
row per line with each domain's category, since when, the values and dates and the rule."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from poems_monitor.services.patient_summary import build_patient_summary
from poems_monitor.services.timeline_io import import_patients
from tests.conftest import TODAY
from tests.unit.timeline_builders import BASELINE_FEATURES, obs, patient, treatment, visit

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")

FEATURES = {**BASELINE_FEATURES, "sclerotic_bone_lesions": "present", "peripheral_edema": "present"}


@pytest.fixture
def clinic(db, admin):
    rosa = patient(
        visit("2025-01-05", obs("ife", "lambda"), vegf_plasma=1200, m_protein=0.3, onls_arm=2, onls_leg=3,
              exams=[("imaging", "abnormal")], features=FEATURES),
        visit("2025-04-05", obs("ife", "negative"), vegf_plasma=80, flc_ratio=1.0, onls_arm=1, onls_leg=3,
              exams=[("imaging", "normal")]),
        visit("2025-10-05", obs("ife", "negative"), vegf_plasma=85, flc_ratio=1.1, onls_arm=1, onls_leg=2),
        treatments=[treatment("bortezomib_dexamethasone", "2025-01-10", "2025-07-10")],
        mrn="H-000700", name="Rosa Printed")
    import_patients(db, [rosa], admin, reason="test")
    return db


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_summary_has_the_response(clinic):
    s = build_patient_summary(clinic, "H-000700", TODAY, generated_by="dr-test")
    (line,) = s.response
    assert [d.category for d in line.domains] == ["complete", "complete", "improved", "complete"]
    assert s.patient_status.headline == "Remission since 2025-07-10"


def test_pdf_response_section(qapp, clinic, tmp_path):
    from poems_monitor.ui.report.summary_document import write_patient_summary

    path = tmp_path / "summary.pdf"
    write_patient_summary(clinic, "H-000700", path, as_of=TODAY, generated_by="dr-test")
    layout = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    text = words(layout)
    section = text[text.index("Response by line of therapy"):]
    assert section.index("Response by line of therapy") < section.index("Events")  # after treatments, before events
    assert "Patient status: Remission since 2025-07-10" in section
    lines = layout[layout.index("Response by line of therapy"):].splitlines()
    header = next(x for x in lines if x.lstrip().startswith("Line"))
    assert re.findall(r"\w+", header) == ["Line", "VEGF", "Haematologic", "Neurologic", "Radiologic"]
    row = next(x for x in lines if x.startswith("Bortezomib"))  # one row per line; the cells side by side
    assert re.findall(r"(Complete|Improved|Partial|Stable|Progression|Not evaluable) since", row) == [
        "Complete", "Complete", "Improved", "Complete"]
    assert "2025-01-10 –" in section and "2025-07-10" in section
    for fragment in ("1200 pg/mL on", "[MAYO-VEGF]", "Rule: complete", "FLC ratio: latest 1.1", "ONLS total:"):
        assert fragment in section, fragment
    assert "Cut-offs marked DEFAULT are clinic settings" in section
