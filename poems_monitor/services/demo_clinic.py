"""The demo clinic: synthetic POEMS patients followed for years, for demos, screenshots,
benchmarks and tests.

Owns the recipe. Courses follow REFERENCE.md: VEGF far above normal at diagnosis falls over about
6 months on therapy (sections 3 and 7), platelets and haemoglobin fall with it, the ONLS improves
over 3 to 15 months (section 3) and worsens on thalidomide or bortezomib (section 7); about 30 %
relapse, with VEGF rising from its nadir and old or new features appearing (section 3); about a
quarter have a thrombosis, more often without prophylaxis on an IMiD (sections 0 and 7);
visits are 3-monthly in the first year of a line of therapy, then 6-monthly, with missed visits,
labs in other units, a change of VEGF specimen, and patients lost to follow-up. Every twelfth
patient from numbers 2, 5, 8 and 11 follows a course that shows a safety rule (aspirin with
thrombosis risk factors, late cytopenias after melphalan, LMWH with platelets below 50, a
critical platelet count arriving by import); from numbers 1, 4, 6, 7 and 10 one that shows a
patient status the random courses may miss (a relapse in the last weeks, still to restage; a
recent referral whose monoclonal work-up is not back, so the criteria are not yet met; a
response on a running line; care transferred elsewhere; a diagnosis in the last weeks). Nothing here is a real person. Deterministic for a given seed and "today".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta

from poems_monitor.domain.catalogue import MEASURES
from poems_monitor.domain.timeline import (
    EventRecord, ExamRecord, ObservationRecord, PatientRecord, TreatmentRecord, VisitRecord,
)
from poems_monitor.domain.units import round_sig
from poems_monitor.domain.validation import check_value
from poems_monitor.i18n import tr
from poems_monitor.persistence.db import Database
from poems_monitor.services.access import Actor
from poems_monitor.services.progress import Progress
from poems_monitor.services.timeline_io import ImportSummary, import_patients

_FIRST_F = ("Anna", "Maria", "Sofia", "Elena", "Claire", "Ingrid", "Yuki", "Amira", "Leila", "Hanna", "Rosa",
            "Chloé", "Marta", "Aiko", "Priya", "Grace", "Noor", "Irene", "Lucia", "Emma")
_FIRST_M = ("Peter", "Jonas", "Luca", "Tomás", "Hiroshi", "Omar", "David", "Mateo", "Karl", "Rajesh", "Samuel",
            "Felix", "Ahmed", "Jan", "Marco", "Kenji", "Louis", "Viktor", "Pablo", "Ethan")
_LAST = ("Keller", "Novak", "Rossi", "García", "Tanaka", "Haddad", "Schmidt", "Dubois", "Nilsson", "Kowalski",
         "Okafor", "Silva", "Yamamoto", "Fischer", "Moreau", "Costa", "Ivanova", "Brennan", "Lindqvist", "Sato",
         "Bianchi", "Petrov", "Jensen", "Alvarez", "Kaur", "Mensah", "O'Neill", "Weber", "Dimitriou", "Larsen")

# Features at diagnosis and their prevalence, in the order of REFERENCE.md section 1.
_BASELINE_FEATURES = (
    ("sclerotic_bone_lesions", 0.6), ("castleman_disease", 0.15), ("splenomegaly", 0.4), ("hepatomegaly", 0.3),
    ("lymphadenopathy", 0.4), ("peripheral_edema", 0.5), ("pleural_effusion", 0.2), ("ascites", 0.12),
    ("hypogonadism", 0.45), ("hypothyroidism", 0.3), ("diabetes", 0.12), ("adrenal_insufficiency", 0.1),
    ("hyperprolactinemia", 0.2), ("hyperpigmentation", 0.5), ("hypertrichosis", 0.3),
    ("glomeruloid_hemangioma", 0.2), ("cherry_angioma", 0.3), ("plethora", 0.12), ("acrocyanosis", 0.15),
    ("white_nails", 0.2), ("papilledema", 0.2), ("clubbing", 0.1), ("weight_loss", 0.4),
    ("pulmonary_hypertension", 0.25), ("restrictive_lung_disease", 0.12),
)
# Features that regress with a response (volume overload, organomegaly, some skin changes).
_RESPONSIVE = {"peripheral_edema", "pleural_effusion", "ascites", "splenomegaly", "hepatomegaly", "lymphadenopathy",
               "papilledema", "plethora", "acrocyanosis", "weight_loss", "pulmonary_hypertension", "hyperpigmentation"}
# Features a relapse or late course may add.
_LATE_FEATURES = ("pleural_effusion", "peripheral_edema", "pulmonary_hypertension", "diabetes", "hypothyroidism",
                  "ascites", "restrictive_lung_disease", "splenomegaly", "hyperpigmentation", "clubbing")


@dataclass
class _Course:
    """The hidden disease state that drives the values of one synthetic patient."""

    vegf_peak: float
    vegf_nadir: float
    platelets_base: float
    platelets_nadir: float
    hb_base: float
    onls_arm: float
    onls_leg: float
    dlco_base: float
    pasp_base: float
    weight_base: float


# Courses that show each safety rule (issue 9) in every demo clinic of a dozen patients or more:
# chosen by the patient's number, drawn from their own random stream so the other patients stay
# as they were.
ASPIRIN_WITH_RISK_FACTORS = "aspirin_with_risk_factors"  # lenalidomide on aspirin, earlier DVT, thrombocytosis
CYTOPENIA_AFTER_MELPHALAN = "cytopenia_after_melphalan"  # late cytopenias years after MDex: MDS work-up
ANTICOAGULATED_LOW_PLATELETS = "anticoagulated_low_platelets"  # lenalidomide on LMWH, platelets fall below 50
CRITICAL_PLATELETS_BY_IMPORT = "critical_platelets_by_import"  # a count above 1000 at diagnosis, imported
# Courses that show a patient status and the restaging item, whatever "today" is.
RECENT_RELAPSE = "recent_relapse"  # relapse recorded 2-6 weeks ago, no new line yet: restaging due
REFERRED_SUSPECTED = "referred_suspected"  # untreated, monoclonal work-up not yet done: criteria not met
TRANSFERRED = "transferred"  # care transferred to another centre a month after the last visit
RESPONDING_ON_LINE = "responding_on_line"  # lenalidomide started 6-10 months ago, VEGF falling
NEW_DIAGNOSIS = "new_diagnosis"  # diagnosed in the last weeks: criteria met, no response documented yet
_STATUS_SCENARIOS = (RECENT_RELAPSE, REFERRED_SUSPECTED, TRANSFERRED, RESPONDING_ON_LINE, NEW_DIAGNOSIS)
_SCENARIOS = {1: RECENT_RELAPSE, 2: ASPIRIN_WITH_RISK_FACTORS, 4: REFERRED_SUSPECTED, 5: CYTOPENIA_AFTER_MELPHALAN,
              6: RESPONDING_ON_LINE, 7: TRANSFERRED, 8: ANTICOAGULATED_LOW_PLATELETS, 10: NEW_DIAGNOSIS,
              11: CRITICAL_PLATELETS_BY_IMPORT}


def scenario_of(index: int) -> str | None:
    return _SCENARIOS.get(index % 12)


def _activity(day: date, starts: list[date], relapses: list[date]) -> float:
    """Disease activity 0..1: high before therapy, decaying (half-life ~60 days) after each line,
    rising again over ~6 months before a relapse."""
    level = 1.0
    for start in starts:
        if day >= start:
            level = 0.5 ** ((day - start).days / 60)
    for onset in relapses:
        if day >= onset - timedelta(days=180):
            started_after = [s for s in starts if s > onset]
            if not started_after or day < started_after[0]:
                level = max(level, min(1.0, 0.15 + 0.85 * (day - (onset - timedelta(days=180))).days / 360))
    return max(0.0, min(1.0, level))


def _q(code: str, value: float, unit: str | None = None, decimals: int | None = None) -> ObservationRecord:
    """An observation as a lab would report it, converted like an import would."""
    m = MEASURES[code]
    d = m.decimals if decimals is None else decimals
    value = round(value, d) if d else float(round(value))
    if m.integer:
        value = float(int(round(value)))
    # The absolute limits are in the canonical unit: clamp the value as the lab reports it to those
    # limits expressed in the lab's unit (clamping 150 g/L to the 25 of g/dL made haemoglobin 2.5).
    conv = m.conversion_for(unit or m.unit)
    lo, hi = m.absolute.low, m.absolute.high
    if conv is not None:
        lo = conv.from_canonical(lo) if lo is not None else None
        hi = conv.from_canonical(hi) if hi is not None else None
    if lo is not None:
        value = max(lo, value)
    if hi is not None:
        value = min(hi, value)
    checked = check_value(code, value, unit)
    assert not checked.refused, checked.message
    return ObservationRecord(code=code, value=checked.canonical, unit=checked.unit, entered_value=float(value),
                             entered_unit=unit, specimen=m.specimen)  # the series' specimen, as stored


def generate_patient(index: int, seed: int, today: date) -> PatientRecord:
    rng = random.Random(seed * 1_000_003 + index)
    sex = "male" if rng.random() < 0.62 else "female"
    if rng.random() < 0.02:
        sex = "unknown"
    first = rng.choice(_FIRST_M if sex == "male" else _FIRST_F)
    name = f"{first} {rng.choice(_LAST)}"
    years = rng.uniform(5, 20) if rng.random() < 0.85 else rng.uniform(0.6, 5)
    diagnosis = today - timedelta(days=int(years * 365.25))
    birth = diagnosis - timedelta(days=int(rng.uniform(32, 70) * 365.25))

    course = _Course(
        vegf_peak=rng.uniform(450, 2600), vegf_nadir=rng.uniform(40, 160) if rng.random() < 0.7 else rng.uniform(160, 330),
        platelets_base=rng.uniform(300, 680), platelets_nadir=rng.uniform(190, 330),
        hb_base=rng.uniform(14.5, 17.8) if sex == "male" else rng.uniform(13.0, 16.8),
        onls_arm=rng.choice((1, 2, 2, 3, 3, 4)), onls_leg=rng.choice((2, 3, 3, 4, 4, 5, 6)),
        dlco_base=rng.uniform(45, 88), pasp_base=rng.uniform(24, 58), weight_base=rng.uniform(52, 92),
    )
    scenario = scenario_of(index)
    extra = random.Random(f"{seed}-{index}-safety")  # the scenario's own stream
    if scenario == REFERRED_SUSPECTED:
        years = extra.uniform(0.3, 0.9)
    elif scenario == RESPONDING_ON_LINE:
        years = extra.uniform(0.6, 0.9)
    elif scenario == NEW_DIAGNOSIS:
        years = extra.uniform(0.05, 0.15)
    elif scenario in (RECENT_RELAPSE, TRANSFERRED) and years < 4:
        years = extra.uniform(4, 12)
    if scenario in _STATUS_SCENARIOS:
        diagnosis = today - timedelta(days=int(years * 365.25))
        birth = diagnosis - timedelta(days=int(extra.uniform(32, 70) * 365.25))
    if scenario == ASPIRIN_WITH_RISK_FACTORS:
        course.platelets_base = max(course.platelets_base, extra.uniform(540, 640))
    elif scenario == CRITICAL_PLATELETS_BY_IMPORT:
        course.platelets_base = extra.uniform(1080, 1180)
    neutrophils_base = extra.uniform(2.6, 5.4)
    serum_patient = rng.random() < 0.2
    specimen_switch = diagnosis + timedelta(days=int(rng.uniform(2, years) * 365)) if rng.random() < 0.1 and years > 3 else None
    si_units = rng.random() < 0.25  # a laboratory that reports g/L and 10*3/uL

    # ---- treatments -----------------------------------------------------------------------
    treatments: list[TreatmentRecord] = []
    events: list[EventRecord] = []
    start1 = diagnosis + timedelta(days=rng.randint(14, 45))
    line_starts: list[date] = [start1]
    roll = rng.random()
    prophylaxis = rng.choices(("aspirin", "lmwh", "none", "unknown"), weights=(70, 12, 10, 8))[0]
    imid_without_prophylaxis = False
    if scenario in (ASPIRIN_WITH_RISK_FACTORS, ANTICOAGULATED_LOW_PLATELETS):
        roll, prophylaxis = 0.6, ("aspirin" if scenario == ASPIRIN_WITH_RISK_FACTORS else "lmwh")
    elif scenario == CYTOPENIA_AFTER_MELPHALAN:
        roll = 0.85
    elif scenario == RESPONDING_ON_LINE:
        roll = 0.6  # lenalidomide-dexamethasone for 11-24 months: still running
    if scenario == ASPIRIN_WITH_RISK_FACTORS:
        events.append(EventRecord("dvt", diagnosis - timedelta(days=extra.randint(300, 900)),
                                  "calf DVT before the diagnosis, anticoagulated for 6 months"))
    if scenario == REFERRED_SUSPECTED:
        line_starts = []  # referred, not yet treated
    elif roll < 0.15:
        treatments.append(TreatmentRecord("radiotherapy", start1, start1 + timedelta(days=28), note="45 Gy to the dominant lesion"))
    elif roll < 0.5:
        induction_stop = start1 + timedelta(days=rng.randint(80, 120))
        treatments.append(TreatmentRecord("lenalidomide_dexamethasone", start1, induction_stop, thromboprophylaxis=prophylaxis))
        imid_without_prophylaxis = prophylaxis in ("none", "unknown")
        infusion = induction_stop + timedelta(days=rng.randint(20, 40))
        engraft = infusion + timedelta(days=rng.randint(9, 14))
        treatments.append(TreatmentRecord("asct", infusion, infusion + timedelta(days=1), engraftment_date=engraft,
                                          melphalan_mg=round(200 * rng.uniform(1.6, 2.0)), note="melphalan 200 mg/m²"))
        line_starts.append(infusion)
        if rng.random() < 0.45:
            events.append(EventRecord("engraftment_syndrome", engraft + timedelta(days=rng.randint(0, 3)),
                                      "fever, rash, weight gain"))
    elif roll < 0.8:
        stop = start1 + timedelta(days=rng.randint(330, 720))
        treatments.append(TreatmentRecord("lenalidomide_dexamethasone", start1, stop, thromboprophylaxis=prophylaxis))
        imid_without_prophylaxis = prophylaxis in ("none", "unknown")
    elif roll < 0.93:
        treatments.append(TreatmentRecord("melphalan_dexamethasone", start1, start1 + timedelta(days=336),
                                          melphalan_mg=round(rng.uniform(600, 1100))))
    else:
        treatments.append(TreatmentRecord("thalidomide_dexamethasone", start1, start1 + timedelta(days=rng.randint(180, 400)),
                                          thromboprophylaxis=prophylaxis))
        imid_without_prophylaxis = prophylaxis in ("none", "unknown")

    relapses: list[date] = []
    if scenario == RECENT_RELAPSE:
        onset = today - timedelta(days=extra.randint(14, 42))
        relapses.append(onset)
        events.append(EventRecord("relapse", onset, "oedema back, VEGF rising: relapse work-up started"))
    elif rng.random() < 0.3 and years > 3 and scenario != REFERRED_SUSPECTED:
        onset = start1 + timedelta(days=int(rng.uniform(2, max(2.5, years - 1)) * 365))
        if onset < today - timedelta(days=120):
            relapses.append(onset)
            events.append(EventRecord("relapse", onset, "VEGF rising, new features"))
            start2 = onset + timedelta(days=rng.randint(30, 75))
            if start2 < today:
                regimen = rng.choice(("lenalidomide_dexamethasone", "daratumumab_based", "bortezomib_dexamethasone"))
                stop2 = start2 + timedelta(days=rng.randint(240, 540))
                treatments.append(TreatmentRecord(
                    regimen, start2, stop2 if stop2 < today else None,
                    thromboprophylaxis=rng.choice(("aspirin", "lmwh")) if regimen.startswith("lenalidomide") else None))
                line_starts.append(start2)

    thrombosis_risk = 0.12 + (0.25 if imid_without_prophylaxis else 0) + (0.08 if course.platelets_base > 500 else 0)
    if rng.random() < thrombosis_risk and scenario != REFERRED_SUSPECTED:
        when = start1 + timedelta(days=rng.randint(-20, 100))
        events.append(EventRecord(rng.choices(("dvt", "pe", "arterial_thrombosis", "stroke"), weights=(55, 20, 15, 10))[0],
                                  min(when, today - timedelta(days=1)), "treated with anticoagulation"))
    if rng.random() < 0.3:
        events.append(EventRecord("hospitalisation", diagnosis + timedelta(days=rng.randint(1, int(years * 365))),
                                  "admitted for volume overload"))

    # ---- visits ------------------------------------------------------------------------------
    last_day = today
    lost = rng.random() < 0.1 and years > 4
    if lost:
        last_day = today - timedelta(days=int(rng.uniform(1.2, 4) * 365))
    died = rng.random() < 0.04 and years > 6
    if scenario in _STATUS_SCENARIOS:
        lost = died = False
    if scenario == TRANSFERRED:
        lost = True  # nothing known after the last visit, which is recent enough not to count as lost
        last_day = today - timedelta(days=extra.randint(90, 300))
    if died:
        death = today - timedelta(days=int(rng.uniform(0.3, 3) * 365))
        events.append(EventRecord("death", death, ""))
        last_day = min(last_day, death - timedelta(days=10))
    events = [e for e in events if e.date <= today]
    if lost or died:
        # Lost to follow-up or dead: nothing happened (or is known) after the last visit.
        horizon = last_day - timedelta(days=30)
        events = [e for e in events if e.date <= horizon or e.type == "death"]
        treatments = [t for t in treatments if t.start <= horizon]
        relapses = [r for r in relapses if r <= horizon]
        line_starts = [s for s in line_starts if s <= horizon]
    if died:
        # A line that was to stop after the death stopped at it: nothing is recorded after a death.
        treatments = [t if t.stop is None or t.stop <= death else replace(t, stop=death) for t in treatments]
    transfer_after_last_visit = scenario == TRANSFERRED
    # Nothing in the record may lie in the future: a line still running has no stop date yet.
    treatments = [
        t if t.stop is None or t.stop <= today else TreatmentRecord(
            t.regimen, t.start, None, t.thromboprophylaxis, t.name,
            t.engraftment_date if t.engraftment_date and t.engraftment_date <= today else None, t.melphalan_mg, t.note)
        for t in treatments if t.start <= today
    ]

    present: set[str] = {"polyneuropathy", "monoclonal_plasma_cell_disorder"}
    for code, p in _BASELINE_FEATURES:
        if rng.random() < p:
            present.add(code)
    if scenario == REFERRED_SUSPECTED:
        present.discard("monoclonal_plasma_cell_disorder")  # the work-up is not back yet: unknown
    if sex == "male" and rng.random() < 0.1:
        present.add("gynecomastia")
    ever_present = set(present)
    late_feature = (rng.choice(_LATE_FEATURES), diagnosis + timedelta(days=int(rng.uniform(1, years) * 365))) \
        if rng.random() < 0.2 else None

    visit_days: list[date] = [diagnosis]
    day = diagnosis
    while True:
        on_first_year = any(timedelta(0) <= day - s < timedelta(days=365) for s in line_starts)
        step = rng.randint(80, 100) if on_first_year else rng.randint(165, 200)
        if rng.random() < 0.08:
            step += rng.randint(90, 200)  # a missed visit
        day = day + timedelta(days=step)
        if day > last_day:
            break
        visit_days.append(day)
    if scenario == RECENT_RELAPSE:  # the relapse visit is the latest: restaging has not begun
        visit_days = [d for d in visit_days if d < relapses[0]] + [relapses[0]]
    if transfer_after_last_visit:
        events.append(EventRecord("transferred", visit_days[-1] + timedelta(days=extra.randint(20, 60)),
                                  "care transferred to the patient's home centre"))

    # Late cytopenias after melphalan (a question of therapy-related MDS), in the last months of follow-up.
    cytopenia_from = None
    if scenario == CYTOPENIA_AFTER_MELPHALAN and visit_days:
        cytopenia_from = max(start1 + timedelta(days=400), visit_days[-1] - timedelta(days=extra.randint(0, 100)))
    low_platelet_visit = None
    if scenario == ANTICOAGULATED_LOW_PLATELETS:  # lenalidomide myelosuppression in the first months
        low_platelet_visit = next((d for d in visit_days if timedelta(days=40) <= d - start1 <= timedelta(days=240)), None)

    visits: list[VisitRecord] = []
    echo_interval = 365 if course.pasp_base >= 40 else 730
    last_echo = last_pft = last_imaging = last_endocrine = None
    for n, day in enumerate(visit_days):
        act = _activity(day, line_starts, relapses)
        obs: list[ObservationRecord] = []
        exams: list[ExamRecord] = []
        noise = lambda s: rng.gauss(0, s)  # noqa: E731

        # haematology every visit
        plt = course.platelets_nadir + (course.platelets_base - course.platelets_nadir) * act + noise(25)
        hb = course.hb_base - (1.6 * (1 - act)) + noise(0.35)
        anc = max(1.7, neutrophils_base + extra.gauss(0, 0.35))
        if cytopenia_from is not None and day >= cytopenia_from:
            plt, anc, hb = extra.uniform(52, 70), extra.uniform(0.9, 1.3), hb - extra.uniform(2.2, 3.0)
        elif day == low_platelet_visit:
            plt = extra.uniform(38, 47)
        if si_units:
            obs.append(_q("platelets", plt, "10*3/uL"))
            obs.append(_q("hemoglobin", hb * 10, "g/L", 0))
        else:
            obs.append(_q("platelets", plt, "10*9/L"))
            obs.append(_q("hemoglobin", hb, "g/dL"))
        obs.append(_q("hematocrit", hb * 2.95 + noise(0.8), "%"))
        obs.append(_q("neutrophils", anc, "10*9/L"))
        obs.append(_q("creatinine", 0.8 + 0.3 * act + noise(0.08), "mg/dL"))
        obs.append(_q("egfr", 95 - 30 * act + noise(6)))
        albumin = 4.2 - 0.9 * act + noise(0.15)
        obs.append(_q("albumin", albumin * 10, "g/L", 0) if si_units else _q("albumin", albumin, "g/dL"))

        # VEGF: at baseline, 3-monthly in the first year of a line, then 6-monthly
        in_first_year = any(timedelta(0) <= day - s < timedelta(days=365) for s in line_starts)
        if n == 0 or in_first_year or n % 2 == 0 or act > 0.3:
            serum = serum_patient != bool(specimen_switch and day >= specimen_switch)
            plasma_value = course.vegf_nadir + (course.vegf_peak - course.vegf_nadir) * act
            plasma_value *= rng.uniform(0.88, 1.12)
            if serum:
                obs.append(_q("vegf_serum", plasma_value * 3.6 + 300, "pg/mL"))
            else:
                obs.append(_q("vegf_plasma", plasma_value, "pg/mL"))

        # monoclonal protein every other visit
        if n % 2 == 0 and scenario != REFERRED_SUSPECTED:
            mp = max(0.0, 0.6 * act + noise(0.05)) if act > 0.08 else 0.0
            obs.append(_q("m_protein", mp, "g/dL"))
            ife = "lambda" if act > 0.08 else "negative"
            obs.append(ObservationRecord("ife", ife, "", entered_value=ife))
            lam = 18 + 50 * act + noise(3)
            obs.append(_q("flc_lambda", lam, "mg/L"))
            obs.append(_q("flc_kappa", 12 + noise(2), "mg/L"))
            obs.append(_q("flc_ratio", (12 + noise(1)) / max(lam, 1), None, 2))

        # neuropathy: ONLS at every visit, improving after therapy, worse on neurotoxic drugs
        months_on = min(((day - line_starts[0]).days / 30.4) if line_starts and day >= line_starts[0] else 0, 24)
        gain = min(2.0, months_on / 8)
        neurotoxic = any(t.regimen in ("thalidomide_dexamethasone", "bortezomib_dexamethasone") and t.start <= day
                         and (t.stop is None or day <= t.stop + timedelta(days=120)) for t in treatments)
        arm = course.onls_arm - gain * 0.6 + (1 if neurotoxic else 0) + (1 if act > 0.5 and n > 0 else 0)
        leg = course.onls_leg - gain + (1 if neurotoxic else 0) + (1 if act > 0.5 and n > 0 else 0)
        obs.append(_q("onls_arm", max(0, min(5, round(arm + noise(0.2))))))
        obs.append(_q("onls_leg", max(0, min(7, round(leg + noise(0.2))))))
        obs.append(_q("weight", course.weight_base + 4 * act + noise(0.8), "kg"))
        if n % 4 == 0:
            obs.append(_q("mrs", max(0, min(5, round(1 + act * 2)))))

        # endocrine: baseline, then roughly yearly
        if last_endocrine is None or (day - last_endocrine).days > 330:
            last_endocrine = day
            obs.append(_q("tsh", max(0.2, (6.5 if "hypothyroidism" in present else 2.0) + noise(0.6)), "m[IU]/L", 2))
            obs.append(_q("free_t4", max(0.4, 1.1 + noise(0.15)), "ng/dL", 2))
            if sex == "male":
                obs.append(_q("testosterone", max(50, (220 if "hypogonadism" in present else 480) + noise(60)), "ng/dL"))
            obs.append(_q("prolactin", max(2, (32 if "hyperprolactinemia" in present else 12) + noise(4)), "ng/mL"))
            obs.append(_q("glucose_fasting", (135 if "diabetes" in present else 92) + noise(8), "mg/dL"))
            obs.append(_q("hba1c", (7.1 if "diabetes" in present else 5.4) + noise(0.2), "%"))
            obs.append(_q("calcium", 9.2 + noise(0.3), "mg/dL"))
            obs.append(_q("cortisol_am", max(2, (6 if "adrenal_insufficiency" in present else 14) + noise(2)), "ug/dL"))
            exams.append(ExamRecord("endocrine_panel", "abnormal" if present & {"hypogonadism", "hypothyroidism",
                                    "adrenal_insufficiency", "hyperprolactinemia", "diabetes"} else "normal"))

        # echo and PFT at baseline, then at their own intervals (sometimes forgotten)
        if last_echo is None or ((day - last_echo).days > echo_interval and rng.random() < 0.8):
            last_echo = day
            pasp = course.pasp_base - 12 * (1 - act) + noise(3) + (14 if late_feature and late_feature[0] == "pulmonary_hypertension" and day >= late_feature[1] else 0)
            obs.append(_q("pasp", max(15, pasp), "mm[Hg]"))
            obs.append(_q("lvef", 60 + noise(3), "%"))
            exams.append(ExamRecord("echo", "abnormal" if pasp >= 40 else "normal", f"RVSP {pasp:.0f}"))
        pft_interval = 365 if course.dlco_base < 70 else 730
        if last_pft is None or ((day - last_pft).days > pft_interval and rng.random() < 0.75):
            last_pft = day
            pleural = late_feature and late_feature[0] in ("pleural_effusion", "restrictive_lung_disease") and day >= late_feature[1]
            dlco = course.dlco_base + 10 * (1 - act) + noise(3) - (16 if pleural else 0)
            obs.append(_q("dlco_pct", max(20, min(120, dlco))))
            obs.append(_q("fvc_pct", max(30, min(120, 88 - 8 * act + noise(3) - (12 if pleural else 0)))))
            obs.append(_q("fev1_pct", max(30, min(120, 86 - 7 * act + noise(3)))))
            obs.append(_q("tlc_pct", max(40, min(130, 90 - 6 * act + noise(3) - (10 if pleural else 0)))))
            exams.append(ExamRecord("pft", "abnormal" if dlco < 70 else "normal"))
        if last_imaging is None or any(timedelta(days=100) <= day - s <= timedelta(days=200) for s in line_starts) \
                and (day - last_imaging).days > 150 or (day - last_imaging).days > 400 and rng.random() < 0.5:
            last_imaging = day
            exams.append(ExamRecord("imaging", "abnormal" if act > 0.3 else "normal",
                                    "PET/CT: sclerotic lesions" if act > 0.3 else "PET/CT: no FDG-avid lesion"))

        # features: regress with response, return at relapse, sometimes new late
        if n > 0:
            for code in sorted(present):  # sorted: a set's order changes between processes, the draws must not
                if code in _RESPONSIVE and act < 0.25 and rng.random() < 0.35:
                    present.discard(code)
            if act > 0.6:
                for code in sorted(ever_present & _RESPONSIVE):
                    if rng.random() < 0.4:
                        present.add(code)
            if late_feature and day >= late_feature[1]:
                present.add(late_feature[0])
                ever_present.add(late_feature[0])
        recorded = {code: ("present" if code in present else "absent") for code in ever_present}
        for code in rng.sample(("ascites", "papilledema", "clubbing", "pericardial_effusion", "white_nails"), 2):
            recorded.setdefault(code, "present" if code in present else "absent")
        note = ""
        if n == 0:
            note = "Baseline visit at diagnosis."
        elif any(abs((day - r).days) < 60 for r in relapses):
            note = "Symptoms worse; relapse work-up."
        visits.append(VisitRecord(date=day, observations=_with_onls_total(obs), features=tuple(sorted(recorded.items())),
                                  exams=tuple(exams), note=note))

    # The transplant ward assesses the engraftment-syndrome watch while the patient is in (a review
    # dated inside the window, as a transplant unit records it); without it every ASCT of the demo
    # would leave its window "not assessed" on the worklist for ever.
    for t in treatments:
        if t.regimen == "asct" and t.engraftment_date is not None:
            ward_day = t.engraftment_date + timedelta(days=1)
            if ward_day <= last_day and all(v.date != ward_day for v in visits):
                visits.append(VisitRecord(date=ward_day, note="Transplant ward review: engraftment-syndrome watch."))
    visits.sort(key=lambda v: v.date)

    return PatientRecord(
        mrn=_demo_mrn(index), name=name, sex=sex, birth_date=birth, diagnosis_date=diagnosis,
        visits=tuple(visits), treatments=tuple(sorted(treatments, key=lambda t: (t.start, t.regimen))),
        events=tuple(sorted(events, key=lambda e: (e.date, e.type))),
    )


def _with_onls_total(obs: list[ObservationRecord]) -> tuple[ObservationRecord, ...]:
    by_code = {o.code: o for o in obs}
    if "onls_arm" in by_code and "onls_leg" in by_code:
        total = float(by_code["onls_arm"].value) + float(by_code["onls_leg"].value)
        obs = [*obs, ObservationRecord("onls", round_sig(total), MEASURES["onls"].unit, derived=True)]
    return tuple(obs)


def generate_patients(count: int, seed: int, today: date, first_index: int = 0) -> list[PatientRecord]:
    return [generate_patient(first_index + i, seed, today) for i in range(count)]


DEMO_REASON = "demo clinic generator (seed {seed})"


def real_patient_count(db: Database) -> int:
    """Patients not made by the demo generator (as the audit trail says): the people a `demo`
    run would mix synthetic patients in with."""
    from sqlalchemy import func, select

    from poems_monitor.models import AuditEntry, Patient

    A, P = AuditEntry.__table__, Patient.__table__
    demo = select(A.c.patient_id).where(A.c.action == "import", A.c.entity == "patient",
                                        A.c.reason.like(DEMO_REASON.split("{")[0] + "%"))
    with db.read() as session:
        return session.execute(select(func.count()).select_from(P).where(P.c.id.not_in(demo))).scalar_one()


def demo_mrns(db: Database, count: int) -> tuple[str, str]:
    """The first and last MRN the next `count` demo patients get."""
    from sqlalchemy import func, select

    from poems_monitor.models import Patient

    with db.read() as session:
        existing = session.execute(select(func.count()).select_from(Patient.__table__)).scalar_one()
    return _demo_mrn(existing), _demo_mrn(existing + count - 1)


def _demo_mrn(index: int) -> str:
    return f"H-{100000 + index:06d}"


def create_demo_clinic(
    db: Database, count: int, *, seed: int, actor: Actor, today: date, progress: Progress | None = None,
) -> ImportSummary:
    """Add `count` synthetic patients, numbered after any already stored, in one transaction."""
    from sqlalchemy import func, select

    from poems_monitor.models import Patient

    with db.read() as session:
        existing = session.execute(select(func.count()).select_from(Patient.__table__)).scalar_one()
    patients: list[PatientRecord] = []
    for start in range(0, count, 100):
        patients.extend(generate_patients(min(100, count - start), seed, today, first_index=existing + start))
        if progress:
            progress(tr("Generating"), len(patients), count)
    summary = import_patients(db, patients, actor, reason=DEMO_REASON.format(seed=seed), progress=progress)
    acknowledge_past_flags(db, [p.mrn for p in patients], today)
    return summary


DEMO_REVIEWER = "dr-demo"
# A physician saw what was flagged up to a few months before each patient's last visit; what
# came later is still waiting for review, as in a real clinic's worklist.
_REVIEWED_UP_TO_DAYS_BEFORE_LAST_VISIT = 120


def acknowledge_past_flags(db: Database, mrns: list[str], today: date) -> int:
    """Record demo acknowledgements (audited, one per flag) of the flags raised before each
    patient's recent visits. Returns how many were acknowledged."""
    from sqlalchemy import insert

    from poems_monitor.domain.flags import compute_flags
    from poems_monitor.models import FlagReview
    from poems_monitor.persistence.repositories.timelines import load_timelines
    from poems_monitor.services.audit import AuditWriter, utcnow
    from poems_monitor.services.protocol_store import protocol_in

    with db.write() as session:
        protocol = protocol_in(session)
        audit = AuditWriter(session, DEMO_REVIEWER)
        rows = []
        for patient in load_timelines(session, mrns=mrns):
            if not patient.visits:
                continue
            cutoff = patient.visits[-1].date - timedelta(days=_REVIEWED_UP_TO_DAYS_BEFORE_LAST_VISIT)
            for flag in compute_flags(patient, protocol, today):
                if flag.date >= cutoff:
                    continue
                at = utcnow()
                rows.append(dict(patient_id=patient.patient_id, flag_id=flag.flag_id, kind=flag.kind.value,
                                 code=flag.code, flag_date=flag.date, comment="Seen at clinic (demo data)",
                                 reviewed_at=at, reviewed_by=DEMO_REVIEWER))
                audit.append("acknowledge", "flag", patient_id=patient.patient_id, at=at,
                             new={"flag_id": flag.flag_id, "kind": flag.kind.value, "code": flag.code,
                                  "date": flag.date.isoformat(), "comment": "Seen at clinic (demo data)"})
        if rows:
            session.execute(insert(FlagReview.__table__), rows)
    return len(rows)
