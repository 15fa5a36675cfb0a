"""What a write changed: the patients whose record it touched and the clinic-wide kinds of data.

Every write service returns a `Changes` (or carries one as `changes` on the result it already
returned), so the desktop's screens can reload what a save concerns and nothing else
(`ui.changes.ChangeBus` publishes them), and so a shared server can later announce the same
value to other workstations (`to_payload`/`from_payload`, small enough for a PostgreSQL NOTIFY).
Modelled on Anki's `OpChanges` (operations return what they changed, the UI decides what to
redraw); pure, no Qt.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace

from poems_monitor.domain.input_rules import mrn_key

# NOTIFY payloads are limited to 8000 bytes: a write naming more patients than this announces
# "any patient" instead of the list (subscribers then reload as after an import).
MAX_NAMED_PATIENTS = 200


@dataclass(frozen=True)
class Changes:
    """What one write (or several, merged with `|`) changed. Empty: nothing did.

    - `patients`: MRNs (as stored) whose record changed: visits, values, treatments, events,
      identity, flag acknowledgements, waivers.
    - `all_patients`: any patient's record may have changed (a restore, a large import).
    - `patient_list`: the rows of the patient list (a patient added, an MRN or name corrected).
    - `visit_reviews`: the physicians' list of visits waiting for sign-off.
    - `protocol`: the clinic protocol, hence every patient's flags and follow-up schedule.
    - `accounts`: user accounts (added, role, password, active).
    """

    patients: frozenset[str] = field(default_factory=frozenset)
    all_patients: bool = False
    patient_list: bool = False
    visit_reviews: bool = False
    protocol: bool = False
    accounts: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.patients, frozenset):  # accept any iterable of MRNs, keep it hashable
            object.__setattr__(self, "patients", frozenset(self.patients))

    @classmethod
    def of_patient(cls, mrn: str, **kinds: bool) -> Changes:
        return cls(patients=frozenset([mrn]), **kinds)

    @classmethod
    def of_patients(cls, mrns: Iterable[str], **kinds: bool) -> Changes:
        return cls(patients=frozenset(mrns), **kinds)

    @classmethod
    def everything(cls) -> Changes:
        """The whole record may differ (a restore, a database reopened): every screen reloads."""
        return cls(all_patients=True, patient_list=True, visit_reviews=True, protocol=True, accounts=True)

    def merge(self, other: Changes) -> Changes:
        """Both writes' changes (several writes in one user action, or one event-loop turn)."""
        return Changes(
            self.patients | other.patients, all_patients=self.all_patients or other.all_patients,
            patient_list=self.patient_list or other.patient_list, visit_reviews=self.visit_reviews or other.visit_reviews,
            protocol=self.protocol or other.protocol, accounts=self.accounts or other.accounts)

    __or__ = merge

    def __bool__(self) -> bool:
        return bool(self.patients) or any(getattr(self, f.name) for f in fields(self) if f.name != "patients")

    def patient_changed(self, mrn: str | None) -> bool:
        """Did the record of `mrn` (may) change? MRNs compare as the record does (h-000123 is
        H-000123). None (no patient): never."""
        if mrn is None:
            return False
        return self.all_patients or mrn in self.patients or mrn_key(mrn) in {mrn_key(m) for m in self.patients}

    @property
    def any_patient(self) -> bool:
        """Did some patient's record change (which one does not matter to the caller)?"""
        return self.all_patients or bool(self.patients)

    @property
    def rules_inputs(self) -> bool:
        """Did anything change that flags and follow-up are computed from, for some patient?"""
        return self.any_patient or self.protocol

    def to_payload(self) -> str:
        """A short JSON text for another workstation (a NOTIFY payload); too many MRNs become
        `all_patients`."""
        named = sorted(self.patients)
        changes = self if len(named) <= MAX_NAMED_PATIENTS else replace(self, patients=frozenset(), all_patients=True)
        data: dict[str, object] = {"patients": sorted(changes.patients)} if changes.patients else {}
        data.update({f.name: True for f in fields(changes) if f.name != "patients" and getattr(changes, f.name)})
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_payload(cls, text: str) -> Changes:
        """The `Changes` another workstation announced; anything unreadable means "everything"
        (reloading too much is safe, missing a change is not)."""
        try:
            data = json.loads(text)
        except ValueError:
            return cls.everything()
        kinds = {f.name for f in fields(cls)} - {"patients"}
        if not isinstance(data, dict) or set(data) - kinds - {"patients"}:
            return cls.everything()
        mrns = data.get("patients", [])
        if not isinstance(mrns, list) or not all(isinstance(m, str) for m in mrns):
            return cls.everything()
        return cls(frozenset(mrns), **{k: bool(v) for k, v in data.items() if k in kinds})


def changes_of(result: object) -> Changes:
    """What a write service's result says it changed: the result itself when it is a `Changes`,
    else its `changes` attribute (nothing when it has none)."""
    if isinstance(result, Changes):
        return result
    changes = getattr(result, "changes", None)
    return changes if isinstance(changes, Changes) else NO_CHANGES


NO_CHANGES = Changes()
ACCOUNTS_CHANGED = Changes(accounts=True)


class NumberWithChanges(int):
    """The int a write service has always returned (a new row's id, a new version), which also
    says what the write changed (`.changes`). Callers that use the number see an int."""

    changes: Changes

    def __new__(cls, value: int, changes: Changes) -> NumberWithChanges:
        number = super().__new__(cls, value)
        number.changes = changes
        return number

    def __getnewargs__(self) -> tuple[int, Changes]:  # type: ignore[override]  # (copy and pickle keep both)
        return int(self), self.changes
