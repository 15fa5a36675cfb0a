"""Lab results as CSV (INTERFACES.md section 1, `import-csv`): reading the text and deciding the
status of every row.

Owns the columns `mrn,date,code,value,unit[,specimen][,lab][,method]` and the real-world mess a
laboratory export brings: comma, semicolon or tab separators (sniffed from the header line), a
byte-order mark, `<` and `>` qualifiers (censored values), decimal commas, dates as `YYYY-MM-DD`
or `DD/MM/YYYY` chosen by the caller (never guessed), LOINC codes where they name exactly one
catalogue series, and units converted as the catalogue says (`validation.check_value`).

Two pure steps: `parse_lab_csv` turns text into rows (each valid or invalid with its reasons),
and `classify_rows` compares them with what is stored (given as plain mappings by the caller)
and sets each row's status: new, duplicate of a stored value, conflicting with a stored value,
or invalid. No SQL, no files, no clock ("today" is a parameter).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from dataclasses import MISSING, dataclass, fields as dataclass_fields, replace
import datetime
from datetime import date
from enum import Enum
from itertools import chain

from poems_monitor.domain.catalogue import MEASURES, SPECIMENS, Measure, MeasureKind
from poems_monitor.domain.course import after_death
from poems_monitor.domain.numbers import read_number
from poems_monitor.domain.input_rules import EARLIEST_DATE, mrn_problem, normalise_text
from poems_monitor.domain.timeline import ObservationRecord
from poems_monitor.domain.validation import Tier, check_value
from poems_monitor.i18n import tr

REQUIRED_COLUMNS = ("mrn", "date", "code", "value", "unit")
OPTIONAL_COLUMNS = ("specimen", "lab", "method")
SEPARATORS = (",", ";", "\t")
# Codes a person records at the visit (arm and leg together, the total computed): not lab results.
VISIT_ONLY_CODES = frozenset(
    code for m in MEASURES.values() if m.derived_from for code in (m.code, *m.derived_from)
)
# ASCII digits only (re.ASCII): full-width and Arabic-Indic digits are not read as dates or numbers.
_LOINC = re.compile(r"^\d{1,8}-\d$", re.ASCII)
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$", re.ASCII)
_DMY_DATE = re.compile(r"^(\d{1,2})([/.])(\d{1,2})\2(\d{4})(?: \d{1,2}:\d{2}(?::\d{2})?)?$", re.ASCII)
_BARE_INTEGER = re.compile(r"^\d+$", re.ASCII)
_GROUPED_LOOKING = re.compile(r"^[0-9][0-9.,]*$")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$", re.ASCII)
MAX_ROWS = 200_000  # a lab export far larger than any clinic's: split it (keeps memory bounded)
MAX_INVALID_ROWS_KEPT = 1_000  # further invalid rows are counted, not described


class DateFormat(str, Enum):
    ISO = "iso"  # YYYY-MM-DD (a time after the date is ignored)
    DMY = "dmy"  # DD/MM/YYYY (also DD.MM.YYYY)

    @property
    def pattern(self) -> str:
        return "YYYY-MM-DD" if self is DateFormat.ISO else "DD/MM/YYYY"


class RowStatus(str, Enum):
    NEW = "new"
    DUPLICATE = "duplicate"  # the same value is already stored (or repeated in the file): skipped
    CONFLICTING = "conflicting"  # another value is stored for this patient, date and code
    INVALID = "invalid"


@dataclass(frozen=True)
class RowProblem:
    """One reason a row (or the file, row 0 / line 1) cannot be imported."""

    row: int  # line number in the file; the header is line 1
    column: str  # a column name, or "" for the row as a whole
    rule: str  # short name of the rule broken: unit, number, date, unknown_code, ...
    message: str

    def __str__(self) -> str:
        where = tr("line {row}").format(row=self.row)
        if self.column:
            where += tr(", column {column}").format(column=self.column)
        return f"{where}: {self.message} [{self.rule}]"


@dataclass(frozen=True)
class LabRow:
    """One data row of the file, as read and as it would be stored."""

    row: int  # line number in the file
    fields: tuple[tuple[str, str], ...]  # (column, text) as read, trimmed
    mrn: str = ""
    date: date | None = None
    code: str | None = None  # catalogue code (after LOINC mapping)
    code_as_read: str = ""
    value: float | str | None = None  # canonical value (number) or category
    unit: str = ""  # canonical unit
    entered_value: float | str | None = None
    entered_unit: str | None = None  # UCUM code of the unit given (None: omitted)
    specimen: str | None = None
    qualifier: str | None = None  # "<" or ">"
    lab: str | None = None
    method: str | None = None
    note: str = ""  # out-of-range or critical remark; the row is still importable
    problems: tuple[RowProblem, ...] = ()
    status: RowStatus = RowStatus.NEW
    stored: str = ""  # the stored value a duplicate or conflict was compared with, as text

    @property
    def valid(self) -> bool:
        return not self.problems

    def field(self, column: str) -> str:
        return dict(self.fields).get(column, "")

    @property
    def key(self) -> tuple[str, datetime.date, str] | None:  # `date` is a field here
        if self.date is None or self.code is None:
            return None
        return (self.mrn, self.date, self.code)

    def observation(self) -> ObservationRecord:
        if not self.valid or self.code is None or self.value is None:
            raise ValueError(f"row {self.row} is not valid")
        # ObservationRecord(code=..., value=..., ...) without its frozen __init__ (an import builds
        # one per row); a test compares both.
        record = _new(ObservationRecord)
        record.__dict__.update(
            code=self.code, value=self.value, unit=self.unit, entered_value=self.entered_value,
            entered_unit=self.entered_unit, specimen=self.specimen, lab=self.lab, method=self.method,
            qualifier=self.qualifier, derived=False, confirmed_at_entry=False)
        return record

    def value_text(self) -> str:
        """The value as a person reads it in the preview: qualifier, number as entered, unit."""
        if self.entered_value is None:
            return self.field("value")
        if isinstance(self.entered_value, str):
            return self.entered_value
        text = f"{self.qualifier or ''}{format_number(self.entered_value)}"
        return f"{text} {self.entered_unit}" if self.entered_unit else text

    def problem_text(self) -> str:
        return "; ".join(str(p) for p in self.problems)


@dataclass(frozen=True)
class LabCsv:
    """A parsed file: its rows, problems with the file as a whole, and what was sniffed."""

    rows: tuple[LabRow, ...]
    file_problems: tuple[RowProblem, ...] = ()
    separator: str = ","
    columns: tuple[str, ...] = ()
    ignored_columns: tuple[str, ...] = ()

    @property
    def problems(self) -> list[RowProblem]:
        return [*self.file_problems, *(p for r in self.rows for p in r.problems)]

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in RowStatus}
        for r in self.rows:
            out[r.status.value] += 1
        return out

    @property
    def importable(self) -> bool:
        """All rows or none: importable when every row is new or a duplicate and the file is sound."""
        return not self.file_problems and bool(self.rows) and all(
            r.status in (RowStatus.NEW, RowStatus.DUPLICATE) for r in self.rows
        )

    def bad_rows(self) -> list[LabRow]:
        return [r for r in self.rows if r.status in (RowStatus.INVALID, RowStatus.CONFLICTING)]


def format_number(value: float) -> str:
    """A number with '.' decimals and no needless trailing zeros (1240.0 -> 1240)."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class CsvEncodingError(ValueError):
    """The bytes are not text in an encoding the reader knows; the message says what to do."""


