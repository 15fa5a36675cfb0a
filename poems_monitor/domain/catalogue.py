"""The catalogue: every measure, feature, criterion, exam kind, regimen and event type.

Owns the codes of INTERFACES.md section 2 and what the tool knows about each: display name,
LOINC code (REFERENCE.md section 2), canonical UCUM unit, accepted alternative units with their
conversion, and the three tiers of entry limits:

- absolute: physically impossible or a typing error; refused;
- critical: possible but alarming; the person entering must confirm;
- reference: outside the usual range; the value is saved and marked.

Every limit carries its source. Where the clinical reference gives no number, the value is a
clinic DEFAULT (a plausibility setting, not literature) and says so; clinics review them.

Pure data and look-ups: no Qt, no SQL, no file access.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from enum import Enum

from poems_monitor.domain.units import UnitConversion
from poems_monitor.i18n import N_, tr

DEFAULT_SOURCE = "DEFAULT: clinic setting, not from the literature; review locally"
LAB_SOURCE = "DEFAULT: typical adult range; replace with your laboratory's range"


class Named:
    """A catalogue entry people read by name: `name` is the English source text (files, exports and
    the translation catalogue's key), `label` the same in the user's language, for every screen,
    printed summary and sentence."""

    name: str

    @property
    def label(self) -> str:
        return tr(self.name)


class MeasureKind(str, Enum):
    QUANTITY = "quantity"
    SCORE = "score"
    CATEGORICAL = "categorical"


class Sex(str, Enum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Range:
    """A closed interval; either end may be open (None)."""

    low: float | None = None
    high: float | None = None
    source: str = DEFAULT_SOURCE

    def below(self, value: float) -> bool:
        return self.low is not None and value < self.low

    def above(self, value: float) -> bool:
        return self.high is not None and value > self.high

    def contains(self, value: float) -> bool:
        return not (self.below(value) or self.above(value))

    def text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g}–{self.high:g}"
        if self.high is not None:
            return f"≤ {self.high:g}"
        if self.low is not None:
            return f"≥ {self.low:g}"
        return ""


@dataclass(frozen=True)
class Measure(Named):
    code: str
    name: str
    unit: str  # canonical UCUM code ("" for categorical)
    unit_label: str  # what a person reads beside the field
    kind: MeasureKind
    group: str  # entry-form / chart group
    absolute: Range
    loinc: str | None = None
    loinc_note: str = ""
    critical: Range | None = None
    reference: Range | None = None
    reference_female: Range | None = None
    reference_male: Range | None = None
    alternatives: tuple[UnitConversion, ...] = ()
    decimals: int = 1
    exam_kind: str | None = None  # recording this measure counts as this exam done
    followup_items: tuple[str, ...] = ()  # worklist items this measure satisfies
    specimen: str | None = None  # fixed specimen for measures that are one series per specimen
    categories: tuple[str, ...] = ()  # categorical values
    grades: tuple[str, ...] = ()  # words for each score grade (0..n)
    integer: bool = False
    derived_from: tuple[str, ...] = ()  # computed from these codes when all are present
    description: str = ""

    def reference_for(self, sex: str | None) -> Range | None:
        """The reference range for a patient's sex; None when it depends on a sex we don't know."""
        if self.reference_female is None and self.reference_male is None:
            return self.reference
        if sex == Sex.FEMALE.value:
            return self.reference_female
        if sex == Sex.MALE.value:
            return self.reference_male
        return None

    @property
    def sex_specific(self) -> bool:
        return self.reference_female is not None or self.reference_male is not None

    def conversion_for(self, unit: str) -> UnitConversion | None:
        """The conversion from `unit` into the canonical unit, or None when the unit is not accepted."""
        return self._conversions.get(unit.strip().lower())

    @cached_property
    def _conversions(self) -> dict[str, UnitConversion]:
        """Accepted units, lower-cased, to their conversion: the canonical unit first, then the
        first alternative of each spelling. Built once per measure (an import asks per value)."""
        found = {self.unit.lower(): UnitConversion(self.unit, self.unit_label, 1.0)}
        for conv in self.alternatives:
            found.setdefault(conv.unit.lower(), conv)
        return found

    @property
    def accepted_units(self) -> tuple[str, ...]:
        return (self.unit,) + tuple(c.unit for c in self.alternatives)

    @property
    def unit_optional(self) -> bool:
        """INTERFACES.md: the unit may be omitted only where the catalogue has one unit."""
        return not self.alternatives


@dataclass(frozen=True)
class Feature(Named):
    code: str
    name: str
    criterion: str  # key into CRITERIA
    derived: bool = False  # computed from measurements (may also be entered)
    counts_alone: bool = True  # False: never fulfils its criterion (diabetes, thyroid, cherry angioma)
    description: str = ""


class CriterionClass(str, Enum):
    MANDATORY = "mandatory"
    MAJOR = "major"
    MINOR = "minor"
    OTHER = "other"


@dataclass(frozen=True)
class Criterion(Named):
    code: str
    name: str
    klass: CriterionClass
    number: int | None  # numbering of REFERENCE.md section 1; None for "other features"
    note: str = ""


@dataclass(frozen=True)
class ExamKind(Named):
    code: str
    name: str
    followup_item: str | None


@dataclass(frozen=True)
class Regimen(Named):
    code: str
    name: str
    drug_classes: frozenset[str]
    neuropathy_risk: bool = False
    note: str = ""


@dataclass(frozen=True)
class EventType(Named):
    code: str
    name: str
    thrombotic: bool = False


def _r(low: float | None = None, high: float | None = None, source: str = DEFAULT_SOURCE) -> Range:
    return Range(low, high, source)


# ---------------------------------------------------------------------------------------------
# Measures
# ---------------------------------------------------------------------------------------------

_ONLS_ARM_GRADES = (
    "0 – normal",
    "1 – minor symptoms, no function affected",
    "2 – functions affected but not prevented",
    "3 – at least one but not all functions prevented",
    "4 – all functions prevented, some purposeful movement",
    "5 – no purposeful movement",
)
_ONLS_LEG_GRADES = (
    "0 – walking, stairs and running unaffected",
    "1 – walking affected but looks normal",
    "2 – walks independently, gait abnormal",
    "3 – one-sided support for 10 m",
    "4 – two-sided support for 10 m",
    "5 – wheelchair for 10 m, stands and walks 1 m with help",
    "6 – wheelchair-bound, some purposeful leg movement",
    "7 – wheelchair or bed, no purposeful leg movement",
)
_MRS_GRADES = (
    "0 – no symptoms",
    "1 – no significant disability",
    "2 – slight disability",
    "3 – moderate disability, walks unaided",
    "4 – moderately severe: cannot walk or manage bodily needs unaided",
    "5 – severe: bedridden, constant care",
    "6 – dead",
)

# ng/mL: some laboratories report VEGF per millilitre in nanograms (1 ng/mL = 1000 pg/mL).
_VEGF_ALTS = (UnitConversion("ng/L", "ng/L", 1.0), UnitConversion("ng/mL", "ng/mL", 1000.0))
_GDL_ALTS = (UnitConversion("g/L", "g/L", 0.1),)
_MGL_ALTS = (UnitConversion("mg/dL", "mg/dL", 10.0),)
# Where the alternative factors below come from: physical and chemical facts (molar masses), not
# clinical thresholds. A clinic's [units] table (domain/display_units.py) chooses among them.
#   g/L, mg/dL <-> g/dL, mg/L: decimal prefixes only (Hb, albumin, M-protein: g/dL x 10 = g/L).
#   creatinine: 113.12 g/mol -> 1 mg/dL = 10 mg/L / 113.12 g/mol = 88.42 umol/L (IFCC/NIST value).
#   glucose: 180.16 g/mol -> 1 mmol/L = 18.016 mg/dL (1 mg/dL = 0.0555 mmol/L).
#   calcium: 40.08 g/mol -> 1 mmol/L = 4.008 mg/dL.
#   testosterone 288.42 g/mol (1 nmol/L = 28.84 ng/dL); cortisol 362.46 g/mol (1 ug/dL = 27.59
#   nmol/L); free T4 776.87 g/mol (1 ng/dL = 12.87 pmol/L); oestradiol 272.38 g/mol (1 pg/mL =
#   3.671 pmol/L); intact PTH about 9,425 g/mol (1 pmol/L = 9.43 pg/mL).
#   HbA1c: IFCC-NGSP master equation, NGSP % = 0.09148 x IFCC mmol/mol + 2.152 (affine).
#   prolactin: WHO 3rd IS 84/500, 1 ug/L = 21.2 mIU/L; PASP: 1 kPa = 7.50062 mmHg; 1 lb = 0.45359237 kg.

_MEASURE_LIST: tuple[Measure, ...] = (
    # --- VEGF: two series, never compared -------------------------------------------------
    Measure(
        "vegf_plasma", "VEGF (plasma)", "pg/mL", "pg/mL", MeasureKind.QUANTITY, "vegf",
        absolute=_r(0, 100000), critical=_r(None, 10000),
        reference=_r(0, 96.2, "[MAYO-VEGF] Mayo plasma ≤96.2 pg/mL (LabCorp 0–115)"),
        loinc="75628-8", loinc_note="VEGF-A Ser/Plas; specimen kept separately",
        alternatives=_VEGF_ALTS, decimals=0, followup_items=("vegf",), specimen="plasma",
        description="Plasma VEGF (EDTA, on ice). >200 pg/mL supports POEMS [DSOUZA11].",
    ),
    Measure(
        "vegf_serum", "VEGF (serum)", "pg/mL", "pg/mL", MeasureKind.QUANTITY, "vegf",
        absolute=_r(0, 100000), critical=_r(None, 20000),
        reference=_r(0, 1040, "[MISAWA15] serum normal <1040 pg/mL (Japanese series)"),
        loinc="75628-8", loinc_note="VEGF-A Ser/Plas; specimen kept separately",
        alternatives=_VEGF_ALTS, decimals=0, followup_items=("vegf",), specimen="serum",
        description="Serum VEGF is higher than plasma (platelet release): never trended with plasma.",
    ),
    # --- haematology ------------------------------------------------------------------------
    Measure(
        "platelets", "Platelets", "10*9/L", "×10⁹/L", MeasureKind.QUANTITY, "hematology",
        absolute=_r(0, 3000), critical=_r(20, 1000),
        reference=_r(150, 450, "upper 450: conventional threshold (REFERENCE §0, L–M); lower 150 DEFAULT"),
        loinc="777-3", alternatives=(UnitConversion("10*3/uL", "×10³/µL", 1.0),), decimals=0,
        followup_items=("hematology",),
    ),
    Measure(
        "hemoglobin", "Haemoglobin", "g/dL", "g/dL", MeasureKind.QUANTITY, "hematology",
        absolute=_r(0, 25), critical=_r(7, 20),
        reference_female=_r(12.0, 16.0, "upper: WHO 2016 >16.0 g/dL (F) [WHO-PV]; lower DEFAULT"),
        reference_male=_r(13.5, 16.5, "upper: WHO 2016 >16.5 g/dL (M) [WHO-PV]; lower DEFAULT"),
        loinc="718-7", alternatives=_GDL_ALTS, followup_items=("hematology",),
    ),
    Measure(
        "hematocrit", "Haematocrit", "%", "%", MeasureKind.QUANTITY, "hematology",
        absolute=_r(0, 80), critical=_r(20, 60),
        reference_female=_r(36, 48, "upper: WHO 2016 >48 % (F) [WHO-PV]; lower DEFAULT"),
        reference_male=_r(40, 49, "upper: WHO 2016 >49 % (M) [WHO-PV]; lower DEFAULT"),
        loinc="4544-3", alternatives=(UnitConversion("L/L", "L/L", 100.0),),
        followup_items=("hematology",),
    ),
    Measure(
        "neutrophils", "Neutrophils", "10*9/L", "×10⁹/L", MeasureKind.QUANTITY, "hematology",
        absolute=_r(0, 100, "DEFAULT: plausibility limit (a count above 100 ×10⁹/L is a typing error)"),
        critical=_r(0.5, None, "[CTCAE5] grade 4 neutropenia below 0.5 ×10⁹/L"),
        reference=_r(1.5, 7.5, "lower: [CTCAE5] grade 2 below 1.5 ×10⁹/L; upper " + LAB_SOURCE),
        loinc="751-8", loinc_note="Neutrophils [#/volume] in Blood by Automated count",
        alternatives=(UnitConversion("10*3/uL", "×10³/µL", 1.0),), decimals=2, followup_items=("hematology",),
        description="Absolute neutrophil count. NCI CTCAE v5.0 [CTCAE5]: grade 2 <1.5, grade 3 <1.0, grade 4 <0.5 "
                    "×10⁹/L. After ASCT, ANC ≥0.5 on 2 consecutive days marks engraftment [SPITZER].",
    ),
    # --- monoclonal protein -----------------------------------------------------------------
    Measure(
        "m_protein", "M-protein (serum)", "g/dL", "g/dL", MeasureKind.QUANTITY, "monoclonal",
        absolute=_r(0, 15), reference=_r(0, 0, "absent normally (REFERENCE §2)"),
        loinc="33358-3", alternatives=_GDL_ALTS, decimals=2, followup_items=("hematology",),
        description="Often small or unmeasurable in POEMS: record the IFE result too.",
    ),
    Measure(
        "flc_kappa", "Free κ light chains", "mg/L", "mg/L", MeasureKind.QUANTITY, "monoclonal",
        absolute=_r(0, 100000), reference=_r(3.3, 19.4, LAB_SOURCE),
        loinc="36916-5", alternatives=_MGL_ALTS, followup_items=("hematology",),
    ),
    Measure(
        "flc_lambda", "Free λ light chains", "mg/L", "mg/L", MeasureKind.QUANTITY, "monoclonal",
        absolute=_r(0, 100000), reference=_r(5.7, 26.3, LAB_SOURCE),
        loinc="33944-0", alternatives=_MGL_ALTS, followup_items=("hematology",),
    ),
    Measure(
        "flc_ratio", "κ/λ ratio", "{ratio}", "ratio", MeasureKind.QUANTITY, "monoclonal",
        absolute=_r(0, 10000), reference=_r(0.26, 1.65, LAB_SOURCE), loinc="48378-4", decimals=2,
        followup_items=("hematology",),
        description="Abnormal in only ~18 % of POEMS patients [Blood 2011 comm.].",
    ),
    Measure(
        "ife", "Immunofixation", "", "", MeasureKind.CATEGORICAL, "monoclonal",
        absolute=_r(), categories=("negative", "lambda", "kappa", "biclonal", "positive"),
        followup_items=("hematology",), loinc_note="IFE LOINC code not verified (REFERENCE §2)",
    ),
    # --- endocrine --------------------------------------------------------------------------
    Measure(
        "tsh", "TSH", "m[IU]/L", "mIU/L", MeasureKind.QUANTITY, "endocrine",
        absolute=_r(0, 1000), reference=_r(0.3, 5.0, "DEFAULT: seed range 0.3–5.0 mIU/L, UNVERIFIED (REFERENCE §0); replace with the range your laboratory reports"),
        loinc="3016-3", alternatives=(UnitConversion("u[IU]/mL", "µIU/mL", 1.0),), decimals=2,
        exam_kind="endocrine_panel", followup_items=("endocrine",),
    ),
    Measure(
        "free_t4", "Free T4", "ng/dL", "ng/dL", MeasureKind.QUANTITY, "endocrine",
        absolute=_r(0, 20), reference=_r(0.8, 1.8, LAB_SOURCE), loinc="3024-7",
        alternatives=(UnitConversion("pmol/L", "pmol/L", 1 / 12.87),), decimals=2,
        exam_kind="endocrine_panel", followup_items=("endocrine",),
    ),
    Measure(
        "glucose_fasting", "Glucose (fasting)", "mg/dL", "mg/dL", MeasureKind.QUANTITY, "endocrine",
        absolute=_r(0, 2000), critical=_r(40, 500), reference=_r(70, 99, LAB_SOURCE), loinc="1558-6",
        alternatives=(UnitConversion("mmol/L", "mmol/L", 18.016),), decimals=0,
        followup_items=("endocrine",),
    ),
    Measure(
        "hba1c", "HbA1c", "%", "%", MeasureKind.QUANTITY, "endocrine",
        absolute=_r(2, 25), reference=_r(4.0, 5.6, LAB_SOURCE), loinc="4548-4",
        alternatives=(UnitConversion("mmol/mol", "mmol/mol", 0.09148, 2.152),),
        followup_items=("endocrine",),
    ),
    Measure(
        "testosterone", "Testosterone (total)", "ng/dL", "ng/dL", MeasureKind.QUANTITY, "endocrine",
        absolute=_r(0, 5000),
        reference_male=_r(300, 1000, LAB_SOURCE), reference_female=_r(8, 60, LAB_SOURCE),
        loinc="2986-8", alternatives=(UnitConversion("nmol/L", "nmol/L", 28.84),), decimals=0,
        exam_kind="endocrine_panel", followup_items=("endocrine",),
    ),
    Measure(
        "estradiol", "Oestradiol", "pg/mL", "pg/mL", MeasureKind.QUANTITY, "endocrine",
        absolute=_r(0, 10000), loinc="2243-4",
        alternatives=(UnitConversion("pmol/L", "pmol/L", 1 / 3.671),), decimals=0,
        exam_kind="endocrine_panel", followup_items=("endocrine",),
        description="Range depends on sex and cycle: read against the lab's report.",
    ),
    Measure(
        "prolactin", "Prolactin", "ng/mL", "ng/mL", MeasureKind.QUANTITY, "endocrine",
        absolute=_r(0, 10000), reference=_r(2, 25, LAB_SOURCE), loinc="2842-3",
        alternatives=(UnitConversion("ug/L", "µg/L", 1.0), UnitConversion("m[IU]/L", "mIU/L", 1 / 21.2)),
        exam_kind="endocrine_panel", followup_items=("endocrine",),
    ),
    Measure(
        "cortisol_am", "Cortisol (morning)", "ug/dL", "µg/dL", MeasureKind.QUANTITY, "endocrine",
        absolute=_r(0, 200), reference=_r(5, 25, LAB_SOURCE), loinc="2143-6",
        alternatives=(UnitConversion("nmol/L", "nmol/L", 1 / 27.59),),
        exam_kind="endocrine_panel", followup_items=("endocrine",),
    ),
    Measure(
        "calcium", "Calcium", "mg/dL", "mg/dL", MeasureKind.QUANTITY, "endocrine",
        absolute=_r(0, 25), critical=_r(6, 13), reference=_r(8.5, 10.5, LAB_SOURCE), loinc="17861-6",
        alternatives=(UnitConversion("mmol/L", "mmol/L", 4.008),), followup_items=("endocrine",),
    ),
    Measure(
        "pth", "PTH (intact)", "pg/mL", "pg/mL", MeasureKind.QUANTITY, "endocrine",
        absolute=_r(0, 5000), reference=_r(15, 65, LAB_SOURCE), loinc="2731-8",
        alternatives=(UnitConversion("pmol/L", "pmol/L", 9.43), UnitConversion("ng/L", "ng/L", 1.0)),
        decimals=0, exam_kind="endocrine_panel", followup_items=("endocrine",),
    ),
    # --- renal and nutrition ----------------------------------------------------------------
    Measure(
        "creatinine", "Creatinine", "mg/dL", "mg/dL", MeasureKind.QUANTITY, "chemistry",
        absolute=_r(0, 30), critical=_r(None, 10), reference=_r(0.5, 1.2, LAB_SOURCE), loinc="2160-0",
        alternatives=(UnitConversion("umol/L", "µmol/L", 1 / 88.42),), decimals=2,
        followup_items=("hematology",),
    ),
    Measure(
        "egfr", "eGFR", "mL/min/{1.73_m2}", "mL/min/1.73 m²", MeasureKind.QUANTITY, "chemistry",
        absolute=_r(0, 200), critical=_r(15, None),
        reference=_r(60, None, "<60 in 22.4 % at baseline; <30 adverse [YE16][WANG17]"),
        loinc="98979-8", decimals=0, followup_items=("hematology",),
    ),
    Measure(
        "albumin", "Albumin", "g/dL", "g/dL", MeasureKind.QUANTITY, "chemistry",
        absolute=_r(0, 10), critical=_r(1.5, None), reference=_r(3.5, 5.0, LAB_SOURCE), loinc="1751-7",
        alternatives=_GDL_ALTS, followup_items=("hematology",),
        description="Low albumin is a PFS risk factor [KOURELIS16].",
    ),
    # --- lung function ------------------------------------------------------------------------
    Measure(
        "fvc_pct", "FVC", "%", "% predicted", MeasureKind.QUANTITY, "pft",
        absolute=_r(0, 200), reference=_r(80, None, "80 % predicted: older convention (ERS/ATS 2022 uses LLN) [ERSATS22]"),
        loinc="19872-1", decimals=0, exam_kind="pft", followup_items=("pft",),
    ),
    Measure(
        "fev1_pct", "FEV1", "%", "% predicted", MeasureKind.QUANTITY, "pft",
        absolute=_r(0, 200), reference=_r(80, None, "80 % predicted: older convention [ERSATS22]"),
        loinc="20152-5", decimals=0, exam_kind="pft", followup_items=("pft",),
    ),
    Measure(
        "tlc_pct", "TLC", "%", "% predicted", MeasureKind.QUANTITY, "pft",
        absolute=_r(0, 250), reference=_r(80, None, "restriction: TLC <80 % predicted (older convention) or <LLN [ERSATS22]"),
        loinc=None, loinc_note="no LOINC for plethysmographic TLC % predicted: local code", decimals=0,
        exam_kind="pft", followup_items=("pft",),
    ),
    Measure(
        "dlco_pct", "DLCO", "%", "% predicted", MeasureKind.QUANTITY, "pft",
        absolute=_r(0, 200), reference=_r(80, None, "80 % predicted: DEFAULT convention; reduced in 85 % of POEMS [BMC23]"),
        loinc="19911-7", loinc_note="LOINC names DLCO itself; % predicted kept in this code", decimals=0,
        exam_kind="pft", followup_items=("pft",),
    ),
    Measure(
        "mip", "MIP", "cm[H2O]", "cmH₂O", MeasureKind.QUANTITY, "pft",
        absolute=_r(0, 300), loinc=None, loinc_note="not found (REFERENCE §2)", decimals=0,
        exam_kind="pft", followup_items=("pft",),
        description="Threshold UNVERIFIED: compare with the lab's lower limit of normal.",
    ),
    Measure(
        "mep", "MEP", "cm[H2O]", "cmH₂O", MeasureKind.QUANTITY, "pft",
        absolute=_r(0, 400), loinc=None, loinc_note="not found (REFERENCE §2)", decimals=0,
        exam_kind="pft", followup_items=("pft",),
        description="Threshold UNVERIFIED: compare with the lab's lower limit of normal.",
    ),
    # --- echo -----------------------------------------------------------------------------------
    Measure(
        "pasp", "PASP (echo)", "mm[Hg]", "mmHg", MeasureKind.QUANTITY, "echo",
        absolute=_r(0, 200), critical=_r(None, 80),
        reference=_r(None, 36, "ESC/ERS 2015 mapping: sPAP ≤36 low probability [ESC22] (M)"),
        loinc="82341-9", alternatives=(UnitConversion("kPa", "kPa", 7.50062),), decimals=0,
        exam_kind="echo", followup_items=("echo",),
        description="POEMS PH studies used sPAP ≥50 mmHg [LI13].",
    ),
    Measure(
        "lvef", "LVEF", "%", "%", MeasureKind.QUANTITY, "echo",
        absolute=_r(0, 100), critical=_r(30, None),
        reference=_r(50, None, "≥50 % preserved [HL7-LT] (M)"),
        loinc="10230-1", decimals=0, exam_kind="echo", followup_items=("echo",),
    ),
    # --- vital ------------------------------------------------------------------------------------
    Measure(
        "weight", "Weight", "kg", "kg", MeasureKind.QUANTITY, "vitals",
        absolute=_r(1, 400), loinc="29463-7", alternatives=(UnitConversion("[lb_av]", "lb", 0.45359237),),
        description="A rise suggests volume overload; ≥102.5 % of baseline is a Spitzer ES minor criterion.",
    ),
    # --- neuropathy scores ------------------------------------------------------------------------
    Measure(
        "onls_arm", "ONLS arm", "{score}", "0–5", MeasureKind.SCORE, "neuropathy",
        absolute=_r(0, 5), integer=True, decimals=0, grades=_ONLS_ARM_GRADES,
        followup_items=("neuropathy_score",), description="[GRAHAM06][JKNA]",
    ),
    Measure(
        "onls_leg", "ONLS leg", "{score}", "0–7", MeasureKind.SCORE, "neuropathy",
        absolute=_r(0, 7), integer=True, decimals=0, grades=_ONLS_LEG_GRADES,
        followup_items=("neuropathy_score",), description="Grades 3–7 recalled (M): check against the 2006 appendix.",
    ),
    Measure(
        "onls", "ONLS total", "{score}", "0–12", MeasureKind.SCORE, "neuropathy",
        absolute=_r(0, 12), integer=True, decimals=0, derived_from=("onls_arm", "onls_leg"),
        followup_items=("neuropathy_score",), description="Arm + leg; computed when both are given.",
    ),
    Measure(
        "incat", "INCAT disability", "{score}", "0–10", MeasureKind.SCORE, "neuropathy",
        absolute=_r(0, 10), integer=True, decimals=0, followup_items=("neuropathy_score",),
        description="Arm 0–5 + leg 0–5 [INCAT].",
    ),
    Measure(
        "mrs", "Modified Rankin", "{score}", "0–6", MeasureKind.SCORE, "neuropathy",
        absolute=_r(0, 6), integer=True, decimals=0, grades=_MRS_GRADES, followup_items=("neuropathy_score",),
    ),
)

MEASURES: dict[str, Measure] = {m.code: m for m in _MEASURE_LIST}

MEASURE_GROUPS: dict[str, str] = {
    "vitals": tr("Vital signs and weight"),
    "hematology": tr("Haematology"),
    "vegf": tr("VEGF"),
    "monoclonal": tr("Monoclonal protein"),
    "chemistry": tr("Renal and nutrition"),
    "endocrine": tr("Endocrine"),
    "pft": tr("Lung function"),
    "echo": tr("Echocardiography"),
    "neuropathy": tr("Neuropathy"),
}

# ---------------------------------------------------------------------------------------------
# Criteria and features (REFERENCE.md section 1)
# ---------------------------------------------------------------------------------------------

_CRITERIA_LIST: tuple[Criterion, ...] = (
    Criterion("polyneuropathy", "Polyradiculoneuropathy", CriterionClass.MANDATORY, 1),
    Criterion("monoclonal_plasma_cell_disorder", "Monoclonal plasma cell disorder", CriterionClass.MANDATORY, 2),
    Criterion("castleman_disease", "Castleman disease", CriterionClass.MAJOR, 3),
    Criterion("sclerotic_bone_lesions", "Sclerotic bone lesions", CriterionClass.MAJOR, 4),
    Criterion("vegf_elevation", "VEGF elevation", CriterionClass.MAJOR, 5),
    Criterion("organomegaly", "Organomegaly", CriterionClass.MINOR, 6),
    Criterion("extravascular_volume_overload", "Extravascular volume overload", CriterionClass.MINOR, 7),
    Criterion(
        "endocrinopathy", "Endocrinopathy", CriterionClass.MINOR, 8,
        note="Diabetes mellitus or a thyroid abnormality alone does not count.",
    ),
    Criterion("skin_changes", "Skin changes", CriterionClass.MINOR, 9),
    Criterion("papilledema", "Papilloedema", CriterionClass.MINOR, 10),
    Criterion("thrombocytosis_polycythemia", "Thrombocytosis / polycythaemia", CriterionClass.MINOR, 11),
    Criterion("other", "Other features", CriterionClass.OTHER, None),
)
CRITERIA: dict[str, Criterion] = {c.code: c for c in _CRITERIA_LIST}

_FEATURE_LIST: tuple[Feature, ...] = (
    Feature("polyneuropathy", "Polyneuropathy", "polyneuropathy"),
    Feature("monoclonal_plasma_cell_disorder", "Monoclonal plasma cell disorder", "monoclonal_plasma_cell_disorder"),
    Feature("castleman_disease", "Castleman disease", "castleman_disease"),
    Feature("sclerotic_bone_lesions", "Sclerotic bone lesions", "sclerotic_bone_lesions"),
    Feature("vegf_elevation", "VEGF elevation", "vegf_elevation", derived=True),
    Feature("hepatomegaly", "Hepatomegaly", "organomegaly"),
    Feature("splenomegaly", "Splenomegaly", "organomegaly"),
    Feature("lymphadenopathy", "Lymphadenopathy", "organomegaly"),
    Feature("peripheral_edema", "Peripheral oedema", "extravascular_volume_overload"),
    Feature("pleural_effusion", "Pleural effusion", "extravascular_volume_overload"),
    Feature("ascites", "Ascites", "extravascular_volume_overload"),
    Feature("pericardial_effusion", "Pericardial effusion", "extravascular_volume_overload"),
    Feature("hypogonadism", "Hypogonadism", "endocrinopathy"),
    Feature("hypothyroidism", "Hypothyroidism", "endocrinopathy", counts_alone=False,
            description="A thyroid abnormality alone does not fulfil the endocrine criterion (REFERENCE §1)."),
    Feature("adrenal_insufficiency", "Adrenal insufficiency", "endocrinopathy"),
    Feature("diabetes", "Diabetes mellitus", "endocrinopathy", counts_alone=False,
            description="Diabetes mellitus alone does not fulfil the endocrine criterion (REFERENCE §1)."),
    Feature("hyperprolactinemia", "Hyperprolactinaemia", "endocrinopathy"),
    Feature("hypoparathyroidism", "Hypoparathyroidism", "endocrinopathy"),
    Feature("gynecomastia", "Gynaecomastia", "endocrinopathy"),
    Feature("hyperpigmentation", "Hyperpigmentation", "skin_changes"),
    Feature("hypertrichosis", "Hypertrichosis", "skin_changes"),
    Feature("glomeruloid_hemangioma", "Glomeruloid haemangioma", "skin_changes"),
    # Recorded with the skin changes but never counted: cherry angiomas are common in the general
    # population and are not in the Dispenzieri skin list; glomeruloid haemangiomata are.
    Feature("cherry_angioma", "Cherry angioma", "skin_changes", counts_alone=False,
            description="Cherry angiomas are not in the Dispenzieri skin list (REFERENCE §1): recorded, never counted."),
    Feature("plethora", "Plethora", "skin_changes"),
    Feature("acrocyanosis", "Acrocyanosis", "skin_changes"),
    Feature("flushing", "Flushing", "skin_changes"),
    Feature("white_nails", "White nails", "skin_changes"),
    Feature("skin_thickening", "Skin thickening", "skin_changes"),
    Feature("papilledema", "Papilloedema", "papilledema"),
    Feature("thrombocytosis", "Thrombocytosis", "thrombocytosis_polycythemia", derived=True),
    Feature("polycythemia", "Polycythaemia", "thrombocytosis_polycythemia", derived=True),
    Feature("clubbing", "Clubbing", "other"),
    Feature("weight_loss", "Weight loss", "other"),
    Feature("hyperhidrosis", "Hyperhidrosis", "other"),
    Feature("pulmonary_hypertension", "Pulmonary hypertension", "other"),
    Feature("restrictive_lung_disease", "Restrictive lung disease", "other"),
    Feature("cardiomyopathy", "Cardiomyopathy", "other"),
    Feature("diarrhea", "Diarrhoea", "other"),
    Feature("low_b12", "Low vitamin B12", "other"),
)
FEATURES: dict[str, Feature] = {f.code: f for f in _FEATURE_LIST}


class FeatureState(str, Enum):
    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"


def features_of(criterion: str) -> tuple[Feature, ...]:
    return tuple(f for f in _FEATURE_LIST if f.criterion == criterion)


# ---------------------------------------------------------------------------------------------
# Exams, regimens, events
# ---------------------------------------------------------------------------------------------

_EXAM_LIST = (
    ExamKind("echo", "Echocardiogram", "echo"),
    ExamKind("pft", "Pulmonary function tests", "pft"),
    ExamKind("imaging", "Imaging (PET/CT or CT)", "imaging"),
    ExamKind("bone_marrow", "Bone marrow", None),
    ExamKind("nerve_conduction", "Nerve conduction study", None),
    ExamKind("endocrine_panel", "Endocrine panel", "endocrine"),
)
EXAM_KINDS: dict[str, ExamKind] = {e.code: e for e in _EXAM_LIST}
EXAM_RESULTS = ("normal", "abnormal", "pending")

DRUG_CLASSES = (
    "imid", "proteasome_inhibitor", "alkylator", "anti_cd38", "anti_vegf", "steroid", "radiation", "transplant",
)


def _reg(code: str, name: str, *classes: str, neuropathy_risk: bool = False, note: str = "") -> Regimen:
    return Regimen(code, name, frozenset(classes), neuropathy_risk, note)


_REGIMEN_LIST = (
    _reg("radiotherapy", "Radiotherapy", "radiation", note="Reassess at 3–6 months [DISP19/21]"),
    _reg("melphalan_dexamethasone", "Melphalan–dexamethasone (MDex)", "alkylator", "steroid"),
    _reg("lenalidomide_dexamethasone", "Lenalidomide–dexamethasone", "imid", "steroid"),
    _reg("thalidomide_dexamethasone", "Thalidomide–dexamethasone", "imid", "steroid", neuropathy_risk=True),
    _reg("pomalidomide_dexamethasone", "Pomalidomide–dexamethasone", "imid", "steroid"),
    _reg("bortezomib_dexamethasone", "Bortezomib–dexamethasone", "proteasome_inhibitor", "steroid", neuropathy_risk=True),
    _reg(
        "bortezomib_cyclophosphamide_dexamethasone", "Bortezomib–cyclophosphamide–dexamethasone",
        "proteasome_inhibitor", "alkylator", "steroid", neuropathy_risk=True,
    ),
    _reg("daratumumab_based", "Daratumumab-based", "anti_cd38"),
    _reg("cyclophosphamide_based", "Cyclophosphamide-based", "alkylator"),
    _reg("asct", "High-dose melphalan with ASCT", "transplant", "alkylator"),
    _reg("bevacizumab", "Bevacizumab", "anti_vegf"),
    _reg("corticosteroids", "Corticosteroids", "steroid"),
    _reg("ivig", "Intravenous immunoglobulin"),
    _reg("plasma_exchange", "Plasma exchange"),
    _reg("other", "Other"),
)
REGIMENS: dict[str, Regimen] = {r.code: r for r in _REGIMEN_LIST}

THROMBOPROPHYLAXIS = ("none", "aspirin", "lmwh", "doac", "warfarin", "unknown")
THROMBOPROPHYLAXIS_NAMES = {
    "none": "None", "aspirin": "Aspirin", "lmwh": "LMWH", "doac": "DOAC", "warfarin": "Warfarin",
    "unknown": "Not documented",
}


def thromboprophylaxis_label(code: str | None) -> str:
    """The thromboprophylaxis recorded, as the user's language says it ("none" -> "Aucune")."""
    name = THROMBOPROPHYLAXIS_NAMES.get(code or "unknown")
    return tr(name) if name else (code or "")

_EVENT_LIST = (
    EventType("dvt", "Deep vein thrombosis", thrombotic=True),
    EventType("pe", "Pulmonary embolism", thrombotic=True),
    EventType("arterial_thrombosis", "Arterial thrombosis", thrombotic=True),
    EventType("stroke", "Stroke", thrombotic=True),
    EventType("tia", "Transient ischaemic attack", thrombotic=True),
    EventType("myocardial_infarction", "Myocardial infarction", thrombotic=True),
    EventType("relapse", "Relapse"),
    EventType("progression", "Progression"),
    EventType("engraftment_syndrome", "Engraftment syndrome"),
    EventType("hospitalisation", "Hospitalisation"),
    EventType("death", "Death"),
    EventType("transferred", "Care transferred elsewhere"),
    EventType("other", "Other"),
)
EVENT_TYPES: dict[str, EventType] = {e.code: e for e in _EVENT_LIST}

SEXES = tuple(s.value for s in Sex)
SPECIMENS = ("plasma", "serum", "whole_blood", "urine", "other")

# The words people read for coded values (test result categories, exam results, criterion classes,
# specimens): the codes stay in files and the database; `value_label` says them in the user's language.
VALUE_WORDS: dict[str, str] = {
    "negative": N_("negative"), "positive": N_("positive"), "kappa": N_("kappa"), "lambda": N_("lambda"),
    "biclonal": N_("biclonal"), "normal": N_("normal"), "abnormal": N_("abnormal"), "pending": N_("pending"),
    "mandatory": N_("mandatory"), "major": N_("major"), "minor": N_("minor"), "other": N_("other"),
    "plasma": N_("plasma"), "serum": N_("serum"), "whole_blood": N_("whole blood"), "urine": N_("urine"),
}


SEX_WORDS: dict[str, str] = {"female": N_("female"), "male": N_("male"), "other": N_("other sex"),
                             "unknown": N_("sex unknown")}


def sex_label(sex: str | None) -> str:
    """The patient's sex as the user's language says it."""
    word = SEX_WORDS.get(sex or "unknown")
    return tr(word) if word else (sex or "")


def value_label(code: str | None) -> str:
    """A coded value as the user reads it ("negative" -> "négatif"); an unknown code as written."""
    if not code:
        return ""
    word = VALUE_WORDS.get(code)
    return tr(word) if word else code



def series_specimen(code: str, given: str | None = None) -> str | None:
    """The specimen a value of `code` was measured in. A series that is one specimen (plasma or
    serum VEGF) decides it, so a value imported without one and a value typed in that series'
    row are the same series; other measures keep the specimen the source gave, if any."""
    m = MEASURES.get(code)
    return (m.specimen if m is not None else None) or given

# The follow-up items of the worklist (INTERFACES.md section 4) and the words every screen,
# report and command shows for them.
FOLLOWUP_ITEM_NAMES: dict[str, str] = {
    "echo": tr("Echo"), "pft": tr("Lung function"), "vegf": tr("VEGF"), "hematology": tr("Haematology"),
    "imaging": tr("Imaging"), "endocrine": tr("Endocrine"), "neuropathy_score": tr("Neuropathy score"),
    "thrombosis_review": tr("Thrombosis review"), "review_visit": tr("Review visit"),
    "restaging": tr("Restaging"),  # after a suspected relapse (INTERFACES 4, added 2026-12)
}
FOLLOWUP_ITEMS = tuple(FOLLOWUP_ITEM_NAMES)
# The follow-up statuses (domain.followup.Status values), as labels and with the mark drawn
# before them on screen ("‼ Overdue").
FOLLOWUP_STATUS_NAMES: dict[str, str] = {
    "overdue": tr("Overdue"), "never_done": tr("Never done"), "due": tr("Due"), "due_soon": tr("Due soon"),
}
FOLLOWUP_STATUS_MARKS: dict[str, str] = {"overdue": "‼", "never_done": "‼", "due": "!", "due_soon": "◷"}


def followup_status_label(status: str) -> str:
    """The status as a marked label: "‼ Overdue", "◷ Due soon"."""
    return f"{FOLLOWUP_STATUS_MARKS[status]} {FOLLOWUP_STATUS_NAMES[status]}"

# The flag kinds of INTERFACES.md section 3 and the words every screen, report and command shows
# for them (one list: the dashboard, the worklist and the printed summary read it).
FLAG_KIND_NAMES: dict[str, str] = {
    "new_feature": tr("New feature"), "feature_recurred": tr("Feature recurred"), "criteria_met": tr("Criteria met"),
    "vegf_rise": tr("VEGF rise"), "vegf_response": tr("VEGF response"), "thrombocytosis": tr("Thrombocytosis"),
    "polycythemia": tr("Polycythaemia"), "pft_decline": tr("PFT decline"), "neuropathy_worse": tr("Neuropathy worse"),
    "neuropathy_improved": tr("Neuropathy improved"), "thrombosis_watch": tr("Thrombosis watch"),
    "specimen_change": tr("Specimen change"), "echo_abnormal": tr("Echo abnormal"),
    "relapse_suspected": tr("Relapse suspected"), "cytopenia": tr("Cytopenia"),
    "critical_value": tr("Critical value"), "bleeding_risk": tr("Bleeding risk"),
}


class Severity(str, Enum):
    """How urgent a flag is (INTERFACES.md section 3)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


# Most urgent first: the order of every list sorted by severity, and the rank it sorts on.
SEVERITY_ORDER: tuple[Severity, ...] = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)
SEVERITY_RANK: dict[str, int] = {s.value: rank for rank, s in enumerate(SEVERITY_ORDER)}
# The words for a severity: a label on its own ("Critical"), the same inside a sentence
# ("... not yet acknowledged (critical)"), and the mark drawn before a label ("‼ Critical").
SEVERITY_NAMES: dict[str, str] = {"critical": tr("Critical"), "warning": tr("Warning"), "info": tr("Info")}
SEVERITY_WORDS: dict[str, str] = {"critical": tr("critical"), "warning": tr("warning"), "info": tr("info")}
SEVERITY_MARKS: dict[str, str] = {"critical": "‼", "warning": "!", "info": "ℹ"}


def severity_label(severity: str) -> str:
    """The severity as a marked label: "‼ Critical", "! Warning", "ℹ Info"."""
    name = SEVERITY_NAMES.get(severity, severity)
    mark = SEVERITY_MARKS.get(severity)
    return f"{mark} {name}" if mark else name


# "Review" names three different things in this program; the code keeps them apart so:
# - a follow-up item: the review visit ("review_visit") and the thrombosis review
#   ("thrombosis_review") are appointments in FOLLOWUP_ITEM_NAMES above;
# - a flag acknowledgement: a physician has seen a flag and says why (services.flag_review,
#   models.FlagReview, the REVIEW permission);
# - a visit sign-off: a physician signs off a visit a nurse entered (services.review, the
#   "To review" list of ui.review_panel).


# The trend charts (dashboard and printed summary): which measures are drawn together under which
# title, in the order shown. How each is drawn (axes, ranges) is the chart widget's business.
@dataclass(frozen=True)
class ChartGroup:
    key: str
    title: str
    codes: tuple[str, ...]


CHART_GROUPS: tuple[ChartGroup, ...] = (
    ChartGroup("vegf", MEASURE_GROUPS["vegf"], ("vegf_plasma", "vegf_serum")),
    ChartGroup("blood", tr("Platelets and haemoglobin"), ("platelets", "hemoglobin")),
    ChartGroup("pft", MEASURE_GROUPS["pft"], ("fvc_pct", "dlco_pct", "tlc_pct")),
    ChartGroup("neuropathy", MEASURE_GROUPS["neuropathy"], ("onls", "onls_arm", "onls_leg", "incat", "mrs")),
    ChartGroup("echo", MEASURE_GROUPS["echo"], ("pasp", "lvef")),
)
CHART_GROUP_BY_KEY: dict[str, ChartGroup] = {g.key: g for g in CHART_GROUPS}


def measure(code: str) -> Measure:
    """The measure of `code`; KeyError names the code when it is not in the catalogue."""
    try:
        return MEASURES[code]
    except KeyError:
        raise KeyError(tr("Unknown measure code '{code}'").format(code=code)) from None


# Subjects of flags that are no catalogue entry (FlagRecord.code), named for the flag's title.
FLAG_SUBJECT_NAMES: dict[str, str] = {
    "poems_criteria": N_("POEMS criteria"), "polycythemia_untreated": N_("Polycythaemia, untreated"),
    "thrombocytosis_untreated": N_("Thrombocytosis, untreated"),
}


def display_name(code: str) -> str:
    """A person's name for any catalogue code (measure, feature, regimen, event, exam), in the user's language."""
    for table in (MEASURES, FEATURES, REGIMENS, EVENT_TYPES, EXAM_KINDS, CRITERIA):
        item = table.get(code)
        if item is not None:
            return item.label
    if code in FLAG_SUBJECT_NAMES:
        return tr(FLAG_SUBJECT_NAMES[code])
    return code.replace("_", " ")


# How UCUM notation reads for a person, for units no measure labels (the catalogue's own labels
# come first): "10*9/L" is "×10⁹/L", "u" is "µ", brackets and braces go.
_UCUM_READABLE = (("10*12", "×10¹²"), ("10*9", "×10⁹"), ("10*6", "×10⁶"), ("10*3", "×10³"), ("[lb_av]", "lb"),
                  ("[H2O]", "H₂O"), ("[Hg]", "Hg"), ("[IU]", "IU"), ("{1.73_m2}", "1.73 m²"))


def unit_display(unit: str | None) -> str:
    """The unit as people read it: the catalogue's label for any accepted unit ("10*9/L" ->
    "×10⁹/L", "m[IU]/L" -> "mIU/L"), else the UCUM code made readable. Codes stay in files
    and exports; everything a person reads goes through this one function."""
    if not unit:
        return ""
    wanted = unit.strip().lower()
    for m in MEASURES.values():
        if m.unit and m.unit.lower() == wanted:
            return m.unit_label
        for conv in m.alternatives:
            if conv.unit.lower() == wanted:
                return conv.label
    text = unit.strip()
    for code, readable in _UCUM_READABLE:
        text = text.replace(code, readable)
    text = text.replace("{", "").replace("}", "")
    if text.startswith("u") and len(text) > 1 and text[1].isalpha():
        text = "µ" + text[1:]
    return text
