"""A patient's course as the rules read it: the record up to a date, lines of therapy, month steps.

Owns the small helpers that flags, criteria and the follow-up schedule share so that each rule
agrees on what "as of", "a line of therapy", "active treatment" and "N months later" mean.
Pure: no Qt, no SQL, no file or clock access ("today" is always a parameter).
"""

from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from dataclasses import replace
from datetime import date, timedelta

from poems_monitor.domain.catalogue import REGIMENS, display_name
from poems_monitor.domain.timeline import PatientRecord, TreatmentRecord
from poems_monitor import local_format
from poems_monitor.i18n import tr

# Regimens that are supportive or temporising, not a line of therapy against the clone: they do
# not reset a VEGF nadir or start a "first year of a line" (REFERENCE.md section 7: steroids are
# temporising only; IVIG and plasma exchange have no drug class). `other` counts as a line, since
# anchoring on an unknown therapy is safer than comparing across it.
SUPPORTIVE_REGIMENS = frozenset({"corticosteroids", "ivig", "plasma_exchange"})

# One-off treatments: without a stop date they are not "ongoing for ever" but done on their start.
ONE_OFF_REGIMENS = frozenset({"asct", "radiotherapy"})


def add_months(day: date, months: int) -> date:
    """`day` moved by whole calendar months; the day of month is clamped (31 Jan + 1 = 28/29 Feb)."""
    total = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(total, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def add_years(day: date, years: int) -> date:
    return add_months(day, 12 * years)


def clip(patient: PatientRecord, as_of: date) -> PatientRecord:
    """The record as it stood on `as_of`: later visits and events are dropped, later treatments
    dropped, a stop or engraftment date after `as_of` is not yet known (None). A line still open
    at a recorded death ends on the day of death (nothing runs after it)."""
    died = death_date(patient)
    if died is not None and died <= as_of and any(
            t.stop is None and t.regimen not in ONE_OFF_REGIMENS and t.start <= died for t in patient.treatments):
        patient = replace(patient, treatments=tuple(
            replace(t, stop=died) if t.stop is None and t.regimen not in ONE_OFF_REGIMENS and t.start <= died else t
            for t in patient.treatments))
    late_visit = bool(patient.visits) and patient.visits[-1].date > as_of
    late_event = bool(patient.events) and patient.events[-1].date > as_of
    late_treatment = any(
        t.start > as_of
        or (t.stop is not None and t.stop > as_of)
        or (t.engraftment_date is not None and t.engraftment_date > as_of)
        for t in patient.treatments
    )
    if not (late_visit or late_event or late_treatment):
        return patient  # the common case: nothing to cut, no copy
    visits = patient.visits[: bisect_right([v.date for v in patient.visits], as_of)]
    events = tuple(e for e in patient.events if e.date <= as_of)
    treatments = []
    for t in patient.treatments:
        if t.start > as_of:
            continue
        if t.stop is not None and t.stop > as_of:
            t = replace(t, stop=None)
        if t.engraftment_date is not None and t.engraftment_date > as_of:
            t = replace(t, engraftment_date=None)
        treatments.append(t)
    return replace(patient, visits=tuple(visits), events=events, treatments=tuple(treatments))


def is_line(treatment: TreatmentRecord) -> bool:
    """True for a line of therapy (see SUPPORTIVE_REGIMENS for what is not)."""
    return treatment.regimen not in SUPPORTIVE_REGIMENS


def lines_of_therapy(patient: PatientRecord) -> tuple[TreatmentRecord, ...]:
    return tuple(sorted((t for t in patient.treatments if is_line(t)), key=lambda t: t.start))


def end_of(treatment: TreatmentRecord) -> date | None:
    """Last day of a treatment: its stop; the start for a one-off without stop; None if ongoing."""
    if treatment.stop is not None:
        return treatment.stop
    if treatment.regimen in ONE_OFF_REGIMENS:
        return treatment.start
    return None


def active_on(treatment: TreatmentRecord, day: date) -> bool:
    end = end_of(treatment)
    return treatment.start <= day and (end is None or day <= end)


class LineIndex:
    """Lines of therapy sorted by start, for O(log n) "most recent line before a date" look-ups."""

    def __init__(self, lines: tuple[TreatmentRecord, ...]):
        self.lines = lines
        self._starts = [t.start for t in lines]

    def before(self, day: date) -> TreatmentRecord | None:
        """The most recent line that started strictly before `day` (a value drawn on the start
        day is taken as drawn before the first dose, i.e. the pre-treatment baseline)."""
        i = bisect_left(self._starts, day)
        return self.lines[i - 1] if i else None

    def on_or_before(self, day: date) -> TreatmentRecord | None:
        i = bisect_right(self._starts, day)
        return self.lines[i - 1] if i else None

    def any_active(self, day: date) -> bool:
        return any(active_on(t, day) for t in self.lines[: bisect_right(self._starts, day)])


def regimen_label(treatment: TreatmentRecord, mid_sentence: bool = True) -> str:
    """The regimen's name; lower-cased inside a sentence ("since lenalidomide–dexamethasone
    started"), except acronyms and names typed for regimen `other`."""
    regimen = REGIMENS.get(treatment.regimen)
    if treatment.regimen == "other" and treatment.name:
        return treatment.name
    name = regimen.label if regimen is not None else treatment.regimen.replace("_", " ")
    if mid_sentence and len(name) > 1 and name[0].isupper() and name[1].islower():
        name = name[0].lower() + name[1:]
    return name


def points(n: float) -> str:
    return (tr("{n} point") if n == 1 else tr("{n} points")).format(n=shown_number(n))


def death_date(patient: PatientRecord) -> date | None:
    for event in patient.events:
        if event.type == "death":
            return event.date
    return None


def after_death(what: str, day: date | None, died: date | None) -> str | None:
    """The sentence refusing `what` dated `day` after the recorded death, or None when it is not.
    The day of death itself is allowed (a visit, value or treatment on that day happened)."""
    if day is None or died is None or day <= died:
        return None
    return tr("{what} {day} is after the recorded death on {death}: nothing can be recorded after a death; "
              "check the date (or the date of death)").format(what=what, day=local_format.day(day), death=local_format.day(died))


def death_before(died: date, what: str, day: date) -> str:
    """The sentence refusing a death dated before something already recorded."""
    return tr("death on {death} is before {what} on {day}: a death must be the last entry; correct that "
              "record or the date of death first").format(death=local_format.day(died), what=what, day=local_format.day(day))


def second_death(died: date, other: date) -> str:
    return tr("a death is already recorded on {other}: a second death on {death} cannot be").format(
        other=local_format.day(other), death=local_format.day(died))


def records_after(patient: PatientRecord, died: date) -> tuple[str, date] | None:
    """The earliest record of `patient` dated after `died` (what, date), or None."""
    later: list[tuple[date, str]] = [(v.date, tr("the visit")) for v in patient.visits if v.date > died]
    for t in patient.treatments:
        for what, day in ((tr("the start of {regimen}"), t.start), (tr("the stop of {regimen}"), t.stop),
                          (tr("the engraftment of {regimen}"), t.engraftment_date)):
            if day is not None and day > died:
                later.append((day, what.format(regimen=regimen_label(t))))
    later.extend((e.date, tr("the event '{event}'").format(event=display_name(e.type))) for e in patient.events
                 if e.type != "death" and e.date > died)
    if not later:
        return None
    day, what = min(later)
    return what, day


def days(n: int) -> timedelta:
    return timedelta(days=n)


def fmt_number(value: float) -> str:
    """A measured value as a person writes it: 640, 16.8, 0.25 (no trailing zeros)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def shown_number(value: float) -> str:
    """`fmt_number` as a sentence on screen quotes it, with the language's decimal sign ("16,8" in
    French); for the arguments of translated sentences only, never for data or evidence."""
    return local_format.decimal_text(fmt_number(value))


def fmt_percent(fraction: float) -> str:
    return tr("{n} %").format(n=int(round(fraction * 100)))
