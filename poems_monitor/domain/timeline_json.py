"""The patient-timeline JSON format (INTERFACES.md section 2): reading with full validation, and
writing back.

Owns the mapping between the file's dictionaries and the timeline records, and every check a
file must pass before anything is stored: each problem is reported with its JSON path and the
patient it concerns, and all problems are collected (not just the first). Pure: the caller reads
the file and passes "today" in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from poems_monitor.domain.catalogue import (
    EVENT_TYPES, EXAM_KINDS, EXAM_RESULTS, FEATURES, MEASURES, REGIMENS, SEXES, SPECIMENS, THROMBOPROPHYLAXIS,
    FeatureState, MeasureKind, display_name,
)
from poems_monitor.domain.timeline import (
    EventRecord, ExamRecord, ObservationRecord, PatientRecord, TreatmentRecord, VisitRecord,
)
from poems_monitor.domain.course import after_death, second_death
from poems_monitor.domain.input_rules import (
    EARLIEST_DATE, MAX_PROBLEMS_COUNTED, MAX_PROBLEMS_SHOWN, finite_number, mrn_key, mrn_problem, normalise_text, parse_iso_date, text_problem,
)
from poems_monitor.domain.json_stream import Field, Item, NotAList
from poems_monitor.domain.validation import check_value
from poems_monitor.i18n import tr

FORMAT_NAME = "poems-monitor/timeline"
FORMAT_VERSION = 1

_PATIENT_KEYS = {"mrn", "name", "sex", "birth_date", "diagnosis_date", "visits", "treatments", "events"}
_VISIT_KEYS = {"date", "observations", "features", "exams", "note"}
_OBS_KEYS = {"code", "value", "unit", "specimen", "lab", "method", "qualifier"}
_EXAM_KEYS = {"kind", "result", "note"}
_TREATMENT_KEYS = {"regimen", "start", "stop", "thromboprophylaxis", "name", "engraftment_date", "melphalan_mg", "note"}
_EVENT_KEYS = {"type", "date", "note"}
_FEATURE_STATES = frozenset(s.value for s in FeatureState)
_DERIVED_MEASURES = tuple(m for m in MEASURES.values() if m.derived_from)  # ONLS total: checked per visit


@dataclass(frozen=True)
class Problem:
    """One reason a file cannot be imported."""

    path: str  # JSON path, e.g. $.patients[0].visits[2].observations[1].value
    message: str
    mrn: str | None = None

    def __str__(self) -> str:
        who = tr("patient {mrn}, ").format(mrn=self.mrn) if self.mrn else ""
        return f"{self.path}: {who}{self.message}"


class ProblemList(list):
    """The first MAX_PROBLEMS_SHOWN problems; `total` counts them all (a hostile file may hold
    millions, which are neither kept nor printed)."""

    total: int = 0
    stopped: bool = False  # reading stopped at MAX_PROBLEMS_COUNTED: the rest of the file was not checked


class _Collector:
    def __init__(self) -> None:
        self.problems: ProblemList = ProblemList()
        self.mrn: str | None = None

    def add(self, path: str, message: str) -> None:
        self.problems.total += 1
        if len(self.problems) < MAX_PROBLEMS_SHOWN:
            self.problems.append(Problem(path, message, self.mrn))

    @property
    def count(self) -> int:
        return self.problems.total


def _parse_date(c: _Collector, raw: Any, path: str, field: str, *, required: bool) -> date | None:
    if raw is None:
        if required:
            c.add(path, tr("{field} is missing").format(field=field))
        return None
    if not isinstance(raw, str):
        c.add(path, tr("{field} must be a date written YYYY-MM-DD, not {value!r}").format(field=field, value=raw))
        return None
    value = parse_iso_date(raw)
    if value is None:
        c.add(path, tr("{field} {value!r} is not a date written YYYY-MM-DD").format(field=field, value=raw))
        return None
    if value < EARLIEST_DATE:
        c.add(path, tr("{field} {value} is before {earliest}: check the year").format(
            field=field, value=raw, earliest=EARLIEST_DATE.isoformat()))
        return None
    return value


def _check_when(c: _Collector, value: date | None, path: str, field: str, birth: date | None, today: date) -> None:
    if value is None:
        return
    if value > today:
        c.add(path, tr("{field} {value} is in the future (today is {today})").format(field=field, value=value, today=today))
    if birth is not None and value < birth:
        c.add(path, tr("{field} {value} is before the birth date {birth}").format(field=field, value=value, birth=birth))


def _text(c: _Collector, raw: Any, path: str, field: str, *, required: bool = False, max_len: int = 10000) -> str | None:
    if raw is None:
        if required:
            c.add(path, tr("{field} is missing").format(field=field))
        return None
    if not isinstance(raw, str):
        c.add(path, tr("{field} must be text, not {value!r}").format(field=field, value=raw))
        return None
    if required and not raw.strip():
        c.add(path, tr("{field} is empty").format(field=field))
        return None
    if len(raw) > max_len:
        c.add(path, tr("{field} is longer than {n} characters").format(field=field, n=max_len))
        return None
    problem = text_problem(raw)
    if problem:
        c.add(path, tr("{field} {problem}").format(field=field, problem=problem))
        return None
    return normalise_text(raw)


def _one_of(value: Any, choices: Any) -> bool:
    """Membership that a hostile file cannot break: a list or object where a code belongs is
    simply not one of the codes (a dict look-up would raise on an unhashable value)."""
    return isinstance(value, str) and value in choices


def _unknown_keys(c: _Collector, obj: dict, allowed: set[str], path: str) -> None:
    if obj.keys() <= allowed:
        return  # the usual case, decided in one set comparison
    for key in obj:
        if key not in allowed:
            c.add(f"{path}.{key}", tr("'{key}' is not a field of this format (allowed: {allowed})").format(
                key=key, allowed=", ".join(sorted(allowed))))


def _list(c: _Collector, raw: Any, path: str, field: str) -> list:
    if raw is None:
        return []
    if not isinstance(raw, list):
        c.add(path, tr("{field} must be a list").format(field=field))
        return []
    return raw


def parse_timeline(data: Any, today: date) -> tuple[list[PatientRecord], ProblemList]:
    """Validate a decoded timeline document. Returns the patients and the problems found (the
    first 100; `problems.total` counts all); the caller must store nothing when there is any."""
    if not isinstance(data, dict):
        c = _Collector()
        c.add("$", tr("the file must hold a JSON object with 'format', 'version' and 'patients'"))
        return [], c.problems
    pieces: list[Field | Item | NotAList] = [Field(k, v) for k, v in data.items() if k != "patients"]
    if "patients" in data:
        if isinstance(data["patients"], list):
            pieces.extend(Item("patients", i, p) for i, p in enumerate(data["patients"]))
        else:
            pieces.append(NotAList("patients", data["patients"]))
    return parse_timeline_pieces(pieces, today)


def parse_timeline_pieces(pieces: Iterable[Field | Item | NotAList], today: date,
                          raw_patients: list | None = None,
                          sink: Callable[[PatientRecord, Any, int], None] | None = None,
                          ) -> tuple[list[PatientRecord], ProblemList]:
    """As `parse_timeline`, from a document read piece by piece (`json_stream.stream_document`):
    each patient is checked as it arrives and only its record (and, into `raw_patients` when
    given, its decoded object, for the paths of conflicts found later) is kept, and only while
    the file has no problem: a file of junk costs no memory however long it is. With `sink`, each
    record is handed to it (with its decoded object and index) instead of being kept, while the
    file has no problem so far: a caller that stores them as they come must undo everything when
    problems are returned."""
    c = _Collector()
    fields: dict[str, Any] = {}
    has_list = False
    patients: list[PatientRecord] = []
    seen_mrn: dict[str, tuple[int, str]] = {}
    for piece in pieces:
        if isinstance(piece, Field):
            fields[piece.key] = piece.value
            continue
        if isinstance(piece, NotAList):
            fields[piece.key] = piece.value
            continue
        has_list = True
        if c.count >= MAX_PROBLEMS_COUNTED:
            c.problems.stopped = True  # time and output stay bounded however long the file is
            break
        record = _parse_listed_patient(c, piece.value, f"$.patients[{piece.index}]", piece.index, seen_mrn, today)
        if record is not None and not c.count and sink is not None:
            sink(record, piece.value, piece.index)
        elif record is not None and not c.count:
            patients.append(record)  # records are kept only while the file is clean: bounded memory for junk
            if raw_patients is not None:
                raw_patients.append(piece.value)
        elif c.count:
            patients.clear()
            if raw_patients is not None:
                raw_patients.clear()
    c.mrn = None
    header = _Collector()
    fmt, version = fields.get("format"), fields.get("version")
    if fmt != FORMAT_NAME:
        header.add("$.format", tr("format must be '{name}', found {value!r}").format(name=FORMAT_NAME, value=fmt))
    if type(version) is not int or version != FORMAT_VERSION:  # true == 1 and 1.0 == 1 in Python: neither is the version
        header.add("$.version", tr("version {value!r} is not supported; this poems-monitor reads version {v}").format(
            value=version, v=FORMAT_VERSION))
    _unknown_keys(header, {**fields, **({"patients": None} if has_list else {})}, {"format", "version", "patients"}, "$")
    if header.count and not c.problems.stopped:
        return [], header.problems
    if not has_list:
        c.add("$.patients", tr("patients must be a list"))
    return (patients if not c.count else []), c.problems


def _parse_listed_patient(c: _Collector, raw: Any, path: str, index: int, seen_mrn: dict[str, tuple[int, str]],
                          today: date) -> PatientRecord | None:
    c.mrn = raw.get("mrn") if isinstance(raw, dict) and isinstance(raw.get("mrn"), str) else None
    if c.mrn is not None and text_problem(c.mrn):
        c.mrn = None  # a broken MRN is not repeated in every message about this patient
    if not isinstance(raw, dict):
        c.add(path, tr("a patient must be a JSON object"))
        return None
    mrn = _text(c, raw.get("mrn"), f"{path}.mrn", "mrn", required=True, max_len=64)
    if mrn is not None:
        mrn = mrn.strip()
        problem = mrn_problem(mrn)
        if problem:
            c.add(f"{path}.mrn", problem)
            mrn = None
    if mrn is not None:
        key = mrn_key(mrn)
        if key in seen_mrn:
            j, first = seen_mrn[key]
            same = "" if first == mrn else tr(", written {first} there: MRNs are compared without regard to case").format(
                first=first)
            c.add(f"{path}.mrn", tr("MRN {mrn} appears twice in this file (also at $.patients[{j}]{same})").format(
                mrn=mrn, j=j, same=same))
        seen_mrn[key] = (index, mrn)
    return _parse_patient(c, raw, path, mrn or "", today)


def _parse_patient(c: _Collector, raw: dict, path: str, mrn: str, today: date) -> PatientRecord | None:
    _unknown_keys(c, raw, _PATIENT_KEYS, path)
    name = _text(c, raw.get("name"), f"{path}.name", "name", required=True, max_len=200)
    sex = raw.get("sex")
    if not _one_of(sex, SEXES):
        c.add(f"{path}.sex", tr("sex must be one of {choices}, found {value!r}").format(choices=", ".join(SEXES), value=sex))
    birth = _parse_date(c, raw.get("birth_date"), f"{path}.birth_date", "birth_date", required=True)
    if birth is not None and birth > today:
        c.add(f"{path}.birth_date", tr("birth_date {value} is in the future").format(value=birth))
        birth = None
    diagnosis = _parse_date(c, raw.get("diagnosis_date"), f"{path}.diagnosis_date", "diagnosis_date", required=False)
    _check_when(c, diagnosis, f"{path}.diagnosis_date", "diagnosis_date", birth, today)

    visits: list[VisitRecord] = []
    seen_dates: dict[date, int] = {}
    visit_at: list[tuple[int, VisitRecord]] = []
    for j, vraw in enumerate(_list(c, raw.get("visits"), f"{path}.visits", "visits")):
        vpath = f"{path}.visits[{j}]"
        visit = _parse_visit(c, vraw, vpath, birth, sex if isinstance(sex, str) else None, today)
        if visit is None:
            continue
        if visit.date in seen_dates:
            c.add(f"{vpath}.date", tr("a visit on {d} appears twice (also visits[{k}]): merge them").format(
                d=visit.date, k=seen_dates[visit.date]))
        seen_dates[visit.date] = j
        visits.append(visit)
        visit_at.append((j, visit))

    treatment_at = [
        (k, t) for k, traw in enumerate(_list(c, raw.get("treatments"), f"{path}.treatments", "treatments"))
        if (t := _parse_treatment(c, traw, f"{path}.treatments[{k}]", birth, today)) is not None
    ]
    event_at = [
        (k, e) for k, eraw in enumerate(_list(c, raw.get("events"), f"{path}.events", "events"))
        if (e := _parse_event(c, eraw, f"{path}.events[{k}]", birth, today)) is not None
    ]
    _check_after_death(c, path, visit_at, treatment_at, event_at)
    treatments = [t for _, t in treatment_at]
    events = [e for _, e in event_at]
    if name is None or not _one_of(sex, SEXES):
        return None
    return PatientRecord(
        mrn=mrn, name=name.strip(), sex=sex, birth_date=birth, diagnosis_date=diagnosis,
        visits=tuple(sorted(visits, key=lambda v: v.date)),
        treatments=tuple(sorted(treatments, key=lambda t: (t.start, t.regimen))),
        events=tuple(sorted(events, key=lambda e: (e.date, e.type))),
    )


def _check_after_death(c: _Collector, path: str, visit_at: list, treatment_at: list, event_at: list) -> None:
    """Dates that cannot be: nothing after a recorded death, and one death only."""
    deaths = sorted((e.date, k) for k, e in event_at if e.type == "death")
    if not deaths:
        return
    died, first = deaths[0]
    for day, k in deaths[1:]:
        if day != died:
            c.add(f"{path}.events[{k}].date", second_death(day, died))
    for j, v in visit_at:
        if (msg := after_death(tr("visit date"), v.date, died)) is not None:
            c.add(f"{path}.visits[{j}].date", msg)
    for k, t in treatment_at:
        for fname in ("start", "stop", "engraftment_date"):
            label = tr("{regimen} {field}").format(regimen=display_name(t.regimen), field=fname.replace("_", " "))
            if (msg := after_death(label, getattr(t, fname), died)) is not None:
                c.add(f"{path}.treatments[{k}].{fname}", msg)
    for k, e in event_at:
        if e.type != "death" and (msg := after_death(tr("event date"), e.date, died)) is not None:
            c.add(f"{path}.events[{k}].date", msg)


def _parse_visit(c: _Collector, raw: Any, path: str, birth: date | None, sex: str | None, today: date) -> VisitRecord | None:
    if not isinstance(raw, dict):
        c.add(path, tr("a visit must be a JSON object"))
        return None
    _unknown_keys(c, raw, _VISIT_KEYS, path)
    when = _parse_date(c, raw.get("date"), f"{path}.date", "date", required=True)
    _check_when(c, when, f"{path}.date", tr("visit date"), birth, today)
    note = _text(c, raw.get("note"), f"{path}.note", "note") or ""

    observations: list[ObservationRecord] = []
    seen_codes: dict[str, tuple[int, ObservationRecord]] = {}  # the last observation of each code, and where
    for k, oraw in enumerate(_list(c, raw.get("observations"), f"{path}.observations", "observations")):
        obs = _known_observation(c, oraw, path, k, sex)
        if obs is None:
            continue
        if obs.code in seen_codes:
            c.add(f"{path}.observations[{k}].code", tr("{code} is recorded twice at this visit (also observations[{j}])")
                  .format(code=obs.code, j=seen_codes[obs.code][0]))
        seen_codes[obs.code] = (k, obs)
        observations.append(obs)
    observations = _with_derived_scores(c, observations, path, seen_codes)

    features: dict[str, str] = {}
    fraw = raw.get("features")
    if fraw is not None and not isinstance(fraw, dict):
        c.add(f"{path}.features", tr("features must be an object of feature code to present/absent/unknown"))
    elif fraw:
        for code, status in fraw.items():
            fpath = f"{path}.features.{code}"
            if code not in FEATURES:
                c.add(fpath, tr("'{code}' is not a known feature").format(code=code))
            elif not _one_of(status, _FEATURE_STATES):
                c.add(fpath, tr("feature status must be present, absent or unknown, found {value!r}").format(value=status))
            else:
                features[code] = status

    exams: list[ExamRecord] = []
    for k, eraw in enumerate(_list(c, raw.get("exams"), f"{path}.exams", "exams")):
        epath = f"{path}.exams[{k}]"
        if not isinstance(eraw, dict):
            c.add(epath, tr("an exam must be a JSON object"))
            continue
        _unknown_keys(c, eraw, _EXAM_KEYS, epath)
        kind, result = eraw.get("kind"), eraw.get("result")
        ok = True
        if not _one_of(kind, EXAM_KINDS):
            c.add(f"{epath}.kind", tr("exam kind must be one of {choices}, found {value!r}").format(
                choices=", ".join(EXAM_KINDS), value=kind))
            ok = False
        if not _one_of(result, EXAM_RESULTS):
            c.add(f"{epath}.result", tr("exam result must be one of {choices}, found {value!r}").format(
                choices=", ".join(EXAM_RESULTS), value=result))
            ok = False
        enote = _text(c, eraw.get("note"), f"{epath}.note", "note") or ""
        if ok:
            exams.append(ExamRecord(kind=kind, result=result, note=enote))
    if when is None:
        return None
    return VisitRecord(
        date=when, observations=tuple(observations), features=tuple(sorted(features.items())),
        exams=tuple(exams), note=note,
    )


# The records of observations read without a problem, by (sex, type of the value, the object's
# items): a clinic's file repeats the same few thousand (code, value, unit) objects hundreds of
# thousands of times, and `parse_observation` is a pure function of the object and the sex, so a
# repeat gets the record already made (records are immutable) without its checks, its JSON path
# or a new record. Only objects whose items compare equal to the first one's are repeats: the keys
# are the same, every value but "value" is str or None (a str equals only a str), and the type of
# "value" is in the key (1, 1.0 and true compare equal). A float zero is never kept (-0.0 equals
# 0.0 but is another entered value). The sex is in the key only for a measure whose reference
# range depends on it (`check_value` reads it there alone). Bounded: emptied when full.
_SEEN_OBSERVATIONS: dict[tuple, ObservationRecord] = {}
_SEX_SPECIFIC = frozenset(m.code for m in MEASURES.values() if m.sex_specific)
_MAX_SEEN_OBSERVATIONS = 16384


def _known_observation(c: _Collector, raw: Any, visit_path: str, k: int, sex: str | None) -> ObservationRecord | None:
    """`parse_observation` of observations[k] of the visit at `visit_path`, a repeat from memory."""
    if type(raw) is not dict:
        return parse_observation(c, raw, f"{visit_path}.observations[{k}]", sex)
    value = raw.get("value")
    try:
        key = (sex if raw.get("code") in _SEX_SPECIFIC else None, type(value), tuple(raw.items()))
        found = _SEEN_OBSERVATIONS.get(key)
    except TypeError:  # a list or object among the values: not hashable, never a repeat
        return parse_observation(c, raw, f"{visit_path}.observations[{k}]", sex)
    if found is not None:
        return found
    problems = c.count
    obs = parse_observation(c, raw, f"{visit_path}.observations[{k}]", sex)
    if obs is not None and c.count == problems and not (type(value) is float and value == 0):
        if len(_SEEN_OBSERVATIONS) >= _MAX_SEEN_OBSERVATIONS:
            _SEEN_OBSERVATIONS.clear()
        _SEEN_OBSERVATIONS[key] = obs
    return obs


def parse_observation(c: _Collector, raw: Any, path: str, sex: str | None) -> ObservationRecord | None:
    if not isinstance(raw, dict):
        c.add(path, tr("an observation must be a JSON object"))
        return None
    if not raw.keys() <= _OBS_KEYS:
        _unknown_keys(c, raw, _OBS_KEYS, path)
    code = raw.get("code")
    m = MEASURES.get(code) if isinstance(code, str) else None
    if m is None:
        c.add(f"{path}.code", tr("'{code}' is not a known measure code").format(code=code))
        return None
    value, unit = raw.get("value"), raw.get("unit")
    if value is None:
        c.add(f"{path}.value", tr("{name}: the value is missing").format(name=m.label))
        return None
    categorical = m.kind is MeasureKind.CATEGORICAL
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not categorical and not is_number:
        c.add(f"{path}.value", tr("{name}: the value must be a number, found {value!r}").format(name=m.label, value=value))
        return None
    if is_number and finite_number(value) is None:
        c.add(f"{path}.value", tr("{name}: the value must be a finite number of at most 40 digits").format(name=m.label))
        return None
    if categorical and isinstance(value, str) and text_problem(value):
        c.add(f"{path}.value", tr("{name}: the value {problem}").format(name=m.label, problem=text_problem(value)))
        return None
    if unit is not None and not isinstance(unit, str):
        c.add(f"{path}.unit", tr("{name}: the unit must be text").format(name=m.label))
        return None
    checked = check_value(code, value, unit, sex)
    if checked.refused:
        c.add(f"{path}.{checked.field}", checked.message)
        return None
    specimen = raw.get("specimen")
    if specimen is not None and not _one_of(specimen, SPECIMENS):
        c.add(f"{path}.specimen", tr("specimen must be one of {choices}").format(choices=", ".join(SPECIMENS)))
        return None
    if m.specimen and specimen not in (None, m.specimen):
        c.add(f"{path}.specimen", tr("{name} is measured on {expected}, not {value}: use the code for that specimen").format(
            name=m.label, expected=m.specimen, value=specimen))
        return None
    qualifier = raw.get("qualifier")
    if qualifier is not None and not _one_of(qualifier, ("<", ">")):
        c.add(f"{path}.qualifier", tr("qualifier must be '<' or '>'"))
        return None
    lab, method = raw.get("lab"), raw.get("method")  # mostly absent: no path written for them
    if lab is not None:
        lab = _text(c, lab, f"{path}.lab", "lab", max_len=80)
    if method is not None:
        method = _text(c, method, f"{path}.method", "method", max_len=80)
    return ObservationRecord(code, checked.canonical, checked.unit, value if categorical else float(value), unit,
                             specimen, lab, method, qualifier)  # in ObservationRecord's field order


def _with_derived_scores(c: _Collector, observations: list[ObservationRecord], path: str,
                         seen_codes: dict[str, tuple[int, ObservationRecord]]) -> list[ObservationRecord]:
    """ONLS total = arm + leg when both are given; a stated total must agree. `seen_codes`: the
    last observation of each code (`_parse_visit` keeps them)."""
    out = observations
    for m in _DERIVED_MEASURES:
        if not all(code in seen_codes for code in m.derived_from):
            continue
        total = sum(float(seen_codes[code][1].value) for code in m.derived_from)
        stated = seen_codes.get(m.code)
        if stated is not None:
            if float(stated[1].value) != total:
                c.add(path, tr("{name} {stated:g} does not equal the sum of its parts {total:g}").format(
                    name=m.label, stated=float(stated[1].value), total=total))
            continue
        if out is observations:
            out = list(observations)
        out.append(ObservationRecord(code=m.code, value=total, unit=m.unit, derived=True))
    return out


def _parse_treatment(c: _Collector, raw: Any, path: str, birth: date | None, today: date) -> TreatmentRecord | None:
    if not isinstance(raw, dict):
        c.add(path, tr("a treatment must be a JSON object"))
        return None
    _unknown_keys(c, raw, _TREATMENT_KEYS, path)
    regimen = raw.get("regimen")
    ok = True
    if not _one_of(regimen, REGIMENS):
        c.add(f"{path}.regimen", tr("'{value}' is not a known regimen").format(value=regimen))
        ok = False
    start = _parse_date(c, raw.get("start"), f"{path}.start", "start", required=True)
    _check_when(c, start, f"{path}.start", "start", birth, today)
    stop = _parse_date(c, raw.get("stop"), f"{path}.stop", "stop", required=False)
    _check_when(c, stop, f"{path}.stop", "stop", birth, today)
    if start and stop and stop < start:
        c.add(f"{path}.stop", tr("stop {stop} is before start {start}").format(stop=stop, start=start))
    engraft = _parse_date(c, raw.get("engraftment_date"), f"{path}.engraftment_date", "engraftment_date", required=False)
    _check_when(c, engraft, f"{path}.engraftment_date", "engraftment_date", birth, today)
    if engraft and start and engraft < start:
        c.add(f"{path}.engraftment_date", tr("engraftment {e} is before the infusion {s}").format(e=engraft, s=start))
    prophylaxis = raw.get("thromboprophylaxis")
    if prophylaxis is not None and not _one_of(prophylaxis, THROMBOPROPHYLAXIS):
        c.add(f"{path}.thromboprophylaxis", tr("thromboprophylaxis must be one of {choices}").format(
            choices=", ".join(THROMBOPROPHYLAXIS)))
        ok = False
    name = _text(c, raw.get("name"), f"{path}.name", "name", max_len=120)
    if regimen == "other" and not name:
        c.add(f"{path}.name", tr("a regimen 'other' needs a name"))
        ok = False
    melphalan = raw.get("melphalan_mg")
    if melphalan is not None and (finite_number(melphalan) is None or isinstance(melphalan, str)
                                  or not 0 <= melphalan <= 100000):
        c.add(f"{path}.melphalan_mg", tr("melphalan_mg must be a dose in mg between 0 and 100000"))
        ok = False
    note = _text(c, raw.get("note"), f"{path}.note", "note") or ""
    if not ok or start is None:
        return None
    return TreatmentRecord(
        regimen=regimen, start=start, stop=stop, thromboprophylaxis=prophylaxis, name=name,
        engraftment_date=engraft, melphalan_mg=float(melphalan) if melphalan is not None else None, note=note,
    )


def _parse_event(c: _Collector, raw: Any, path: str, birth: date | None, today: date) -> EventRecord | None:
    if not isinstance(raw, dict):
        c.add(path, tr("an event must be a JSON object"))
        return None
    _unknown_keys(c, raw, _EVENT_KEYS, path)
    etype = raw.get("type")
    if not _one_of(etype, EVENT_TYPES):
        c.add(f"{path}.type", tr("'{value}' is not a known event type").format(value=etype))
        return None
    when = _parse_date(c, raw.get("date"), f"{path}.date", "date", required=True)
    _check_when(c, when, f"{path}.date", tr("event date"), birth, today)
    note = _text(c, raw.get("note"), f"{path}.note", "note") or ""
    if when is None:
        return None
    return EventRecord(type=etype, date=when, note=note)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

def _number(value: float | str | None) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def observation_to_json(obs: ObservationRecord) -> dict[str, Any]:
    """The observation as it was entered: the original value and unit, so that a re-import
    converts them again to the same canonical value and keeps what was typed."""
    value = obs.entered_value if obs.entered_value is not None else obs.value
    out: dict[str, Any] = {"code": obs.code, "value": _number(value)}
    if obs.entered_unit is not None:
        out["unit"] = obs.entered_unit
    for key in ("specimen", "lab", "method", "qualifier"):
        if getattr(obs, key):
            out[key] = getattr(obs, key)
    return out


def patient_to_json(p: PatientRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"mrn": p.mrn, "name": p.name, "sex": p.sex,
                           "birth_date": p.birth_date.isoformat() if p.birth_date else None}
    if p.diagnosis_date:
        out["diagnosis_date"] = p.diagnosis_date.isoformat()
    visits = []
    for v in p.visits:
        vj: dict[str, Any] = {"date": v.date.isoformat()}
        obs = [observation_to_json(o) for o in v.observations if not o.derived]
        if obs:
            vj["observations"] = obs
        if v.features:
            vj["features"] = dict(v.features)
        if v.exams:
            vj["exams"] = [{"kind": e.kind, "result": e.result, **({"note": e.note} if e.note else {})} for e in v.exams]
        if v.note:
            vj["note"] = v.note
        visits.append(vj)
    out["visits"] = visits
    treatments = []
    for t in p.treatments:
        tj: dict[str, Any] = {"regimen": t.regimen, "start": t.start.isoformat()}
        if t.stop:
            tj["stop"] = t.stop.isoformat()
        if t.thromboprophylaxis:
            tj["thromboprophylaxis"] = t.thromboprophylaxis
        if t.name:
            tj["name"] = t.name
        if t.engraftment_date:
            tj["engraftment_date"] = t.engraftment_date.isoformat()
        if t.melphalan_mg is not None:
            tj["melphalan_mg"] = _number(t.melphalan_mg)
        if t.note:
            tj["note"] = t.note
        treatments.append(tj)
    out["treatments"] = treatments
    out["events"] = [{"type": e.type, "date": e.date.isoformat(), "note": e.note} for e in p.events]
    return out


def timeline_to_json(patients: list[PatientRecord]) -> dict[str, Any]:
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "patients": [patient_to_json(p) for p in patients]}
