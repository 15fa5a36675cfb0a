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


# --- every error path: the log file and stderr are grepped for the patient's identifiers -------------

SECRETS = ("H-000123", "Jane Example", "Example", "1971-04-02")
POSTGRES_ERRORS = [
    # psycopg's text as SQLAlchemy wraps it: the key, the failing row, the statement and its parameters
    '(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "ix_patient_mrn"\n'
    "DETAIL:  Key (mrn)=(H-000123) already exists.\n"
    "[SQL: INSERT INTO patient (mrn, name, sex, birth_date) VALUES (%(mrn)s, %(name)s, %(sex)s, %(birth_date)s)]\n"
    "[parameters: {'mrn': 'H-000123', 'name': 'Jane Example', 'sex': 'female', 'birth_date': datetime.date(1971, 4, 2)}]\n"
    "(Background on this error at: https://sqlalche.me/e/21/gkpj)",
    '(psycopg.errors.NotNullViolation) null value in column "created_by" of relation "patient" violates not-null '
    "constraint\nDETAIL:  Failing row contains (7, H-000123, Jane Example, female, 1971-04-02, null, null).",
    "(psycopg.errors.CheckViolation) new row for relation \"patient\" violates check constraint\n"
    "DETAIL:  Failing row contains (7, h000123, Jane Example, female, 1971-04-02).",
    "invalid input syntax for type date: \"02/04/1971\" LINE 1: ... WHERE name = 'Jane Example'",
    "(sqlite3.IntegrityError) no\n[SQL: INSERT INTO patient (mrn, name) VALUES (?, ?)]\n"
    "[parameters: ('H-000123', 'Jane Example')]",
]


@pytest.mark.parametrize("error", POSTGRES_ERRORS)
def test_database_error_text_is_scrubbed_for_stderr_and_logs(error):
    from poems_monitor.logging_setup import scrub, scrubbed_exception

    for text in (scrub(error), scrubbed_exception(RuntimeError(error))):
        assert not [s for s in SECRETS if s in text], text
        assert "1971" not in text and "000123" not in text
    assert scrubbed_exception(RuntimeError(error)).startswith("RuntimeError: ")


def test_a_traceback_in_the_log_keeps_its_frames_and_loses_the_data(_isolated_home, monkeypatch):
    from poems_monitor.config import app_paths

    monkeypatch.setattr(logging_setup, "_configured", False)
    root = logging.getLogger("poems_monitor")
    handlers_before = list(root.handlers)
    try:
        logging_setup.configure_logging()
        mrn = SECRETS[0]  # not in the source line the traceback quotes: code holds no patient data
        try:
            try:
                raise KeyError(mrn)
            except KeyError as inner:
                raise RuntimeError(POSTGRES_ERRORS[0]) from inner
        except RuntimeError:
            # a free-text name in a message cannot be recognised (the code never logs one); MRNs and dates are
            logging.getLogger("poems_monitor.cli").exception("command failed for %s born %s", mrn, SECRETS[3])
        for handler in root.handlers:
            handler.flush()
        text = (app_paths().logs / "poems-monitor.log").read_text(encoding="utf-8")
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers_before:
                root.removeHandler(handler)
                handler.close()
    assert "Traceback" in text and "test_log_privacy.py" in text and "RuntimeError" in text and "KeyError" in text
    assert not [s for s in SECRETS if s in text], text
