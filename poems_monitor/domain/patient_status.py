"""Where a patient stands, beside the criteria: one status, the date it holds from, and why.

Owns the derivation of `suspected | active | responding | remission | relapse | lost_to_follow_up
| transferred | deceased` from the record, the diagnostic criteria and the response per line
(domain/response.py). The first rule that applies wins, in this order:

1. deceased: a death event.
2. transferred: a `transferred` event with no visit after it (care continues elsewhere).
3. lost_to_follow_up: no visit for longer than `response_lost_to_followup_months` (DEFAULT).
4. relapse: a relapse or progression event after the start of the latest line of therapy, or a
   progression category (VEGF, haematologic, radiologic) at the latest values of the latest line.
5. responding: a line is running and the latest line shows a response in any domain
   (VEGF or haematologic complete/partial, neurologic improved, radiologic complete).
6. remission: no line is running and the latest line showed such a response (since the later of
   the line's end and the first response).
7. active: the criteria are fulfilled (or a line of therapy was given) and none of the above:
   untreated, on a line without a documented response yet, or off therapy without one. A
   response that cannot be evaluated is never taken for a remission.
8. suspected: the criteria are not yet met and no line was given: follow closely.

These are clinic conventions (DEFAULT), not published definitions: a physician should review them.
Pure: no Qt, no SQL, no file or clock access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from poems_monitor.domain.catalogue import display_name
from poems_monitor.domain.course import active_on, add_months, clip, death_date, lines_of_therapy, regimen_label
from poems_monitor.domain.criteria import CriteriaAssessment, criteria_from_history
from poems_monitor.domain.derived import feature_history
from poems_monitor.domain.protocol import Protocol
from poems_monitor.domain.response import DOMAIN_NAMES, LineResponse, assess_response
from poems_monitor.domain.timeline import PatientRecord
from poems_monitor import local_format
from poems_monitor.i18n import tr

STATUSES = ("suspected", "active", "responding", "remission", "relapse", "lost_to_follow_up", "transferred", "deceased")
STATUS_NAMES = {
    "suspected": tr("Suspected"), "active": tr("Active"), "responding": tr("Responding"), "remission": tr("Remission"),
    "relapse": tr("Relapse"), "lost_to_follow_up": tr("Lost to follow-up"), "transferred": tr("Transferred"),
    "deceased": tr("Deceased"),
}
# Statuses that ask the clinic to act or to look closer (the screens colour them).
ATTENTION = frozenset({"suspected", "relapse", "lost_to_follow_up"})


@dataclass(frozen=True)
class PatientStatusAssessment:
    status: str
    since: date | None  # the date the status holds from (event, last visit, first response, ...)
    explanation: str  # why, with the values and dates behind it
    rule: str
    evidence: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def name(self) -> str:
        return STATUS_NAMES.get(self.status, self.status)

    @property
    def headline(self) -> str:
        """'Remission since 2024-03-01' (what the header shows)."""
        if self.since is None:
            return self.name
        return tr("{status} since {date}").format(status=self.name, date=local_format.day(self.since))

    def to_json(self) -> dict:
        return {"status": self.status, "since": self.since.isoformat() if self.since else None,
                "explanation": self.explanation, "rule": self.rule, "evidence": self.evidence}


def _responses(line: LineResponse) -> list:
    return [d for d in line.domains if d.responding]


def _domain_list(domains) -> str:  # noqa: ANN001
    return ", ".join(tr("{domain} {category} ({date})").format(
        domain=DOMAIN_NAMES[d.domain], category=d.category_name.lower(), date=local_format.day(d.since) if d.since else "?")
        for d in domains)


def patient_status(patient: PatientRecord, protocol: Protocol, as_of: date,
                   criteria: CriteriaAssessment | None = None,
                   response: tuple[LineResponse, ...] | None = None) -> PatientStatusAssessment:
    """The status of `patient` as of `as_of`. `criteria` and `response` may be passed when the
    caller has them already (the dashboard); otherwise they are computed here."""
    record = clip(patient, as_of)
    if criteria is None:
        criteria = criteria_from_history(feature_history(record, protocol))
    if response is None:
        response = assess_response(record, protocol, as_of)

    died = death_date(record)
    if died is not None:
        return PatientStatusAssessment("deceased", died, tr("Death recorded on {d}.").format(d=local_format.day(died)),
                                       tr("deceased: a death event"), {"death": died.isoformat()})

    last_visit = record.visits[-1].date if record.visits else None
    transfers = [e for e in record.events if e.type == "transferred"]
    if transfers and (last_visit is None or transfers[-1].date >= last_visit):
        t = transfers[-1]
        note = f" ({t.note})" if t.note else ""
        return PatientStatusAssessment(
            "transferred", t.date,
            tr("Care transferred on {d}{note}; no visit here since.").format(d=local_format.day(t.date), note=note),
            tr("transferred: a transfer event with no later visit"), {"transferred": t.date.isoformat()})

    months = protocol.response_lost_to_followup_months
    if last_visit is not None and add_months(last_visit, months) < as_of:
        return PatientStatusAssessment(
            "lost_to_follow_up", last_visit,
            tr("No visit since {d}: more than {n} months ({cite}).").format(
                d=local_format.day(last_visit), n=months, cite=protocol.cite("response_lost_to_followup_months")),
            tr("lost to follow-up: no visit for more than {n} months (DEFAULT)").format(n=months),
            {"last_visit": last_visit.isoformat(), "months": months})

    lines = lines_of_therapy(record)
    latest_line = lines[-1] if lines else None
    latest = response[-1] if response else None
    # A relapse on the day a line starts is the reason for that line: the line governs.
    relapses = [e for e in record.events if e.type in ("relapse", "progression")
                and (latest_line is None or e.date > latest_line.start)]
    if relapses:
        e = relapses[-1]
        return PatientStatusAssessment(
            "relapse", e.date,
            (tr("{event} recorded on {d} after {regimen} started {start}.").format(
                event=display_name(e.type), d=local_format.day(e.date), regimen=regimen_label(latest_line),
                start=local_format.day(latest_line.start)) if latest_line else
             tr("{event} recorded on {d}.").format(event=display_name(e.type), d=local_format.day(e.date))),
            tr("relapse: a relapse or progression event after the latest line of therapy started"),
            {"event": e.type, "date": e.date.isoformat()})
    if latest is not None:
        progressing = [d for d in latest.domains if d.progressing]
        if progressing:
            first = min(d.since for d in progressing if d.since) if any(d.since for d in progressing) else None
            return PatientStatusAssessment(
                "relapse", first,
                tr("Progression in the latest line ({regimen}, from {start}): {domains}.").format(
                    regimen=regimen_label(latest_line), start=local_format.day(latest.start), domains=_domain_list(progressing)),
                tr("relapse: a progression category in the response to the latest line"),
                {"domains": [d.domain for d in progressing], "line_start": latest.start.isoformat()})

    running = [t for t in lines if active_on(t, as_of)]
    if latest is not None:
        responding = _responses(latest)
        if responding:
            first = min((d.since for d in responding if d.since), default=None)
            if running:
                return PatientStatusAssessment(
                    "responding", first,
                    tr("On {regimen} since {start}; response: {domains}.").format(
                        regimen=regimen_label(running[-1]), start=local_format.day(running[-1].start),
                        domains=_domain_list(responding)),
                    tr("responding: on a line of therapy with a response in at least one domain"),
                    {"domains": [d.domain for d in responding], "line_start": latest.start.isoformat()})
            end = latest_line.stop or latest_line.start
            return PatientStatusAssessment(
                "remission", max(end, first) if first else end,  # off therapy and responding since
                tr("Off therapy since {end} ({regimen}); response: {domains}; no relapse or progression since.").format(
                    end=local_format.day(end), regimen=regimen_label(latest_line), domains=_domain_list(responding)),
                tr("remission: no line running, the latest line showed a response, no progression (DEFAULT)"),
                {"domains": [d.domain for d in responding], "line_start": latest.start.isoformat(),
                 "off_therapy_since": end.isoformat()})

    fulfilled = criteria.fulfilled_on
    if fulfilled is None and latest_line is None:
        return PatientStatusAssessment(
            "suspected", record.visits[0].date if record.visits else None,
            tr("Diagnostic criteria not yet met in the record: follow closely."),
            tr("suspected: criteria not fulfilled and no line of therapy given"), {})
    if latest_line is None:
        text = tr("Criteria fulfilled since {d}; no line of therapy recorded.").format(d=local_format.day(fulfilled))
        since = fulfilled
    elif running:
        text = tr("On {regimen} since {start}; no response documented yet.").format(
            regimen=regimen_label(running[-1]), start=local_format.day(running[-1].start))
        since = running[-1].start
    else:
        end = latest_line.stop or latest_line.start
        text = tr("Off therapy since {end} ({regimen}) without a documented response: not assumed to be in remission.").format(
            end=local_format.day(end), regimen=regimen_label(latest_line))
        since = fulfilled or latest_line.start
    if fulfilled is None:
        text += " " + tr("Criteria are not fulfilled in the record.")
    return PatientStatusAssessment("active", since, text,
                                   tr("active: diagnosed or treated, without a documented response"),
                                   {"criteria_fulfilled": fulfilled.isoformat() if fulfilled else None})
