"""Log files carry no patient identifiers: a message that slips an MRN in is redacted before it
reaches the file, and the file is in the user's log folder."""

from __future__ import annotations

import logging

import pytest

from poems_monitor import logging_setup
from poems_monitor.logging_setup import RedactIdentifiers


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("poems_monitor.test", logging.INFO, __file__, 1, msg, args, None)


@pytest.mark.parametrize("message, args, secret", [
    ("imported patient H-000123 with 4 visits", (), "H-000123"),
    ("import of %s failed", ("ABC-98765",), "ABC-98765"),
    ("lookup MRN: 0012345 refused", (), "0012345"),
    ("patient mrn=K-1234 opened", (), "K-1234"),
])
def test_a_log_line_with_an_mrn_is_redacted(message, args, secret):
    record = _record(message, *args)
    assert RedactIdentifiers().filter(record) is True  # the line is kept, only blanked
    assert secret not in record.getMessage()
    assert "[redacted]" in record.getMessage()


def test_a_line_without_identifiers_is_left_alone():
    record = _record("visit %d saved with %d values", 12, 7)
    RedactIdentifiers().filter(record)
    assert record.getMessage() == "visit 12 saved with 7 values"


def test_the_log_file_in_the_user_log_folder_never_holds_the_mrn(_isolated_home, monkeypatch):
    from poems_monitor.config import app_paths

    monkeypatch.setattr(logging_setup, "_configured", False)
    root = logging.getLogger("poems_monitor")
    handlers_before = list(root.handlers)
    try:
        logging_setup.configure_logging()
        logging.getLogger("poems_monitor.services.timeline_io").warning("conflict for patient %s at visit %s",
                                                                        "H-000123", "2021-05-02")
        for handler in root.handlers:
            handler.flush()
        log_file = app_paths().logs / "poems-monitor.log"
        assert log_file.parent == _isolated_home / "logs"
        text = log_file.read_text(encoding="utf-8")
        assert "conflict for patient" in text and "H-000123" not in text
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers_before:
                root.removeHandler(handler)
                handler.close()
