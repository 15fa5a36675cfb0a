"""The clinic protocol stored in the database: default until one is saved, validated with its
line, physician-only, reasoned, audited with the old and the new text; the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import select, update

from poems_monitor.domain.protocol import ProtocolError, default_protocol, default_protocol_text
from poems_monitor.models import AuditEntry, ClinicSetting
from poems_monitor.services.access import PermissionDenied
from poems_monitor.services.audit import verify_chain
from poems_monitor.services.errors import InputRefused
from poems_monitor.services.protocol_store import (
    PROTOCOL_SETTING_KEY, current_protocol, protocol_status, save_protocol,
)

SIX_MONTHLY_ECHO = default_protocol_text().replace("echo_normal_months = { value = 24,", "echo_normal_months = { value = 6,")


def cli(db_path, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "poems_monitor", *args, "--db", str(db_path)],
                          capture_output=True, text=True, input=stdin, timeout=120)


def test_the_shipped_default_applies_until_a_protocol_is_saved(db):
    status = protocol_status(db)
    assert not status.stored and status.problem is None
    assert current_protocol(db) == default_protocol()
    assert "shipped default" in status.sentence()


def test_saving_stores_audits_and_applies(db, physician):
    assert SIX_MONTHLY_ECHO != default_protocol_text()
    save_protocol(db, physician, SIX_MONTHLY_ECHO, "cardiology asks for 6-monthly echo")
    assert current_protocol(db).echo_normal_months == 6
    status = protocol_status(db)
    assert status.stored and status.updated_by == "dr-berg" and status.text == SIX_MONTHLY_ECHO
    with db.read() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.entity == "protocol")).scalars().one()
        assert verify_chain(session) == []
    assert entry.reason == "cardiology asks for 6-monthly echo" and entry.user == "dr-berg"
    assert json.loads(entry.old) == {"text": None, "default": True}
    assert json.loads(entry.new)["text"] == SIX_MONTHLY_ECHO
    # a second change keeps the first one as its old text
    save_protocol(db, physician, default_protocol_text(), "back to the defaults")
    with db.read() as session:
        last = session.execute(select(AuditEntry).where(AuditEntry.entity == "protocol").order_by(AuditEntry.id.desc())).scalars().first()
    assert json.loads(last.old)["text"] == SIX_MONTHLY_ECHO
    assert current_protocol(db) == default_protocol()


def test_an_invalid_protocol_is_refused_with_its_line_and_nothing_is_stored(db, physician):
    bad = default_protocol_text().replace("platelets_high = { value = 450,", "platelets_high = { value = -450,")
    line = next(i for i, text in enumerate(bad.splitlines(), 1) if text.startswith("platelets_high"))
    with pytest.raises(ProtocolError) as refused:
        save_protocol(db, physician, bad, "typo")
    assert refused.value.line == line and refused.value.key == "thresholds.platelets_high"
    assert f"line {line}" in str(refused.value)
    assert not protocol_status(db).stored


def test_only_a_physician_or_admin_with_a_reason_may_change_it(db, nurse, physician, admin):
    with pytest.raises(PermissionDenied):
        save_protocol(db, nurse, SIX_MONTHLY_ECHO, "I prefer it")
    with pytest.raises(InputRefused):
        save_protocol(db, physician, SIX_MONTHLY_ECHO, "   ")
    save_protocol(db, admin, SIX_MONTHLY_ECHO, "agreed at the clinic meeting")
    assert protocol_status(db).updated_by == "test-admin"


def test_a_damaged_stored_protocol_is_reported_and_the_default_applies(db, physician):
    save_protocol(db, physician, SIX_MONTHLY_ECHO, "six-monthly echo")
    with db.write() as session:  # e.g. written by a newer version with a key this one does not know
        session.execute(update(ClinicSetting.__table__).where(ClinicSetting.__table__.c.key == PROTOCOL_SETTING_KEY)
                        .values(value=SIX_MONTHLY_ECHO + "\n[future]\nx = 1\n"))
    status = protocol_status(db)
    assert status.problem and "future" in status.problem
    assert status.protocol == default_protocol()
    assert "cannot be used" in status.sentence()


def test_command_line_show_check_set(db, db_path, tmp_path):  # `db`: show only reads, it creates no database
    shown = cli(db_path, "protocol", "show")
    assert shown.returncode == 0, shown.stderr
    assert "echo_normal_months" in shown.stdout and "DEFAULT" in shown.stdout and "[WHO-PV]" in shown.stdout
    settings = json.loads(cli(db_path, "protocol", "show", "--json").stdout)["settings"]
    assert {s["key"]: s["clinic_default"] for s in settings}["hemoglobin_high_female"] is False

    good = tmp_path / "clinic.toml"
    good.write_text(SIX_MONTHLY_ECHO, encoding="utf-8")
    checked = cli(db_path, "protocol", "check", str(good))
    assert checked.returncode == 0 and "echo_normal_months: 24 -> 6" in checked.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text(SIX_MONTHLY_ECHO.replace("due_soon_days = { value = 30,", "due_soon_days = { value = \"thirty\","), encoding="utf-8")
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if text.startswith("due_soon_days"))
    refused = cli(db_path, "protocol", "check", str(bad))
    assert refused.returncode == 2 and f"line {line}" in refused.stderr and "due_soon_days" in refused.stderr
    assert "Traceback" not in refused.stderr
    refused = cli(db_path, "protocol", "set", str(bad), "--reason", "try")
    assert refused.returncode == 2 and "nothing was changed" in refused.stderr

    stored = cli(db_path, "protocol", "set", str(good), "--reason", "cardiology asks for 6-monthly echo")
    assert stored.returncode == 0, stored.stderr
    assert "1 setting changed" in stored.stdout
    assert cli(db_path, "protocol", "show", "--toml").stdout == SIX_MONTHLY_ECHO


@pytest.mark.parametrize(
    "key, bad, fragment",
    [
        ("pasp_rise_step = { value = 10,", "pasp_rise_step = { value = nan,", "must be a finite number, got nan"),
        ("vegf_serum_elevated = { value = 1040,", "vegf_serum_elevated = { value = inf,", "must be a finite number, got inf"),
        ("vegf_rise_fraction = { value = 0.50,", "vegf_rise_fraction = { value = 1e-320,", "subnormal"),
        ("echo_abnormal_months = { value = 6,", "echo_abnormal_months = { value = 0,", "impossible interval"),
        ("platelets_high = { value = 450,", "platelets_high = { value = 4500,", "outside the absolute limits of Platelets"),
    ],
)
def test_protocol_check_refuses_impossible_numbers_naming_line_and_key(tmp_path, key, bad, fragment):
    """Issue 9 "Bad input" / issue 11 item 5, through the command line: exit 2, one sentence."""
    text = default_protocol_text()
    assert key in text
    path = tmp_path / "clinic.toml"
    path.write_text(text.replace(key, bad), encoding="utf-8")
    setting = key.split(" = ")[0]
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith(setting + " ="))
    result = subprocess.run([sys.executable, "-m", "poems_monitor", "protocol", "check", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().startswith(f"{path}, line {line}: ") and setting in result.stderr
    assert fragment in result.stderr and "Traceback" not in result.stderr
