"""The clinic protocol: every rule threshold and follow-up interval, with its source.

Owns the schema of the protocol file (`resources/protocol.default.toml`), its strict loader and
the frozen `Protocol` the rules read. Each setting carries a source: a REFERENCE.md key such as
"[WHO-PV]" for a value from the literature, or text starting with "DEFAULT" for a clinic setting
that is not from the literature (the settings screen labels those). A file with a syntax error,
an unknown or missing key, a wrong type (a boolean where a number belongs), NaN or infinity, a
subnormal number, an interval of 0 or less or above 10 years, a threshold outside its measure's
absolute limits, or a value out of range is refused as a whole with `ProtocolError`, whose
message names the line and the key. The optional `[units]` table (measure code -> UCUM unit,
`domain/display_units.py`) chooses the unit the clinic types and reads per measure; without it
every measure is in its canonical unit, and the settings above never change unit.

Pure: parses text it is given. The one exception is `default_protocol()`, which reads the
packaged default through importlib.resources (never a user path); clinic copies are read by the
services and passed in as text. No Qt, no SQL, no clock.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Mapping

from poems_monitor.domain.catalogue import MEASURES, Range
from poems_monitor.domain.display_units import CANONICAL, TABLE as UNITS_TABLE, DisplayUnits, UnitChoiceError, parse_units
from poems_monitor.i18n import tr

FORMAT = "poems-monitor/protocol"
VERSION = 1
DEFAULT_RESOURCE = "protocol.default.toml"


@dataclass(frozen=True)
class SettingSpec:
    section: str
    key: str
    kind: type  # int or float
    unit: str
    minimum: float
    maximum: float | None
    description: str
    strict_minimum: bool = False  # True: value must be > minimum (a zero interval makes no sense)


def _s(section: str, key: str, kind: type, unit: str, minimum: float, maximum: float | None, description: str,
       strict: bool = False) -> SettingSpec:
    return SettingSpec(section, key, kind, unit, minimum, maximum, description, strict)


# The schema, declared once (as Picard's options.py does): order = order on the settings screen.
SPECS: tuple[SettingSpec, ...] = (
    _s("thresholds", "vegf_plasma_elevated", float, "pg/mL", 0, None, "Plasma VEGF above this is 'VEGF elevation' (major criterion)", True),
    _s("thresholds", "vegf_serum_elevated", float, "pg/mL", 0, None, "Serum VEGF above this is 'VEGF elevation' (major criterion)", True),
    _s("thresholds", "vegf_plasma_upper_reference", float, "pg/mL", 0, None, "Upper reference limit of plasma VEGF (rise must exceed it; response = at or below it)", True),
    _s("thresholds", "vegf_serum_upper_reference", float, "pg/mL", 0, None, "Upper reference limit of serum VEGF (rise must exceed it; response = at or below it)", True),
    _s("thresholds", "vegf_rise_fraction", float, "fraction", 0, 10, "VEGF rise: this fraction above the nadir since the last line of therapy started", True),
    _s("thresholds", "vegf_response_fraction", float, "fraction", 0, 1, "VEGF response: fall of this fraction from the pre-treatment baseline", True),
    _s("thresholds", "platelets_high", float, "10*9/L", 0, None, "Platelets above this are thrombocytosis", True),
    _s("thresholds", "hemoglobin_high_female", float, "g/dL", 0, None, "Haemoglobin above this is polycythaemia (women)", True),
    _s("thresholds", "hemoglobin_high_male", float, "g/dL", 0, None, "Haemoglobin above this is polycythaemia (men)", True),
    _s("thresholds", "hematocrit_high_female", float, "%", 0, 100, "Haematocrit above this is polycythaemia (women)", True),
    _s("thresholds", "hematocrit_high_male", float, "%", 0, 100, "Haematocrit above this is polycythaemia (men)", True),
    _s("thresholds", "pft_decline_points", float, "% predicted", 0, 100, "DLCO / FVC decline: points below the best value of the look-back window", True),
    _s("thresholds", "pft_decline_window_months", int, "months", 0, 240, "Look-back window for the best DLCO / FVC", True),
    _s("thresholds", "dlco_floor_pct", float, "% predicted", 0, 200, "DLCO falling below this floor is flagged (0 switches it off)"),
    _s("thresholds", "fvc_floor_pct", float, "% predicted", 0, 200, "FVC falling below this floor is flagged (0 switches it off)"),
    _s("thresholds", "neuropathy_worse_points", float, "points", 0, 12, "ONLS / INCAT worse than the previous score by at least this", True),
    _s("thresholds", "neuropathy_improved_points", float, "points", 0, 12, "ONLS / INCAT better than the baseline by at least this", True),
    # Added 2026-12 (issue 9): echo_abnormal and the confirmation of count-derived criteria.
    _s("thresholds", "pasp_pulmonary_hypertension", float, "mm[Hg]", 0, None, "Echo PASP at or above this is abnormal (pulmonary hypertension)", True),
    _s("thresholds", "pasp_rise_step", float, "mm[Hg]", 0, None, "Echo PASP risen by at least this since the previous echo is abnormal", True),
    _s("thresholds", "lvef_floor_pct", float, "%", 0, None, "Echo LVEF below this is abnormal", True),
    _s("thresholds", "count_confirmations", int, "counts", 1, 10, "Counts above the limit in one run before thrombocytosis / polycythaemia from counts counts for the criteria (1: a single count)"),
    _s("status", "due_soon_days", int, "days", 0, 365, "'Due soon' starts this many days before the due date"),
    _s("status", "overdue_grace_days", int, "days", 0, 365, "'Due' lasts this many days after the due date, then 'overdue'"),
    _s("intervals", "first_year_of_line_months", int, "months", 0, 120, "Length of the 'first year' after a line of therapy starts", True),
    _s("intervals", "vegf_first_year_months", int, "months", 0, 120, "VEGF interval in the first year of a line", True),
    _s("intervals", "vegf_months", int, "months", 0, 120, "VEGF interval otherwise", True),
    _s("intervals", "hematology_first_year_months", int, "months", 0, 120, "Haematology interval in the first year of a line", True),
    _s("intervals", "hematology_months", int, "months", 0, 120, "Haematology interval otherwise", True),
    _s("intervals", "after_radiotherapy_months", int, "months", 0, 120, "VEGF, imaging and neuropathy reassessment after radiotherapy ends", True),
    _s("intervals", "imaging_after_induction_months", int, "months", 0, 120, "Imaging after the end of a systemic line", True),
    _s("intervals", "imaging_after_asct_months", int, "months", 0, 120, "Imaging after ASCT", True),
    _s("intervals", "imaging_months", int, "months", 0, 120, "Imaging interval", True),
    _s("intervals", "imaging_yearly_years", int, "years", 0, 50, "Years of yearly imaging after the last line started (then the remission interval)"),
    _s("intervals", "imaging_remission_months", int, "months", 0, 120, "Imaging interval after the yearly period (imaging never stops)", True),
    _s("intervals", "echo_normal_months", int, "months", 0, 120, "Echo interval while the last echo is normal", True),
    _s("intervals", "echo_abnormal_months", int, "months", 0, 120, "Echo interval in the first 12 months after an abnormal echo", True),
    _s("intervals", "echo_abnormal_later_months", int, "months", 0, 120, "Echo interval later while abnormal", True),
    _s("intervals", "pft_normal_months", int, "months", 0, 120, "PFT interval while the last PFT is normal", True),
    _s("intervals", "pft_abnormal_months", int, "months", 0, 120, "PFT interval while the last PFT is abnormal", True),
    _s("intervals", "endocrine_months", int, "months", 0, 120, "Endocrine tests interval", True),
    _s("intervals", "endocrine_remission_months", int, "months", 0, 120, "Endocrine tests interval in stable remission", True),
    _s("intervals", "remission_stable_years", int, "years", 0, 50, "Years off therapy without relapse that make a stable remission", True),
    _s("intervals", "neuropathy_first_year_months", int, "months", 0, 120, "Neuropathy score interval in the first year of a line", True),
    _s("intervals", "neuropathy_months", int, "months", 0, 120, "Neuropathy score interval otherwise", True),
    _s("intervals", "review_first_year_months", int, "months", 0, 120, "Clinic review interval in the first year of a line", True),
    _s("intervals", "review_months", int, "months", 0, 120, "Clinic review interval otherwise", True),
    _s("intervals", "review_remission_months", int, "months", 0, 120, "Clinic review interval in stable remission", True),
    _s("intervals", "thrombosis_review_months", int, "months", 0, 120, "Thrombosis review interval while a thrombosis risk is present", True),
    _s("intervals", "thrombosis_risk_after_start_months", int, "months", 0, 120, "Thrombosis risk window after a line of therapy starts", True),
    _s("intervals", "restaging_within_months", int, "months", 0, 12, "Restaging (imaging, VEGF, monoclonal work-up, echo, PFT, review) to be complete within this after a suspected relapse", True),
    _s("engraftment", "es_watch_start_day", int, "days after infusion", 0, 100, "Engraftment-syndrome watch start (engraftment not recorded)"),
    _s("engraftment", "es_watch_end_day", int, "days after infusion", 0, 100, "Engraftment-syndrome watch end (engraftment not recorded)"),
    _s("engraftment", "es_days_before_engraftment", int, "days", 0, 30, "Engraftment-syndrome watch starts this many days before engraftment"),
    _s("engraftment", "es_days_after_engraftment", int, "days", 0, 30, "Engraftment-syndrome watch ends this many days after engraftment"),
    # safety rules (issue 9, defects 6 and 7): thromboprophylaxis adequacy, bleeding risk, cytopenia
    _s("safety", "aspirin_max_risk_factors", int, "risk factors", 0, 20, "An IMiD on aspirin alone is watched above this many thrombosis risk factors"),
    _s("safety", "immobility_onls_leg", int, "ONLS leg grade", 0, 7, "ONLS leg grade at or above this counts as immobility (thrombosis risk factor)", True),
    _s("safety", "immobility_mrs", int, "mRS grade", 0, 6, "Modified Rankin at or above this counts as immobility (thrombosis risk factor)", True),
    _s("safety", "kidney_disease_egfr", float, "mL/min/{1.73_m2}", 0, 200, "eGFR below this counts as chronic kidney disease (thrombosis risk factor; 0 switches it off)"),
    _s("safety", "anticoagulation_platelets_low", float, "10*9/L", 0, 1000, "Anticoagulant prophylaxis with platelets below this raises a bleeding-risk flag", True),
    _s("safety", "cytopenia_platelets_low", float, "10*9/L", 0, 1000, "Platelets below this are a cytopenia", True),
    _s("safety", "cytopenia_hemoglobin_low", float, "g/dL", 0, 25, "Haemoglobin below this is a cytopenia", True),
    _s("safety", "cytopenia_neutrophils_low", float, "10*9/L", 0, 100, "Neutrophils below this are a cytopenia", True),
    # Response assessment per line of therapy (domain/response.py, patient_status.py)
    _s("response", "response_baseline_max_months", int, "months", 0, 120, "A VEGF, M-protein or neuropathy baseline is at most this old at the line's start", True),
    _s("response", "response_imaging_baseline_max_months", int, "months", 0, 120, "An imaging baseline is at most this old at the line's start", True),
    _s("response", "response_mprotein_measurable_gdl", float, "g/dL", 0, 15, "M-protein at or above this is measurable (partial response applies)", True),
    _s("response", "response_mprotein_partial_fraction", float, "fraction", 0, 1, "Haematologic partial response: fall of this fraction of a measurable M-protein", True),
    _s("response", "response_mprotein_progression_fraction", float, "fraction", 0, 10, "Haematologic progression: M-protein this fraction above its nadir in the line", True),
    _s("response", "response_mprotein_progression_min_gdl", float, "g/dL", 0, 15, "Haematologic progression: and at least this much above the nadir", True),
    _s("response", "response_lost_to_followup_months", int, "months", 0, 120, "No visit for longer than this: lost to follow-up", True),
)
SPEC_BY_KEY: dict[str, SettingSpec] = {s.key: s for s in SPECS}

# Thresholds compared with a catalogue measure: a value outside the measure's absolute limits
# (impossible values, refused at entry) could never be reached, so the rule would be silent.
MEASURE_OF: dict[str, str] = {
    "vegf_plasma_elevated": "vegf_plasma", "vegf_plasma_upper_reference": "vegf_plasma",
    "vegf_serum_elevated": "vegf_serum", "vegf_serum_upper_reference": "vegf_serum",
    "platelets_high": "platelets", "hemoglobin_high_female": "hemoglobin", "hemoglobin_high_male": "hemoglobin",
    "hematocrit_high_female": "hematocrit", "hematocrit_high_male": "hematocrit",
    "dlco_floor_pct": "dlco_pct", "fvc_floor_pct": "fvc_pct",
    "pasp_pulmonary_hypertension": "pasp", "pasp_rise_step": "pasp", "lvef_floor_pct": "lvef",
}
_INFINITY = float("inf")
_SMALLEST_NORMAL = 2.2250738585072014e-308  # sys.float_info.min: anything closer to 0 is subnormal
# Follow-up intervals: more than 0 and at most 10 years (issue 9 "Bad input").
_INTERVAL_LIMITS: dict[str, int] = {"months": 120, "days": 3653}


def _within(limits: Range, value: float) -> bool:
    return (limits.low is None or value >= limits.low) and (limits.high is None or value <= limits.high)
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(s.section for s in SPECS))
_ENTRY_KEYS = frozenset({"value", "unit", "source", "note"})
# Sections added after clinics had saved protocol files: when a file lacks one, the shipped
# default's settings of that section apply (see load_protocol).
ADDED_SECTIONS = frozenset({"response", "safety"})


class ProtocolError(ValueError):
    """A protocol file that cannot be used. `line` is 1-based (None when no line applies)."""

    def __init__(self, message: str, line: int | None = None, key: str | None = None):
        super().__init__(message)
        self.line = line
        self.key = key


@dataclass(frozen=True)
class Setting:
    """One row of the settings screen."""

    section: str
    key: str
    value: float | int
    unit: str
    source: str
    description: str

    @property
    def is_default(self) -> bool:
        """True for a clinic DEFAULT (not from the literature): the screen must label it so."""
        return self.source.strip().upper().startswith("DEFAULT")


@dataclass(frozen=True)
class Protocol:
    """Every threshold and interval the rules use. Field names are the protocol file's keys."""

    # thresholds
    vegf_plasma_elevated: float
    vegf_serum_elevated: float
    vegf_plasma_upper_reference: float
    vegf_serum_upper_reference: float
    vegf_rise_fraction: float
    vegf_response_fraction: float
    platelets_high: float
    hemoglobin_high_female: float
    hemoglobin_high_male: float
    hematocrit_high_female: float
    hematocrit_high_male: float
    pft_decline_points: float
    pft_decline_window_months: int
    dlco_floor_pct: float
    fvc_floor_pct: float
    neuropathy_worse_points: float
    neuropathy_improved_points: float
    pasp_pulmonary_hypertension: float
    pasp_rise_step: float
    lvef_floor_pct: float
    count_confirmations: int
    # status
    due_soon_days: int
    overdue_grace_days: int
    # intervals
    first_year_of_line_months: int
    vegf_first_year_months: int
    vegf_months: int
    hematology_first_year_months: int
    hematology_months: int
    after_radiotherapy_months: int
    imaging_after_induction_months: int
    imaging_after_asct_months: int
    imaging_months: int
    imaging_yearly_years: int
    imaging_remission_months: int
    echo_normal_months: int
    echo_abnormal_months: int
    echo_abnormal_later_months: int
    pft_normal_months: int
    pft_abnormal_months: int
    endocrine_months: int
    endocrine_remission_months: int
    remission_stable_years: int
    neuropathy_first_year_months: int
    neuropathy_months: int
    review_first_year_months: int
    review_months: int
    review_remission_months: int
    thrombosis_review_months: int
    thrombosis_risk_after_start_months: int
    restaging_within_months: int
    # engraftment syndrome
    es_watch_start_day: int
    es_watch_end_day: int
    es_days_before_engraftment: int
    es_days_after_engraftment: int
    # safety rules
    aspirin_max_risk_factors: int
    immobility_onls_leg: int
    immobility_mrs: int
    kidney_disease_egfr: float
    anticoagulation_platelets_low: float
    cytopenia_platelets_low: float
    cytopenia_hemoglobin_low: float
    cytopenia_neutrophils_low: float
    # response assessment
    response_baseline_max_months: int
    response_imaging_baseline_max_months: int
    response_mprotein_measurable_gdl: float
    response_mprotein_partial_fraction: float
    response_mprotein_progression_fraction: float
    response_mprotein_progression_min_gdl: float
    response_lost_to_followup_months: int
    # [units] (added 2026-12, optional): the unit the clinic reads and types per measure; values
    # and thresholds stay canonical, this only chooses how they are shown and entered.
    units: DisplayUnits = CANONICAL
    # key -> source text; not compared, so two protocols with equal values are equal
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def source(self, key: str) -> str:
        return self.sources.get(key, "")

    def is_default(self, key: str) -> bool:
        return self.source(key).strip().upper().startswith("DEFAULT")

    def cite(self, key: str) -> str:
        """The short source tag a flag message shows: '[WHO-PV]', '(DEFAULT)' or '(conventional ...)'."""
        return _cite(self.source(key))

    def describe(self) -> tuple[Setting, ...]:
        """Every setting with its value, unit and source, in file order, for a settings screen."""
        return tuple(
            Setting(s.section, s.key, getattr(self, s.key), s.unit, self.source(s.key), tr(s.description))
            for s in SPECS
        )


