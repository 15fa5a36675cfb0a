"""The demo clinic's values are clinically plausible for each patient's course (issue 10, defect 4:
labs reporting in g/L gave haemoglobin 2.5 g/dL and albumin 1.0 g/dL), and the demo shows every
safety flag kind on at least one patient (issue 9). Pure: the generator's records, no database."""

from __future__ import annotations

from datetime import date

import pytest

from poems_monitor.domain.catalogue import MEASURES, REGIMENS
from poems_monitor.domain.flags import compute_flags
from poems_monitor.domain.protocol import default_protocol
from poems_monitor.services.demo_clinic import generate_patients

TODAY = date(2026, 11, 21)

# Plausible adult values for the courses the generator draws (canonical units): wide enough for
# active disease, treatment and relapse, far narrower than the absolute entry limits.
PLAUSIBLE = {
    "vegf_plasma": (10, 5000), "vegf_serum": (100, 15000), "platelets": (20, 1500), "hemoglobin": (7, 20),
    "hematocrit": (20, 60), "neutrophils": (0.3, 12), "m_protein": (0, 3), "flc_kappa": (1, 100),
    "flc_lambda": (1, 500), "flc_ratio": (0.01, 5), "tsh": (0.1, 20), "free_t4": (0.3, 3),
    "glucose_fasting": (50, 600), "hba1c": (4, 12), "testosterone": (20, 1200), "prolactin": (1, 100),
    "calcium": (7, 12), "cortisol_am": (1, 30), "creatinine": (0.3, 3), "egfr": (15, 130), "albumin": (2.0, 5.5),
    "fvc_pct": (20, 130), "fev1_pct": (20, 130), "tlc_pct": (20, 140), "dlco_pct": (15, 130), "pasp": (15, 90),
    "lvef": (35, 75), "weight": (35, 150),
}
# Counts that fall only after myelotoxic therapy (alkylator, ASCT) or on lenalidomide.
LOW_COUNT = {"platelets": 100, "neutrophils": 1.5, "hemoglobin": 10}


@pytest.mark.parametrize("seed", [1, 7, 2026])
def test_every_demo_value_is_plausible_for_its_course(seed):
    for p in generate_patients(40, seed, TODAY):
        for v in p.visits:
            for o in v.observations:
                if o.number is None:
                    continue
                m = MEASURES[o.code]
                low, high = PLAUSIBLE.get(o.code, (m.absolute.low, m.absolute.high))
                assert low <= o.number <= high, f"{p.mrn} {v.date} {o.code} {o.number} {m.unit} (entered {o.entered_value} {o.entered_unit})"
                if o.code in LOW_COUNT and o.number < LOW_COUNT[o.code]:
                    myelotoxic = [t for t in p.treatments if t.start < v.date and REGIMENS[t.regimen].drug_classes
                                  & {"alkylator", "transplant", "imid"}]
                    assert myelotoxic, f"{p.mrn} {v.date}: {o.code} {o.number} without myelotoxic therapy before it"


def test_si_unit_labs_are_converted_not_clamped():
    patients = generate_patients(40, 1, TODAY)
    si = [o for p in patients for v in p.visits for o in v.observations if o.entered_unit == "g/L"]
    assert si, "the demo should include a laboratory reporting in g/L"
    typed = {"hemoglobin": (70, 200), "albumin": (20, 55), "m_protein": (0, 30)}  # g/L as such a lab reports
    for o in si:
        assert o.value == pytest.approx(o.entered_value / 10)
        low, high = typed[o.code]
        assert low <= o.entered_value <= high, f"{o.code} {o.entered_value} g/L"


@pytest.mark.parametrize("seed", [1, 7])
def test_the_demo_clinic_shows_every_safety_flag_kind(seed):
    protocol = default_protocol()
    flags = [f for p in generate_patients(40, seed, TODAY) for f in compute_flags(p, protocol, TODAY)]
    kinds = {f.kind.value for f in flags}
    assert {"bleeding_risk", "cytopenia", "critical_value"} <= kinds
    assert any(f.rule == "thrombosis_watch_aspirin_risk" for f in flags)
    melphalan_cytopenia = [f for f in flags if f.kind.value == "cytopenia" and f.evidence.get("cumulative_melphalan_mg")]
    assert melphalan_cytopenia
    # a critical value is the exception, not the rule: a handful of patients, not every other one
    assert len({f.mrn for f in flags if f.kind.value == "critical_value"}) <= 6
