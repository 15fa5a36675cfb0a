"""An unexpected error (a defect, not a person's mistake): logged once with its traceback under a
short error id, and described to the person without its text.

The exception's message may quote the record (a database error quotes the SQL parameters, a
`KeyError` its key, which may be an MRN), so what a person sees, in the desktop app's dialog or
on stderr, is only the exception's type, the error id and the log file's path; the traceback goes
to the log file, scrubbed like every line there (`logging_setup`). The error id is in both, so
the line a support person needs is found at once. Qt-free: the command line and the desktop app
share it (the dialog is `ui/error_dialog.py`).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from poems_monitor.i18n import tr

log = logging.getLogger("poems_monitor.incident")

EXIT_UNEXPECTED = 4  # the command line's exit code for an unexpected error (INTERFACES.md section 1, amended)

# Consonants without M: an id never spells a word, and never looks like an MRN to the log's scrubber
# (letters then digits, or "MRN..."), so it survives in the log file exactly as the person reads it.
_ID_LETTERS = "BCDFGHJKLNPQRSTVWXZ"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


@dataclass(frozen=True)
class Incident:
    error_id: str  # "KXQD-TBRP": in the log line and in what the person sees
    kind: str  # the exception's type ("KeyError"): never its message
    log_file: Path | None  # None when the log folder could not be written


def new_error_id() -> str:
    letters = "".join(secrets.choice(_ID_LETTERS) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def record_unexpected(exc_info: ExcInfo | None, where: str, what: str = "") -> Incident:
    """Log the error (traceback, scrubbed) under a new error id and say where the log is.
    `where`: which part of the program ("command import", "desktop app"); `what`: a description
    when there is no exception (a fatal Qt message), scrubbed like every log line."""
    from poems_monitor.logging_setup import configure_logging, flush, log_file

    configure_logging()
    error_id = new_error_id()
    kind = exc_info[0].__name__ if exc_info is not None else "QtFatal"
    log.error("unexpected error [%s] in %s: %s %s", error_id, where, kind, what, exc_info=exc_info)
    flush()
    return Incident(error_id, kind, log_file())


def one_sentence(incident: Incident, still_running: bool = False) -> str:
    """The whole report on stderr: one sentence, no traceback, no patient data. `still_running`:
    the desktop app goes on after the error (its dialog says the rest)."""
    if still_running:
        return tr("poems-monitor met an unexpected error ({kind}, error id {id}); the details are in "
                  "{file}.").format(kind=incident.kind, id=incident.error_id, file=incident.log_file or "-")
    if incident.log_file is None:
        return tr("poems-monitor stopped on an unexpected error ({kind}, error id {id}); no log file could be "
                  "written.").format(kind=incident.kind, id=incident.error_id)
    return tr("poems-monitor stopped on an unexpected error ({kind}, error id {id}); the details are in "
              "{file}.").format(kind=incident.kind, id=incident.error_id, file=incident.log_file)
