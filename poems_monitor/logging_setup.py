"""Log files: in the user's log folder, rotated, and free of patient identifiers.

Owns the logging configuration. The code logs events with internal ids and counts only; this
module adds a filter that blanks anything shaped like an MRN or a date of birth in case a
message slips one in, because a log file is copied around far more casually than the database.
"""

from __future__ import annotations

import logging
import logging.handlers
import re

from poems_monitor.config import app_paths

_configured = False
_IDENTIFIER = re.compile(r"\b(?:MRN[:= ]*\S+|[A-Z]{1,4}-\d{3,})\b")


class RedactIdentifiers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _IDENTIFIER.sub("[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


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
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactIdentifiers())
    root.addHandler(handler)