@lru_cache(maxsize=256)
def _cite(source: str) -> str:
    text = source.strip()
    if text.upper().startswith("DEFAULT"):
        return "(DEFAULT)"
    match = re.match(r"(\[[^\]]+\])", text)
    return match.group(1) if match else "(" + re.split(r"[;:(]", text)[0].strip().lower() + ")"


_SETTING_FIELDS = tuple(f.name for f in fields(Protocol) if f.name not in ("sources", "units"))
assert _SETTING_FIELDS == tuple(s.key for s in SPECS), "Protocol fields and SPECS must list the same keys"


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*((?:[A-Za-z0-9_\-]+|\"[^\"]*\")(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|\"[^\"]*\"))*)\s*=")
_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip('"') for part in text.split("."))


def _locate(text: str) -> tuple[dict[tuple[str, ...], int], int]:
    """Map each table and key path to its line number (1-based), and return the line count.

    tomllib keeps no positions, so we scan the lines ourselves; enough for the documented
    one-setting-per-line layout (and for dotted keys)."""
    where: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            where.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            path = table + _split_key(key.group(1))
            where.setdefault(path, number)
            for i in range(1, len(path)):
                where.setdefault(path[:i], number)
    return where, max(len(lines), 1)


def load_protocol(text: str, origin: str | None = None) -> Protocol:
    """Parse and check a protocol file's text; raise ProtocolError naming line and key."""
    origin = origin or tr("protocol file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POS.search(str(exc))
        line = int(match.group(1)) if match else None
        key = None
        if line is not None:
            bad = text.splitlines()[line - 1] if line - 1 < len(text.splitlines()) else ""
            found = _KEY.match(bad)
            key = ".".join(_split_key(found.group(1))) if found else None
        raise ProtocolError(
            tr("{origin}, line {line}: {key}not valid TOML ({error})").format(
                origin=origin, line=line if line is not None else "?",
                key=f"{key}: " if key else "", error=_TOML_POS.sub("", str(exc)).strip(),
            ),
            line, key,
        ) from None

    where, last_line = _locate(text)

    def fail(path: tuple[str, ...], problem: str, line: int | None = None) -> ProtocolError:
        line = line or where.get(path) or where.get(path[:1]) or last_line
        key = ".".join(path)
        return ProtocolError(
            tr("{origin}, line {line}: {key}: {problem}").format(origin=origin, line=line, key=key, problem=problem),
            line, key,
        )

    if data.get("format") != FORMAT:
        raise fail(("format",), tr("must be \"{format}\"").format(format=FORMAT))
    if data.get("version") != VERSION:
        raise fail(("version",), tr("version {found!r} is not supported (expected {version})").format(
            found=data.get("version"), version=VERSION))
    for top in data:
        if top in ("format", "version"):
            continue
        if top == UNITS_TABLE:
            if not isinstance(data[top], dict):
                raise fail((top,), tr("must be a table [{section}]").format(section=top))
            continue
        if top not in SECTIONS:
            raise fail((top,), tr("unknown section or key; known sections: {known}").format(known=", ".join(SECTIONS + (UNITS_TABLE,))))
        if not isinstance(data[top], dict):
            raise fail((top,), tr("must be a table [{section}]").format(section=top))

    values: dict[str, Any] = {}  # each checked against its SettingSpec (kind and limits) below
    sources: dict[str, str] = {}
    for section in SECTIONS:
        table = data.get(section)
        if table is None and section in ADDED_SECTIONS:
            # A clinic file written before this section existed: its settings come from the
            # shipped default (whose sources say DEFAULT), so a stored protocol stays readable.
            table = data[section] = _shipped_section(section)
        if table is None:
            raise fail((section,), tr("section [{section}] is missing").format(section=section), last_line)
        for key in table:
            spec = SPEC_BY_KEY.get(key)
            if spec is None or spec.section != section:
                hint = (
                    tr(" (it belongs in [{section}])").format(section=spec.section) if spec is not None else ""
                )
                raise fail((section, key), tr("unknown setting{hint}").format(hint=hint))
    for spec in SPECS:
        path = (spec.section, spec.key)
        entry = data[spec.section].get(spec.key)
        if entry is None:
            raise fail(path, tr("setting is missing from [{section}]").format(section=spec.section),
                       where.get((spec.section,), last_line))
        if not isinstance(entry, dict):
            raise fail(path, tr("must be written {{ value = ..., unit = \"{unit}\", source = \"...\" }}").format(unit=spec.unit))
        for sub in entry:
            if sub not in _ENTRY_KEYS:
                raise fail(path + (sub,), tr("unknown field '{sub}' (allowed: value, unit, source, note)").format(sub=sub),
                           where.get(path))
        if "value" not in entry:
            raise fail(path, tr("the value is missing"))
        value = entry["value"]
        # bool is an int in Python; "true" is never a threshold.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(path, tr("value must be a number, got {value!r}").format(value=value))
        if isinstance(value, float) and not -_INFINITY < value < _INFINITY:  # TOML accepts nan and inf
            raise fail(path, tr("value must be a finite number, got {value}").format(value=value))
        if isinstance(value, float) and value != 0 and abs(value) < _SMALLEST_NORMAL:
            raise fail(path, tr("value {value!r} is subnormal (closer to 0 than any real setting); write 0 or a real value").format(
                value=value))
        if spec.kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise fail(path, tr("value must be a whole number of {unit}, got {value}").format(unit=spec.unit, value=value))
            value = int(value)
        else:
            value = float(value)
        if value < 0:
            raise fail(path, tr("value must not be negative, got {value}").format(value=value))
        limit = _INTERVAL_LIMITS.get(spec.unit) if spec.section == "intervals" else None
        if limit is not None and value <= 0:
            raise fail(path, tr("impossible interval: value must be greater than 0 {unit}, got {value}").format(
                unit=spec.unit, value=value))
        if limit is not None and value > limit:
            raise fail(path, tr("impossible interval: above 10 years ({limit} {unit}), got {value}").format(
                limit=limit, unit=spec.unit, value=value))
        measure = MEASURES.get(MEASURE_OF.get(spec.key, ""))
        if measure is not None and not _within(measure.absolute, value):
            raise fail(path, tr("value {value:g} is outside the absolute limits of {measure} ({limits} {unit})").format(
                value=value, measure=measure.label, limits=measure.absolute.text(), unit=measure.unit_label))
        if spec.strict_minimum and value <= spec.minimum:
            raise fail(path, tr("value must be greater than {minimum:g}, got {value}").format(minimum=spec.minimum, value=value))
        if value < spec.minimum:
            raise fail(path, tr("value must be at least {minimum:g}, got {value}").format(minimum=spec.minimum, value=value))
        if spec.maximum is not None and value > spec.maximum:
            raise fail(path, tr("value must be at most {maximum:g} {unit}, got {value}").format(
                maximum=spec.maximum, unit=spec.unit, value=value))
        unit = entry.get("unit")
        if unit is not None and unit != spec.unit:
            raise fail(path, tr("unit must be \"{unit}\" (got \"{got}\"); values are not converted here").format(
                unit=spec.unit, got=unit))
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            raise fail(path, tr("source is missing: give a REFERENCE key like \"[WHO-PV] ...\" or \"DEFAULT: ...\""))
        values[spec.key] = value
        sources[spec.key] = source.strip()

    if values["es_watch_start_day"] > values["es_watch_end_day"]:
        raise fail(("engraftment", "es_watch_end_day"), tr("must not be earlier than es_watch_start_day ({start})").format(
            start=values["es_watch_start_day"]))
    try:
        units = parse_units(data.get(UNITS_TABLE, {}))
    except UnitChoiceError as exc:
        raise fail((UNITS_TABLE, exc.code), str(exc)) from None
    return Protocol(**values, units=units, sources=MappingProxyType(sources))


def _shipped_section(section: str) -> dict:
    return dict(tomllib.loads(default_protocol_text()).get(section, {}))


def default_protocol_text() -> str:
    return resources.files("poems_monitor").joinpath("resources", DEFAULT_RESOURCE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def default_protocol() -> Protocol:
    """The shipped protocol (defaults from REFERENCE.md); parsed once per process."""
    return load_protocol(default_protocol_text(), origin=DEFAULT_RESOURCE)