_UNKNOWN_ENCODING = ("the file is not text in UTF-8, UTF-16 with a byte-order mark or Windows-1252 ({why}): "
                     "save it from the spreadsheet as \"CSV UTF-8\"")


def decode_csv_bytes(data: bytes) -> str:
    """Text of a CSV file: UTF-8 (with or without a byte-order mark), UTF-16 with its mark (Excel's
    "Unicode text"), else Windows-1252 (Excel's "CSV" on Windows in Western Europe) when every
    byte is a Windows-1252 character. Anything else (UTF-16 or UTF-32 without a mark, a binary
    file, another code page) raises CsvEncodingError instead of being read as garbage."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) and not data.startswith(b"\xff\xfe\x00\x00"):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise CsvEncodingError(tr(_UNKNOWN_ENCODING).format(why=tr("broken UTF-16"))) from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                raise CsvEncodingError(tr(_UNKNOWN_ENCODING).format(why=tr("bytes that no Windows-1252 text holds"))) from None
    if "\x00" in text:
        raise CsvEncodingError(tr(_UNKNOWN_ENCODING).format(why=tr("it holds NUL characters, as UTF-16 without a mark does")))
    return text


def csv_encoding(blocks: Callable[[], Iterable[bytes]]) -> str:
    """The codec a file of these byte blocks is read with, by the rules of `decode_csv_bytes`,
    one block at a time (`blocks()` reads the file again from its start for each try): raises
    CsvEncodingError when no codec reads it, or when it holds NUL characters."""
    head = next(iter(blocks()), b"")
    utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff")) and not head.startswith(b"\xff\xfe\x00\x00")
    for codec in ("utf-16",) if utf16 else ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(codec)()
        try:
            for block in blocks():
                if "\x00" in decoder.decode(block):
                    raise CsvEncodingError(tr(_UNKNOWN_ENCODING).format(
                        why=tr("it holds NUL characters, as UTF-16 without a mark does")))
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return codec
    why = tr("broken UTF-16") if utf16 else tr("bytes that no Windows-1252 text holds")
    raise CsvEncodingError(tr(_UNKNOWN_ENCODING).format(why=why))


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

def _header_names(line: str, sep: str) -> list[str]:
    return [c.strip().strip('"').strip().lower() for c in line.split(sep)]


def sniff_separator(header_line: str) -> str | None:
    """The separator that splits the header into the required columns (never a guess on data)."""
    best = None
    for sep in SEPARATORS:
        names = _header_names(header_line, sep)
        if all(c in names for c in REQUIRED_COLUMNS):
            if best is None or len(names) > len(_header_names(header_line, best)):
                best = sep
    return best


def _loinc_candidates(loinc: str) -> list[Measure]:
    return [m for m in MEASURES.values() if m.loinc == loinc]


def _parse_date(text: str, fmt: DateFormat) -> tuple[date | None, str]:
    """(date, "") or (None, reason)."""
    if fmt is DateFormat.ISO:
        match = _ISO_DATE.match(text)
        if match:
            y, mo, d = (int(g) for g in match.groups())
        else:
            hint = ""
            if _DMY_DATE.match(text):
                hint = tr("; the file seems to use DD/MM/YYYY: choose that date format")
            return None, tr("'{text}' is not a date as YYYY-MM-DD{hint}").format(text=text, hint=hint)
    else:
        match = _DMY_DATE.match(text)
        if match:
            d, _sep, mo, y = match.groups()
            d, mo, y = int(d), int(mo), int(y)
        else:
            hint = ""
            if _ISO_DATE.match(text):
                hint = tr("; the file seems to use YYYY-MM-DD: choose that date format")
            return None, tr("'{text}' is not a date as DD/MM/YYYY{hint}").format(text=text, hint=hint)
    try:
        return date(y, mo, d), ""
    except ValueError:
        return None, tr("'{text}' is not a calendar date ({pattern})").format(text=text, pattern=fmt.pattern)


def _unit_code(m: Measure, text: str) -> str:
    """The UCUM code of a unit as a laboratory writes it: the code itself (any case), or the
    label the catalogue shows (mIU/L, µmol/L, lb); unchanged when neither matches."""
    if not text:
        return text
    conv = m.conversion_for(text)
    if conv is not None:
        return conv.unit

    def norm(s: str) -> str:
        return s.strip().lower().replace("µ", "u").replace("μ", "u").replace("₂", "2").replace(" ", "")

    wanted = norm(text)
    choices = [(m.unit, m.unit_label), *((c.unit, c.label) for c in m.alternatives)]
    matches = {code for code, label in choices if norm(label) == wanted or norm(code) == wanted}
    return matches.pop() if len(matches) == 1 else text


def _parse_value(text: str) -> tuple[str | None, str, str]:
    """(qualifier, number text with '.' decimals, reason); reason is empty when it parsed."""
    qualifier = None
    rest = text
    if rest[:1] in ("<", ">", "≤", "≥"):
        if rest[:2] in ("<=", ">=") or rest[:1] in ("≤", "≥"):
            return None, "", tr("'{text}': only '<' and '>' qualifiers are accepted (not ≤, ≥, <=, >=)").format(text=text)
        qualifier, rest = rest[0], rest[1:].strip()
    if not _NUMBER.match(rest) and not _GROUPED_LOOKING.match(rest):
        return qualifier, rest, tr("'{text}' is not a number").format(text=text)
    reading = read_number(rest)  # refuses '1,240' (1240 or 1.24?) with both readings named
    if not reading.ok:
        return qualifier, rest, reading.problem
    return qualifier, rest.replace(",", "."), ""


Problem = tuple[str, str, str]  # (column, rule, message) of a RowProblem, its line given when the row is built


class RowReader:
    """Reads the rows of one file: `parse(line, values)` is one data row, read and checked (each
    problem with its line, column and rule). What a row's MRN, date, and code with value and unit decide does not depend on the rest of the row, and a
    lab file repeats them (a few dozen codes and values, a few thousand patients and days), so
    each decision is made once per distinct text and remembered for the file (a bounded number of
    each: a hostile file of endless distinct rows is checked the long way, as before)."""

    MEMO_SIZE = 20_000  # entries per memo: a few MB each at most

    def __init__(self, fmt: DateFormat, today: date):
        self.fmt, self.today = fmt, today
        self.mrns: dict[str, tuple[str, tuple[Problem, ...]]] = {}
        self.dates: dict[str | None, tuple[date | None, tuple[Problem, ...]]] = {}
        self.measures: dict[tuple, tuple[dict, tuple[Problem, ...]]] = {}

    def parse(self, line: int, values: dict[str, str]) -> LabRow:
        get = values.get
        mrn_text, date_text = get("mrn", ""), get("date")
        found = self.mrns.get(mrn_text)
        if found is None:
            found = _remember(self.mrns, mrn_text, _mrn_part(mrn_text))
        mrn, mrn_problems = found
        dated = self.dates.get(date_text)
        if dated is None:
            dated = _remember(self.dates, date_text, _date_part(date_text, self.fmt, self.today))
        when, date_problems = dated
        key = (get("specimen", ""), get("code", ""), get("lab", ""), get("method", ""), get("value", ""), get("unit", ""))
        measured = self.measures.get(key)
        if measured is None:
            measured = _remember(self.measures, key, _measure_part(*key))
        attributes, measure_problems = measured
        problems = mrn_problems + date_problems + measure_problems
        if problems:
            return LabRow(row=line, fields=tuple(values.items()), mrn=mrn, date=when, **attributes,
                          problems=tuple(RowProblem(line, *p) for p in problems), status=RowStatus.INVALID)
        # What LabRow(...) builds, without its frozen __init__'s twenty guarded assignments (a
        # third of the reading of a valid row); a test compares both.
        row = _new(LabRow)
        slots = row.__dict__
        slots.update(_LAB_ROW_DEFAULTS)
        slots.update(attributes)
        slots["row"], slots["fields"], slots["mrn"], slots["date"] = line, tuple(values.items()), mrn, when
        return row


_new = object.__new__
_LAB_ROW_DEFAULTS = {f.name: f.default for f in dataclass_fields(LabRow) if f.default is not MISSING}


def _remember(memo: dict, key: object, found: tuple) -> tuple:
    if len(memo) >= RowReader.MEMO_SIZE:
        memo.clear()
    memo[key] = found
    return found


def _mrn_part(text: str) -> tuple[str, tuple[Problem, ...]]:
    mrn = normalise_text(text)
    if not mrn:
        return mrn, (("mrn", "required", tr("the MRN is missing")),)
    problem = mrn_problem(mrn)
    return mrn, ((("mrn", "mrn", problem),) if problem else ())


def _date_part(text: str | None, fmt: DateFormat, today: date) -> tuple[date | None, tuple[Problem, ...]]:
    if not text:
        return None, (("date", "required", tr("the date is missing")),)
    when, reason = _parse_date(text, fmt)
    if when is None:
        return None, (("date", "date_format", reason),)
    if when < EARLIEST_DATE:
        return None, (("date", "date_range", tr("{d} is before {earliest}: check the year").format(
            d=when.isoformat(), earliest=EARLIEST_DATE.isoformat())),)
    if when > today:
        return None, (("date", "future_date", tr("{d} is in the future").format(d=when.isoformat())),)
    return when, ()


def _measure_part(specimen_text: str, code_text: str, lab: str, method: str, value_text: str, unit_text: str
                  ) -> tuple[dict, tuple[Problem, ...]]:
    """The row's attributes that its code, specimen, lab, method, value and unit decide (LabRow
    fields by name), and their problems in the order a person reads the row."""
    problems: list[Problem] = []

    def bad(column: str, rule: str, message: str) -> None:
        problems.append((column, rule, message))

    specimen = specimen_text.lower().replace(" ", "_") or None
    if specimen is not None and specimen not in SPECIMENS:
        bad("specimen", "specimen", tr("'{value}' is not a specimen type; use one of {choices}").format(
            value=specimen_text, choices=", ".join(SPECIMENS)))
        specimen = None

    m: Measure | None = None
    if not code_text:
        bad("code", "required", tr("the code is missing"))
    elif _LOINC.match(code_text):
        candidates = _loinc_candidates(code_text)
        if not candidates:
            bad("code", "unknown_code", tr("LOINC {code} is not a measure this clinic records").format(code=code_text))
        elif len(candidates) == 1:
            m = candidates[0]
        else:
            names = ", ".join(c.label for c in candidates)
            if specimen is None and not specimen_text:
                bad("code", "ambiguous_loinc", tr(
                    "LOINC {code} names several series ({names}): give the specimen ({specimens}) "
                    "in the specimen column, or use our code").format(
                    code=code_text, names=names, specimens=", ".join(c.specimen or "?" for c in candidates)))
            elif specimen is not None:
                fitting = [c for c in candidates if c.specimen == specimen]
                if len(fitting) == 1:
                    m = fitting[0]
                else:
                    bad("specimen", "ambiguous_loinc", tr(
                        "LOINC {code} with specimen '{specimen}' names none of {names} without doubt").format(
                        code=code_text, specimen=specimen, names=names))
    else:
        m = MEASURES.get(code_text.lower())
        if m is None:
            bad("code", "unknown_code", tr("'{code}' is not a measure code or LOINC code this clinic records").format(
                code=code_text))
    if m is not None and m.code in VISIT_ONLY_CODES:
        bad("code", "visit_only", tr("{name} is recorded at the visit (arm and leg together), not by lab import").format(
            name=m.label))
        m = None
    if m is not None and m.specimen and specimen is not None and specimen != m.specimen:
        bad("specimen", "specimen", tr("{name} is measured on {expected}, not {value}: use the code for that specimen").format(
            name=m.label, expected=m.specimen, value=specimen))
        m = None

    row = dict(code=m.code if m else None, code_as_read=code_text, specimen=(specimen or (m.specimen if m else None)),
               lab=lab or None, method=method or None)
    for column, text in (("lab", lab), ("method", method)):
        if len(text) > 80:
            bad(column, "too_long", tr("{column} is longer than 80 characters").format(column=column))

    if not value_text:
        bad("value", "required", tr("the value is missing"))
    elif m is not None:
        if m.kind is MeasureKind.CATEGORICAL:
            if unit_text:
                bad("unit", "unit", tr("{name} is a category and has no unit; found '{unit}'").format(name=m.label, unit=unit_text))
            checked = check_value(m.code, value_text)
            if checked.refused:
                bad("value", "category", checked.message)
            else:
                row.update(value=checked.canonical, unit="", entered_value=checked.canonical)
        else:
            qualifier, number_text, reason = _parse_value(value_text)
            if reason:
                bad("value", "number", reason)
            elif qualifier and m.kind is MeasureKind.SCORE:
                bad("value", "qualifier", tr("{name} is a score: a '{q}' qualifier does not apply").format(name=m.label, q=qualifier))
            else:
                unit = _unit_code(m, unit_text)
                checked = check_value(m.code, number_text, unit or None)
                if checked.refused:
                    rule = "unit" if checked.field == "unit" else (
                        "whole_score" if m.integer and not float(number_text).is_integer() else "absolute_limits")
                    bad(checked.field, rule, checked.message)
                else:
                    note = checked.message if checked.tier in (Tier.CRITICAL, Tier.OUT_OF_RANGE) else ""
                    if checked.tier is Tier.CRITICAL:
                        note = tr("critical: {message}").format(message=note)
                    row.update(value=checked.canonical, unit=checked.unit, entered_value=float(number_text),
                               entered_unit=unit or None, qualifier=qualifier, note=note)
    return row, tuple(problems)


class _RecordError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def _records(reader) -> Iterator[tuple[int, list[str] | _RecordError]]:  # noqa: ANN001 (a csv reader)
    """(line number, cells) of each record; the csv module's own error (a field longer than its
    limit, a stray quote) comes last, as one sentence with the line."""
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, _RecordError(reader.line_num, tr("line {line} cannot be read as CSV ({error})").format(
                line=reader.line_num, error=exc))
            return
        yield reader.line_num, record


def parse_lab_csv(text: str, date_format: DateFormat | str, today: date,
                  read: Callable[[int, int], None] | None = None) -> LabCsv:
    """Read lab CSV text into rows; every problem is kept with its line, column and rule. (At
    most MAX_ROWS rows: a whole file held for a preview; `read_lab_batches` streams any size.)
    `read(characters read, characters in all)` is called after each batch of rows (it may raise
    to stop the reading)."""
    rows: list[LabRow] = []
    last = LabCsv(rows=())
    buffer = io.StringIO(text.lstrip("\ufeff"), newline="")
    total = len(buffer.getvalue())
    for batch in read_lab_batches(buffer, date_format, today, 10_000 if read is None else 1_000, max_rows=MAX_ROWS):
        rows.extend(batch.rows)
        last = batch
        if read is not None:
            read(min(buffer.tell(), total), total)
    return replace(last, rows=tuple(rows))


def read_lab_batches(lines: Iterable[str], date_format: DateFormat | str, today: date, batch_rows: int = 10_000,
                     max_rows: int | None = None) -> Iterator[LabCsv]:
    """Read lab CSV lines (read with newline="": lines end at CR, CRLF or LF alike, here and in
    the csv module) into batches of at most `batch_rows` rows, as they come: only one batch is
    held. Every batch carries the separator and columns; the last one carries the problems of the
    file as a whole (a file that cannot go on being read ends there)."""
    fmt = DateFormat(date_format)
    lines = iter(lines)
    skipped: list[str] = []
    header_line = ""
    for line in lines:
        skipped.append(line)
        if line.strip():
            header_line = line.lstrip("\ufeff").rstrip("\r\n")
            break
    else:
        yield LabCsv(rows=(), file_problems=(RowProblem(1, "", "empty", tr("the file is empty")),))
        return
    first = len(skipped) - 1
    sep = sniff_separator(header_line)
    if sep is None:
        yield LabCsv(rows=(), file_problems=(RowProblem(first + 1, "", "header", tr(
            "the first line must name the columns {columns} (separated by commas or semicolons); found '{line}'").format(
            columns=",".join(REQUIRED_COLUMNS) + "[,specimen]", line=header_line[:120])),))
        return

    reader = csv.reader(chain(skipped, lines), delimiter=sep, skipinitialspace=True)
    header: list[str] | None = None
    rows: list[LabRow] = []
    file_problems: list[RowProblem] = []
    ignored: list[str] = []
    invalid = total = 0
    previous: LabRow | None = None
    read_row = RowReader(fmt, today).parse

    def batch(final: bool = False) -> LabCsv:
        return LabCsv(rows=tuple(rows), file_problems=tuple(file_problems) if final else (), separator=sep,
                      columns=tuple(header or ()), ignored_columns=tuple(ignored))

    for line, record in _records(reader):
        if isinstance(record, _RecordError):
            file_problems.append(RowProblem(line, "", "csv", record.message))
            break
        if max_rows is not None and total >= max_rows:
            file_problems.append(RowProblem(line, "", "too_many_rows", tr(
                "the file has more than {n} rows: split it into smaller files").format(n=max_rows)))
            break
        if invalid >= MAX_INVALID_ROWS_KEPT:
            file_problems.append(RowProblem(line, "", "too_many_problems", tr(
                "more than {n} rows are invalid: the rest of the file was not checked").format(n=MAX_INVALID_ROWS_KEPT)))
            break
        if previous is not None and previous.status is RowStatus.INVALID:
            invalid += 1
            previous = None
        if header is None:
            if not any(cell.strip() for cell in record):
                continue
            header = [c.strip().lower() for c in record]
            if header:
                header[0] = header[0].lstrip("\ufeff")
            seen: set[str] = set()
            for name in header:
                if name in seen and name:
                    file_problems.append(RowProblem(line, name, "header", tr("column '{name}' appears twice").format(name=name)))
                seen.add(name)
                if name and name not in REQUIRED_COLUMNS and name not in OPTIONAL_COLUMNS:
                    ignored.append(name)
            continue
        if not "".join(record).strip():  # no cell holds anything but blanks (one call, not one per cell)
            continue  # blank line, or a spreadsheet's trailing empty row
        if len(rows) >= batch_rows:
            yield batch()
            rows = []
        total += 1
        if len(record) > len(header) and any(cell.strip() for cell in record[len(header):]):
            hint = tr(": a decimal comma in a comma-separated file must be quoted (\"1,5\"), or use ';' between columns") \
                if sep == "," else ""
            previous = LabRow(row=line, fields=tuple(zip(header, (c.strip() for c in record))), status=RowStatus.INVALID,
                              problems=(RowProblem(line, "", "columns", tr(
                                  "the row has {n} fields but the header names {m}{hint}").format(
                                  n=len(record), m=len(header), hint=hint)),))
            rows.append(previous)
            continue
        values = {name: (record[i].strip() if i < len(record) else "") for i, name in enumerate(header) if name}
        if sep == "," and _BARE_INTEGER.match(values.get("unit", "")) and _NUMBER.match(values.get("value", "").lstrip("<>").strip()):
            # "13,5" unquoted: the decimals landed in the unit column
            previous = LabRow(row=line, fields=tuple(values.items()), status=RowStatus.INVALID, problems=(RowProblem(
                line, "", "columns", tr("the value seems split at a decimal comma ('{a},{b}'): quote it (\"{a},{b}\") "
                                        "or use ';' between columns").format(a=values["value"], b=values["unit"])),))
            rows.append(previous)
            continue
        previous = read_row(line, values)
        rows.append(previous)
    if header is not None and not total and not file_problems:
        file_problems.append(RowProblem(1, "", "empty", tr("the file has a header but no rows")))
    yield batch(final=True)


# ---------------------------------------------------------------------------------------------
# Status against what is stored
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KnownPatient:
    sex: str
    birth_date: date | None
    death_date: date | None = None  # nothing can be recorded after it


@dataclass(frozen=True)
class StoredValue:
    value: float | str
    unit: str
    qualifier: str | None = None


def same_value(a: float | str | None, qa: str | None, b: float | str | None, qb: str | None) -> bool:
    if qa != qb:
        return False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)), abs(float(b)))
    return a == b


def stored_text(value: float | str, unit: str, qualifier: str | None) -> str:
    if isinstance(value, str):
        return value
    return f"{qualifier or ''}{format_number(value)} {unit}".strip()


def classify_rows(
    parsed: LabCsv, patients: Mapping[str, KnownPatient], stored: Mapping[tuple[str, date, str], StoredValue],
    earlier_in_file: Set[tuple[str, date, str]] = frozenset(),
) -> LabCsv:
    """Set each row's status against the stored record.

    `patients` maps every known MRN of the file to its sex and birth date; `stored` maps
    (mrn, date, code) to the current stored value. Unknown MRN and dates before birth make a row
    invalid; the same patient, date and code twice in the file is a duplicate when the values
    agree and invalid (both rows) when they differ.
    """
    rows = list(parsed.rows)
    first_by_key: dict[tuple[str, date, str], int] = {}
    for i, r in enumerate(rows):
        if not r.valid:
            continue
        problems: list[RowProblem] = []
        p = patients.get(r.mrn)
        if p is None:
            problems.append(RowProblem(r.row, "mrn", "unknown_mrn", tr(
                "no patient with MRN {mrn}: add the patient first").format(mrn=r.mrn)))
        elif p.birth_date is not None and r.date is not None and r.date < p.birth_date:
            problems.append(RowProblem(r.row, "date", "before_birth", tr(
                "{d} is before the birth date {b} of {mrn}").format(d=r.date.isoformat(), b=p.birth_date.isoformat(), mrn=r.mrn)))
        elif p.death_date is not None and (after := after_death(  # the sentence only for a patient who died
                tr("{mrn}: a value dated").format(mrn=r.mrn), r.date, p.death_date)) is not None:
            problems.append(RowProblem(r.row, "date", "after_death", after))
        if problems:
            rows[i] = replace(r, problems=tuple(problems), status=RowStatus.INVALID)
            continue
        note = r.note
        m = MEASURES[r.code]
        if m.sex_specific and isinstance(r.value, (int, float)):
            checked = check_value(r.code, r.value, m.unit, p.sex)
            note = checked.message if checked.tier in (Tier.OUT_OF_RANGE, Tier.CRITICAL) else ""
            if checked.tier is Tier.CRITICAL:
                note = tr("critical: {message}").format(message=note)
            if m.reference_for(p.sex) is None and not note:
                note = tr("{name}: no reference range applied for sex '{sex}'").format(name=m.label, sex=p.sex)
        key = r.key
        earlier = first_by_key.get(key)
        if earlier is not None:
            first = rows[earlier]
            if same_value(first.value, first.qualifier, r.value, r.qualifier):
                rows[i] = replace(r, note=note, status=RowStatus.DUPLICATE,
                                  stored=tr("same as line {row}").format(row=first.row))
            else:
                message = tr("line {a} and line {b} give different values for {name} of {mrn} on {d}").format(
                    a=first.row, b=r.row, name=m.label, mrn=r.mrn, d=r.date.isoformat())
                rows[i] = replace(r, status=RowStatus.INVALID,
                                  problems=(RowProblem(r.row, "value", "repeated_in_file", message),))
                if first.status is not RowStatus.INVALID:
                    rows[earlier] = replace(first, status=RowStatus.INVALID,
                                            problems=(RowProblem(first.row, "value", "repeated_in_file", message),))
            continue
        first_by_key[key] = i
        old = stored.get(key)
        if old is not None and key in earlier_in_file:
            if same_value(old.value, old.qualifier, r.value, r.qualifier):
                rows[i] = replace(r, note=note, status=RowStatus.DUPLICATE, stored=tr("same as an earlier line"))
            else:
                rows[i] = replace(r, status=RowStatus.INVALID, problems=(RowProblem(r.row, "value", "repeated_in_file", tr(
                    "line {b} gives a different value for {name} of {mrn} on {d} than an earlier line of the file").format(
                    b=r.row, name=m.name, mrn=r.mrn, d=r.date.isoformat())),))
        elif old is None:
            if note != r.note or r.status is not RowStatus.NEW:  # most rows: as read (a copy of each costs)
                rows[i] = replace(r, note=note, status=RowStatus.NEW)
        elif same_value(old.value, old.qualifier, r.value, r.qualifier):
            rows[i] = replace(r, note=note, status=RowStatus.DUPLICATE, stored=stored_text(old.value, old.unit, old.qualifier))
        else:
            rows[i] = replace(r, note=note, status=RowStatus.CONFLICTING,
                              stored=stored_text(old.value, old.unit, old.qualifier))
    return replace(parsed, rows=tuple(rows))


def conflict_message(r: LabRow) -> str:
    """The sentence for a conflicting row (nothing stored is overwritten by an import)."""
    name = MEASURES[r.code].label if r.code in MEASURES else r.code_as_read
    return tr("line {row}: {mrn} on {d}, {name}: the file has {new} but {old} is stored; nothing is overwritten: "
              "correct the visit in the app with a reason [conflicting]").format(
        row=r.row, mrn=r.mrn, d=r.date.isoformat() if r.date else "?", name=name,
        new=stored_text(r.value, r.unit, r.qualifier) if r.value is not None else r.field("value"), old=r.stored)
