"""The clinic worklist's rows, without Qt: their shape (`WorklistRow`) and how they are loaded
from the services (`load_worklist`). Kept free of Qt so that the worker process that computes a
large clinic's worklist (`ui.worker_process`) imports only the services, not the widgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from poems_monitor.domain.catalogue import FLAG_KIND_NAMES, FOLLOWUP_ITEM_NAMES, SEVERITY_RANK
from poems_monitor.domain.flags import Flag
from poems_monitor.domain.followup import WorklistItem
from poems_monitor.services.clinic_database import Database
from poems_monitor.services.patients import list_patients
from poems_monitor.services.worklist import build_worklist, unacknowledged_flags

FLAG = "flag"  # the status of a flag row
STATUS_ORDER = ("overdue", "never_done", "due", "due_soon", FLAG)
ITEM_NAMES = FOLLOWUP_ITEM_NAMES
FLAG_NAMES = FLAG_KIND_NAMES  # one list, in the catalogue
_SEVERITY_RANK = SEVERITY_RANK


@dataclass(frozen=True)
class WorklistRow:
    kind: str  # "followup" | "flag"
    mrn: str
    name: str
    item: str  # follow-up item code or flag kind
    status: str  # overdue | never_done | due | due_soon | flag
    due: date | None  # the due date; for a flag, the date it became true
    last_done: date | None
    detail: str  # why it is due / the flag's explanation
    severity: str = ""  # flags only
    flag_id: str = ""  # flags only

    @property
    def item_text(self) -> str:
        if self.kind == FLAG:
            return FLAG_NAMES.get(self.item, self.item.replace("_", " "))
        return ITEM_NAMES.get(self.item, self.item.replace("_", " "))

    @property
    def where(self) -> str:
        """Where the patient should open: the follow-up item or the flag (see WorklistView)."""
        return f"flag:{self.flag_id}" if self.kind == FLAG else f"followup:{self.item}"

    @property
    def status_rank(self) -> int:
        rank = STATUS_ORDER.index(self.status) if self.status in STATUS_ORDER else 9
        return rank * 10 + _SEVERITY_RANK.get(self.severity, 0)


@dataclass(frozen=True)
class WorklistData:
    as_of: date
    rows: tuple[WorklistRow, ...]


def row_from_item(item: WorklistItem) -> WorklistRow:
    return WorklistRow("followup", item.mrn, item.name, item.item, item.status.value if item.status else "",
                       item.due, item.last_done, item.reason)


def row_from_flag(flag: Flag, name: str) -> WorklistRow:
    return WorklistRow(FLAG, flag.mrn, name, flag.kind.value, FLAG, flag.date, None, flag.message,
                       flag.severity.value, flag.flag_id)


def load_worklist(db: Database, as_of: date) -> WorklistData:
    """Every due item and unacknowledged flag of the clinic. Runs off the GUI thread: services only."""
    worklist = build_worklist(db, as_of)
    rows = [row_from_item(i) for i in worklist.items if i.status is not None]
    flags = unacknowledged_flags(db, as_of)
    if flags:
        names = {p.mrn: p.name for p in list_patients(db)}
        ordered = sorted(flags, key=lambda f: (_SEVERITY_RANK.get(f.severity.value, 9), -f.date.toordinal(), f.mrn))
        rows.extend(row_from_flag(f, names.get(f.mrn, "")) for f in ordered)
    return WorklistData(as_of, tuple(rows))
