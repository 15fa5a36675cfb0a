"""Log files: in the user's log folder, rotated, and free of patient identifiers.

Owns the logging configuration and the scrubbing of text that leaves the record for a log file or
stderr. The code logs events with internal ids and counts only; because a log file is copied
around far more casually than the database, everything that reaches the file is scrubbed anyway:
the message, and the text of every exception in a traceback (database errors quote the SQL, its
parameters, and on PostgreSQL the offending row or key, i.e. names, MRNs and birth dates).
`scrub()` hides quoted text, SQL parameters, PostgreSQL DETAIL lines and "Failing row" tuples,
parenthesised key values, dates, and MRN-shaped tokens; traceback frames (file, line, code) are
kept, so the log still says where a failure happened. Files rotate at 2 MB, five kept.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import traceback
from pathlib import Path

from poems_monitor.config import app_paths

_configured = False
_HIDDEN = "[redacted]"
_SCRUBBERS = (
    # a database URL's password (postgresql+psycopg://login:PASSWORD@host): never in a log
    (re.compile(r"(://[^:/@\s]*:)[^@\s]+@"), r"\1***@"),
    # SQLAlchemy appends the statement's parameters and SQL: the parameters are the patient's data
    (re.compile(r"\[parameters: .*?\](?=\s*(\(Background|\[SQL|$))", re.S), "[parameters redacted]"),
    (re.compile(r"\[SQL: .*?\](?=\s*(\[parameters|\(Background|$))", re.S), "[SQL redacted]"),
    # PostgreSQL: "DETAIL:  Key (mrn)=(H-1) already exists." / "Failing row contains (...)."
    (re.compile(r"DETAIL:.*", re.M), "DETAIL: [redacted]"),
    (re.compile(r"Failing row contains \(.*?\)\.?", re.S), "Failing row contains [redacted]."),
    (re.compile(r"=\([^)]*\)"), "=(" + _HIDDEN + ")"),
    # anything quoted: names, MRNs and values in messages and SQL literals
    (re.compile(r"'(?:[^'\\\n]|\\.)*'"), "'" + _HIDDEN + "'"),
    (re.compile(r'"(?:[^"\\\n]|\\.)*"'), '"' + _HIDDEN + '"'),
    # dates (a birth date is an identifier) and MRN-shaped tokens
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"), "[date]"),  # any digits
    (re.compile(r"\b(?:MRN[:= ]*\S+|[A-Za-z]{1,4}-?\d{3,}[\w-]*|\d{5,})\b"), _HIDDEN),
)


def scrub(text: str) -> str:
    """`text` without anything that could identify a patient (see the module docstring)."""
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


def scrubbed_exception(exc: BaseException) -> str:
    """The exception's type and scrubbed message, for one line on stderr."""
    message = scrub(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class RedactIdentifiers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = scrub(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class ScrubbingFormatter(logging.Formatter):
    """Tracebacks with their frames but with every exception's text scrubbed (chained ones too)."""

    def formatException(self, ei) -> str:  # noqa: ANN001, N802 (logging's name)
        lines = []
        for line in traceback.TracebackException(*ei).format():
            # frame lines start with two spaces ("  File ...", "    code"); the rest are messages
            lines.append(line if line.startswith("  ") else scrub(line))
        return "".join(lines).rstrip("\n")

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return stack_info  # frames only: source code, no data


def configure_logging(level: int = logging.INFO) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger("poems_monitor")
    root.setLevel(level)
    try:
        folder = app_paths().logs
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            folder / "poems-monitor.log", maxBytes=2_000_000, backupCount=5, encoding="utf-8"
        )
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactIdentifiers())
    root.addHandler(handler)


def log_file() -> Path | None:
    """The file the log is written to (its current, unrotated name), or None when the log folder
    could not be written (then nothing is logged to a file)."""
    for handler in logging.getLogger("poems_monitor").handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            return Path(handler.baseFilename)
    return None


def flush() -> None:
    """Write out what the handlers hold: a crash report must be in the file before the person is
    told to look there (or before the process ends)."""
    for handler in logging.getLogger("poems_monitor").handlers:
        handler.flush()
